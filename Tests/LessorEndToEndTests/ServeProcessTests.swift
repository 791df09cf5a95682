import Foundation
import HTTPTypes
import NIOCore
import RedisServerHarness
import LessorTestSupport
import Testing

/// The real `lessor` binary, as an operator runs it: settings from flags and variables,
/// `/readyz` following Redis, and SIGTERM ending it with status 0.
@Suite("lessor serve as a process", .timeLimit(.minutes(2)))
struct ServeProcessTests {
    /// The status of `GET path` on a loopback port, nil when nothing answered.
    func status(_ port: Int, _ path: String) async -> Int? {
        (try? await APIClient(port: port, token: nil).call(.get, path)).map { Int($0.status.code) }
    }

    @Test func servesFollowsRedisAndStopsCleanlyOnSIGTERM() async throws {
        try await withRedisServer { server in
            let port = try freeLoopbackPort()
            let log = server.directory.appendingPathComponent("lessor.log")
            // The URL comes from a flag, which must win over the variable's unreachable one.
            let lessor = try ChildProcess(
                [lessorBinary, "serve", "--redis-url", server.url],
                environment: ["LESSOR_PORT": String(port), "LESSOR_HOST": "127.0.0.1", "LESSOR_REDIS_URL": "redis://127.0.0.1:1"],
                output: log
            )
            defer { lessor.signal(SIGKILL); _ = lessor.exitStatus() }
            var ready: Int?
            for _ in 0..<200 where ready != 200 {
                ready = await status(port, "/readyz")
                if ready != 200 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(ready == 200, "log: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            #expect(await status(port, "/healthz") == 200)

            await server.stop()
            #expect(await status(port, "/readyz") == 503)
            try await server.restart()
            var recovered = false
            for _ in 0..<200 where !recovered {
                recovered = await status(port, "/readyz") == 200
                if !recovered { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(recovered, "readyz must turn 200 again once Redis is back")

            lessor.signal(SIGTERM)
            let exit = try await offCooperativePool { lessor.waitForExit(within: 15) }
            #expect(exit == 0)
        }
    }

    @Test func aBadSettingStopsStartUpWithItsName() async throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        let lessor = try ChildProcess([lessorBinary, "serve"], environment: ["LESSOR_DEFAULT_TTL_SECONDS": "ten"], output: output)
        let exit = try await offCooperativePool { lessor.waitForExit(within: 15) }
        #expect(exit == 64)
        let text = try String(contentsOf: output, encoding: .utf8)
        #expect(text.contains("LESSOR_DEFAULT_TTL_SECONDS (--default-ttl-seconds) must be a whole number"))
    }
}
