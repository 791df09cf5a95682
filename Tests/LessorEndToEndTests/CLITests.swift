import Foundation
import LessorCore
import LessorRedis
import RedisServerHarness
import LessorTestSupport
import Testing

/// The SRE commands of the real `lessor` binary against a real redis-server.
@Suite("lessor SRE commands", .timeLimit(.minutes(2)))
struct CLITests {
    /// Runs `lessor <arguments>`; returns its exit status and output (stdout and stderr).
    func lessor(_ arguments: [String], _ server: any RedisDeployment) async throws -> (Int32?, String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-cli-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = try ChildProcess([lessorBinary] + arguments, environment: server.lessorSettings, output: output)
        let status = try await offCooperativePool { process.waitForExit(within: 20) }
        return (status, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// The value of a `key  value` line.
    func field(_ name: String, in output: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix(name + " ") }?.split(separator: " ", omittingEmptySubsequences: true).last.map(String.init)
    }

    @Test(arguments: RedisBackend.allCases) func environmentsTokensWorkersInspectAndExpire(_ backend: RedisBackend) async throws {
        try await withRedis(backend) { server in
            // A create prints the bare id (or secret), so ENV=$(lessor env create ...) works.
            var (status, output) = try await lessor(["env", "create", "--name", "byoc"], server)
            #expect(status == 0, "\(output)")
            let environment = output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(IdentifierKind.environment.isValid(environment), "\(output)")
            (status, output) = try await lessor(["env", "create", "--name", "byoc", "--output", "table"], server)
            #expect(field("id", in: output).map(IdentifierKind.environment.isValid) == true, "\(output)")

            (status, output) = try await lessor(["token", "create", "--name", "ci", "--env", environment, "--output", "json"], server)
            #expect(status == 0, "\(output)")
            let created = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            let tokenID = try #require(created["id"] as? String)
            #expect((created["token"] as? String)?.hasPrefix("lsr_pat_") == true)
            #expect(created["environment_ids"] as? [String] == [environment])
            #expect(created["expires_at"] is NSNull)
            #expect(output.hasPrefix(#"{"id":"#), "keys in a fixed order")
            (status, output) = try await lessor(["token", "create", "-q"], server)
            #expect(output.hasPrefix("lsr_pat_") && output.split(separator: "\n").count == 1, "\(output)")
            (status, output) = try await lessor(["token", "list"], server)
            #expect(output.contains(tokenID) && output.contains("active") && !output.contains("lsr_"))
            (_, output) = try await lessor(["token", "list", "--quiet"], server)
            #expect(output.split(separator: "\n").allSatisfy { $0.hasPrefix("tok_") } && output.contains(tokenID))
            (status, output) = try await lessor(["token", "revoke", "-q", tokenID], server)
            #expect(status == 0 && output.isEmpty, "\(output)")
            (_, output) = try await lessor(["token", "list", "--output", "json"], server)
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]], "\(output)")
            #expect(listed.first { $0["id"] as? String == tokenID }?["status"] as? String == "revoked")
            (status, output) = try await lessor(["token", "create", "--env", "env_00000000000000000000000000000000"], server)
            #expect(status == 1 && output.contains("no such environment"), "\(output)")
            (status, output) = try await lessor(["token", "create", "--expires-in-seconds", "0"], server)
            #expect(status == 64, "a usage error: \(output)")
            (status, output) = try await lessor(["token", "revoke", "tok_00000000000000000000000000000000"], server)
            #expect(status == 1 && output.contains("no such token"), "\(output)")

            (status, output) = try await lessor(["worker", "register", "--name", "laptop-7", "--output", "json"], server)
            #expect(status == 0)
            let worker = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            #expect((worker["id"] as? String).map(WorkerID.isValid) == true)
            (status, output) = try await lessor(["worker", "register", "--name", "laptop-8"], server)
            #expect(output.hasPrefix("lsr_wrk_"), "the secret, shown once: \(output)")

