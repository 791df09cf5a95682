import Foundation
import LessorTestSupport
import RedisServerHarness
import Testing

/// The README's "Your first lease in five minutes", run exactly as written against a live
/// `lessor serve`, as a newcomer would in the second terminal of `scripts/run.sh`.
@Suite("The README's walkthrough", .timeLimit(.minutes(2)))
struct WalkthroughTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shell block between the walkthrough markers.
    static func walkthrough() throws -> String {
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = try #require(readme.range(of: "<!-- walkthrough:begin -->\n```sh\n"))
        let end = try #require(readme.range(of: "```\n<!-- walkthrough:end -->", range: begin.upperBound..<readme.endIndex))
        return String(readme[begin.upperBound..<end.lowerBound])
    }

    @Test func aNewcomerGetsALeaseWatchesItAndSeesItRequeued() async throws {
        try await withRedisServer { server in
            try await withReplicas(1, on: server) { replicas in
                // What scripts/run.sh writes to .lessor/env, for this node and this Redis.
                let directory = server.directory.appendingPathComponent("walkthrough-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: directory.appendingPathComponent(".lessor"), withIntermediateDirectories: true)
                let binaries = URL(fileURLWithPath: lessorBinary).deletingLastPathComponent().path
                let env = """
                    export LESSOR_URL=http://127.0.0.1:\(replicas[0].port)
                    export LESSOR_REDIS_URL=\(server.lessorSettings["LESSOR_REDIS_URL"]!)
                    export LESSOR_ADMIN_TOKEN=\(testAdminToken)
                    export PATH="\(binaries):$PATH"

                    """
                try env.write(to: directory.appendingPathComponent(".lessor/env"), atomically: true, encoding: .utf8)
                let script = directory.appendingPathComponent("walkthrough.sh")
                try Self.walkthrough().write(to: script, atomically: true, encoding: .utf8)

                let output = directory.appendingPathComponent("walkthrough.out")
                let shell = try ChildProcess(["bash", "-c", "cd '\(directory.path)' && bash -euo pipefail walkthrough.sh"], output: output)
                let status = try await offCooperativePool { shell.waitForExit(within: 60) }
                let printed = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                #expect(status == 0, "\(printed)")

                let lines = printed.split(separator: "\n").map(String.init)
                // The ack: w1 holds the first lease.
                #expect(lines.contains { $0.contains(#""state":"starting","worker_id":"w1","fencing_token":1"#) }, "\(printed)")
                // The second heartbeat expected the first one's stamp and renewed the lease.
                #expect(lines.contains { $0.contains(#""lease_extended":true,"state":"active","ttl_seconds":10"#) }, "\(printed)")
                // PTTL: a 10-second lease, somewhat spent.
                let pttl = lines.compactMap { Int($0) }.first { $0 > 100 }
                #expect(pttl.map { $0 > 5_000 && $0 <= 10_000 } == true, "\(printed)")
                #expect(lines.contains("latest_heartbeat_at"), "HGETALL shows the hash")
                // After the lapse: delivered to w2, queued, one lapse; no live lease.
                #expect(lines.contains { $0.contains(#""state":"queued","lapse_count":1,"delivery_count":1"#) }, "\(printed)")
                #expect(lines.contains { $0.contains(#""state":"queued","worker_id":null,"lease_expires_at":null,"lapse_count":1"#) }, "\(printed)")
                // The status page, as the admin token's script reads it: w1's lapse, from the lapse log.
                let lapsed = try #require(lines.firstIndex { $0.contains(#""lease_expires_at":null,"lapse_count":1"#) })
                #expect(lines.dropFirst(lapsed + 1).first == #"data-holder="w1" data-fencing-token="1" data-outcome="requeued""#, "\(printed)")
                // lessor run: the command saw its item, and the item was completed.
                #expect(lines.contains { $0.hasPrefix("working on work_") && $0.hasSuffix(#" {"file":"report.csv"}, fencing token 1"#) }, "\(printed)")
                #expect(lines.last == #"{"state":"stopped","stop_reason":"completed","fencing_token":1}"#, "\(printed)")
            }
        }
    }
}
