import Foundation
import LessorCore
import LessorRedis
import RedisServerHarness
import Testing

/// The SRE commands of the real `lessor` binary against a real redis-server.
@Suite("lessor SRE commands", .timeLimit(.minutes(2)))
struct CLITests {
    /// Runs `lessor <arguments>`; returns its exit status and output (stdout and stderr).
    func lessor(_ arguments: [String], _ server: any RedisDeployment) async throws -> (Int32?, String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-cli-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = try ChildProcess([ServeProcessTests.binary] + arguments, environment: server.lessorSettings, output: output)
        let status = try await offCooperativePool { process.waitForExit(within: 20) }
        return (status, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// The value of a `key  value` line.
    func field(_ name: String, in output: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix(name + " ") }?.split(separator: " ", omittingEmptySubsequences: true).last.map(String.init)
    }

    @Test(arguments: RedisBackend.allCases) func environmentsTokensWorkersInspectAndExpire(_ backend: RedisBackend) async throws {
        try await withRedis(backend) { server in
            var (status, output) = try await lessor(["env", "create", "--name", "byoc"], server)
            #expect(status == 0, "\(output)")
            let environment = try #require(field("id", in: output))
            #expect(IdentifierKind.environment.isValid(environment))

            (status, output) = try await lessor(["token", "create", "--name", "ci", "--env", environment], server)
            #expect(status == 0, "\(output)")
            let tokenID = try #require(field("id", in: output))
            #expect(field("token", in: output)?.hasPrefix("lsr_") == true)
            (status, output) = try await lessor(["token", "list"], server)
            #expect(output.contains(tokenID) && output.contains("active") && !output.contains("lsr_"))
            (status, output) = try await lessor(["token", "revoke", tokenID], server)
            #expect(status == 0)
            (_, output) = try await lessor(["token", "list"], server)
            #expect(output.contains("revoked"))
            (status, output) = try await lessor(["token", "create", "--env", "env_00000000000000000000000000000000"], server)
            #expect(status != 0)

            (status, output) = try await lessor(["worker", "register", "--name", "laptop-7"], server)
            #expect(status == 0)
            #expect(field("id", in: output).map(WorkerID.isValid) == true)

            let redis = try RedisClient(configuration: try LessorConfiguration(server.lessorSettings).redis)
            defer { redis.shutDown() }
            let work = LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor"))
            let item = try await work.call(WorkEnqueue(environmentID: environment, workID: IdentifierGenerator().next(.work), sessionID: "sess_1"))
            _ = try await work.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w1", leaseTTL: .seconds(60)))

            (status, output) = try await lessor(["work", "inspect", environment, item.id], server)
            #expect(status == 0)
            #expect(field("state", in: output) == "starting")
            #expect(field("holder", in: output) == "w1")
            #expect(field("fencing_token", in: output) == "1")
            #expect((Int(field("lease_remaining_ms", in: output) ?? "") ?? 0) > 50_000)

            (status, output) = try await lessor(["lease", "expire", environment, item.id], server)
            #expect(status == 0, "\(output)")
            #expect(field("state", in: output) == "queued")
            #expect(try await server.cli("EXISTS", "lessor:{\(environment)}:lease:\(item.id)") == "0")
            #expect(try await work.call(WorkPoll(environmentID: environment, workerID: "w2"))?.id == item.id)
            (status, output) = try await lessor(["lease", "expire", environment, item.id], server)
            #expect(status == 1)
            #expect(output.contains("holds no lease"))
            (status, _) = try await lessor(["work", "inspect", environment, "work_00000000000000000000000000000000"], server)
            #expect(status == 1)
        }
    }

    @Test(arguments: [["--help"], ["env", "create", "--help"], ["token", "create", "--help"], ["token", "revoke", "--help"],
                      ["token", "list", "--help"], ["worker", "register", "--help"], ["work", "inspect", "--help"],
                      ["lease", "expire", "--help"], ["serve", "--help"]])
    func everyCommandHasHelp(arguments: [String]) async throws {
        try await withRedisServer { server in
            let (status, output) = try await lessor(arguments, server)
            #expect(status == 0)
            #expect(output.contains("USAGE:"))
        }
    }
}