            let redis = try RedisClient(configuration: server.clientConfiguration)
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
            #expect(try await work.call(WorkPoll(environmentID: environment, workerID: "w2")).item?.id == item.id)
            (status, output) = try await lessor(["lease", "expire", environment, item.id], server)
            #expect(status == 1)
            #expect(output.contains("holds no lease"))
            (status, _) = try await lessor(["work", "inspect", environment, "work_00000000000000000000000000000000"], server)
            #expect(status == 1)
        }
    }

    /// An SRE can see the exact code Lessor loads and run any operation from redis-cli with
    /// the line `lessor scripts command` prints.
    @Test func scriptsShowTheLibraryAndPrintRunnableRedisCLICommands() async throws {
        try await withRedisServer { server in
            var (status, output) = try await lessor(["scripts", "show"], server)
            #expect(status == 0)
            #expect(output == LessorLibrary.embedded.source)
            (status, output) = try await lessor(["scripts", "load"], server)
            #expect(status == 0 && output.contains("lessor_v5"), "\(output)")
            (status, output) = try await lessor(["env", "create", "--name", "sre"], server)
            let environment = output.trimmingCharacters(in: .whitespacesAndNewlines)
            let work = IdentifierGenerator().next(.work)
            func run(_ arguments: [String]) async throws -> String {
                let (status, line) = try await lessor(["scripts", "command"] + arguments, server)
                #expect(status == 0, "\(line)")
                #expect(line.hasPrefix("redis-cli FCALL lessor_v5_"))
                // One output file per command: ChildProcess appends.
                let output = server.directory.appendingPathComponent("sre-\(UUID().uuidString).out")
                let shell = try ChildProcess(["bash", "-c", "redis-cli -p \(server.port) " + line.dropFirst("redis-cli ".count)], output: output)
                #expect(try await offCooperativePool { shell.waitForExit(within: 20) } == 0)
                return (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            }
            #expect(try await run(["work_enqueue", "--env", environment, "--work", work, "--", work, "session", "sess_1", "{}"]).hasPrefix("ok\n"))
            #expect(try await run(["work_ack", "--env", environment, "--work", work, "--", work, "sre", "60"]).hasPrefix("ok\n"))
            let beat = try await run(["work_heartbeat", "--env", environment, "--work", work, "--", work, "sre", "NO_HEARTBEAT", "60"])
            // A successful heartbeat answers one string of words.
            #expect(beat.hasPrefix("ok ") && beat.contains(" active 60 1"), "\(beat)")
            #expect(try await server.cli("HGET", "lessor:{\(environment)}:work:\(work)", "state") == "active")
            #expect(try await run(["environment_update", "--env", environment, "--", #"{"name":"renamed"}"#]).hasPrefix("ok\n"))
            #expect(try await run(["environment_archive", "--env", environment]).hasPrefix("ok\n"))
            #expect(try await server.cli("HGET", "lessor:{\(environment)}:env", "name") == "renamed")
            let refused = try await run(["environment_delete", "--env", environment, "--", "604800"])
            #expect(refused.hasPrefix("conflict\nlive_leases"), "\(refused)")
            (status, _) = try await lessor(["scripts", "command", "work_nonsense_op"], server)
            #expect(status != 0)
        }
    }

    @Test(arguments: [["--help"], ["env", "create", "--help"], ["token", "create", "--help"], ["token", "revoke", "--help"],
                      ["token", "list", "--help"], ["worker", "register", "--help"], ["work", "inspect", "--help"],
                      ["lease", "expire", "--help"], ["scripts", "show", "--help"], ["scripts", "command", "--help"], ["serve", "--help"], ["den-agent", "--help"], ["run", "--help"]])
    func everyCommandHasHelp(arguments: [String]) async throws {
        try await withRedisServer { server in
            let (status, output) = try await lessor(arguments, server)
            #expect(status == 0)
            #expect(output.contains("USAGE:"))
        }
    }
}
