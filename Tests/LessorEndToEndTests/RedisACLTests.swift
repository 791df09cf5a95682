import Foundation
import HTTPTypes
import LessorCore
import LessorTestSupport
import RedisServerHarness
import Testing

/// Lessor as a least-privilege Redis user. Every other suite already runs as the harness's
/// `lessor` user, made of the rules `lessor redis-acl` prints; here: docs/operations.md shows that very
/// line, a user short of one permission stops `lessor serve` at start-up naming it, and
/// sentinels that require a password are asked with it.
@Suite("Least-privilege Redis user", .timeLimit(.minutes(2)))
struct RedisACLTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `lessor serve` on `settings` until it exits (at most `limit` seconds).
    /// - Returns: Its exit status (nil: still running, then killed) and output.
    func serve(_ settings: [String: String], within limit: TimeInterval = 15) async throws -> (Int32?, String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-acl-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = try ChildProcess(
            [lessorBinary, "serve"], environment: settings.merging(["LESSOR_PORT": String(try freeLoopbackPort()), "LESSOR_LOG_FORMAT": "text"]) { $1 },
            output: output)
        let status = try await offCooperativePool { process.waitForExit(within: limit) }
        if status == nil {
            process.signal(SIGKILL)
            _ = process.waitForExit(within: 5)
        }
        return (status, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    @Test func theOperationsGuideShowsTheLineLessorPrints() async throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-acl-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = try ChildProcess([lessorBinary, "redis-acl"], output: output)
        #expect(try await offCooperativePool { process.waitForExit(within: 20) } == 0)
        let line = try String(contentsOf: output, encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(line == "redis-cli " + RedisPermissions(namespace: "lessor").setUserLine())
        let guide = try String(contentsOf: Self.repository.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        #expect(guide.contains(line), "docs/operations.md must show `lessor redis-acl`'s line:\n\(line)")
    }

    /// One permission short, each of the kinds a user can lack: a command the functions run, a
    /// command the node sends itself, the wakeup channel pattern (whose denial Redis would only
    /// report to the subscriber), calling functions at all.
    @Test(arguments: [
        (["-zadd"], "ZADD lessor:"), (["-smembers"], "SMEMBERS lessor:"), (["resetchannels", "&lessor:*"], "PSUBSCRIBE lessor:*:wakeup"),
        (["-fcall"], "'fcall' command"),
    ])
    func aUserShortOfOnePermissionStopsStartUpNamingIt(_ rules: [String], _ named: String) async throws {
        try await withRedisServer { server in
            try await server.cli(["ACL", "SETUSER", RedisServerProcess.lessorUser.name] + rules)
            let started = ContinuousClock.now
            let (status, output) = try await serve(server.lessorSettings)
            #expect(status != nil && status != 0, "lessor serve kept running:\n\(output)")
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(output.contains("lacks permissions Lessor needs") && output.contains(named), "\(output)")
        }
    }

    @Test func oneClusterNodeShortOfAPermissionIsNamed() async throws {
        try await withRedisCluster { cluster in
            let node = cluster.nodes[2]
            try await node.cli("ACL", "SETUSER", RedisServerProcess.lessorUser.name, "-hset")
            let (status, output) = try await serve(cluster.lessorSettings)
            #expect(status != nil && status != 0, "\(output)")
            #expect(output.contains("127.0.0.1:\(node.port) lacks permissions") && output.contains("HSET lessor:"), "\(output)")
        }
    }

    @Test func wrongCredentialsStopStartUp() async throws {
        try await withRedisServer { server in
            let url = try #require(server.lessorSettings["LESSOR_REDIS_URL"]).replacingOccurrences(of: RedisServerProcess.lessorUser.password, with: "wrong")
            let (status, output) = try await serve(["LESSOR_REDIS_URL": url])
            #expect(status != nil && status != 0, "\(output)")
            #expect(output.contains("WRONGPASS"), "\(output)")
        }
        try await withRedisServer(["--requirepass", "s3cret"]) { server in
            let (status, output) = try await serve(["LESSOR_REDIS_URL": server.url])  // no password at all
            #expect(status != nil && status != 0, "\(output)")
            #expect(output.contains("NOAUTH"), "\(output)")
        }
    }

    @Test func sentinelsThatRequireAPasswordAreAskedWithIt() async throws {
        try await withRedisSentinels(sentinelPassword: "sentinel-secret") { group in
            // The sentinels refuse a client without it...
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-acl-\(UUID().uuidString).log")
            defer { try? FileManager.default.removeItem(at: output) }
            let anonymous = try ChildProcess(
                ["redis-cli", "-p", String(group.sentinels[0].port), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", RedisSentinelGroup.masterName],
                output: output)
            _ = try await offCooperativePool { anonymous.waitForExit(within: 10) }
            #expect(try String(contentsOf: output, encoding: .utf8).contains("NOAUTH"))
            // ...and a node given LESSOR_REDIS_SENTINEL_PASSWORD finds the primary and serves.
            try await withReplicas(1, on: group) { nodes in
                let client = nodes[0].client
                let created = try await client.call(.post, "/api/v1/cloud/environments", body: #"{"name":"s","config":{"type":"self_hosted"}}"#)
                #expect(created.status == .created)
            }
        }
    }
}
