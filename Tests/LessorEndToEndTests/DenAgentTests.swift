import Foundation
import HTTPTypes
import LessorTestSupport
import RedisServerHarness
import Testing

/// `lessor den-agent` as a host runs it: beats every interval with the worker's activity
/// token (from the environment, not the command line), `isActiveRecently` from the active
/// command's exit status, and exits 0 on SIGTERM.
@Suite("lessor den-agent against a live server", .timeLimit(.minutes(2)))
struct DenAgentTests {
    @Test func itBeatsWithTheCommandsVerdictAndStopsOnSIGTERM() async throws {
        try await withRedisServer { server in
            try await withReplicas(1, on: server) { replicas in
                let admin = replicas[0].client
                let created = try await admin.call(.post, "/v1/workers", body: #"{"name":"laptop-7"}"#)
                let worker = try #require(created["id"] as? String)
                let token = try #require((created["tokens"] as? [String: Any])?["activity"] as? String)
                let log = server.directory.appendingPathComponent("den-agent.log")
                let marker = server.directory.appendingPathComponent("active")
                let agent = try ChildProcess(
                    [lessorBinary, "den-agent", "--url", "http://127.0.0.1:\(replicas[0].port)", "--worker", worker, "--interval", "1",
                     "--active-command", "test -e '\(marker.path)'"],
                    environment: ["LESSOR_TOKEN": token], output: log)
                defer { agent.signal(SIGKILL); _ = agent.exitStatus() }

                func state() async throws -> [String: Any] { try await admin.call(.get, "/v1/workers/\(worker)").json }
                var seen = try await state()
                for _ in 0..<100 where seen["lastHeartbeatAt"] is NSNull || seen["lastHeartbeatAt"] == nil {
                    try await Task.sleep(for: .milliseconds(100))
                    seen = try await state()
                }
                #expect(seen["lastHeartbeatAt"] as? String != nil, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
                #expect(seen["isActiveRecently"] as? Bool == false, "the command failed: not active")
                #expect(seen["online"] as? Bool == true)
                #expect(seen["lastActiveAt"] is NSNull)

                // The command succeeds from now on: the next beats say active.
                #expect(FileManager.default.createFile(atPath: marker.path, contents: Data()))
                for _ in 0..<100 where seen["isActiveRecently"] as? Bool != true {
                    try await Task.sleep(for: .milliseconds(100))
                    seen = try await state()
                }
                #expect(seen["isActiveRecently"] as? Bool == true)
                #expect(seen["lastActiveAt"] as? String != nil)

                agent.signal(SIGTERM)
                let exit = try await offCooperativePool { agent.waitForExit(within: 10) }
                #expect(exit == 0)
                let text = try String(contentsOf: log, encoding: .utf8)
                #expect(text.contains("beat") && !text.contains(token), "the token is never logged")
            }
        }
    }
}
