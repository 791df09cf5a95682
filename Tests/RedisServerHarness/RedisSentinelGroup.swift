import LessorRedis
import Foundation

/// A primary, one replica and three sentinels on free 127.0.0.1 ports: the smallest
/// deployment that survives the loss of its primary. Sentinels notice a dead primary after
/// ``downAfter`` and promote the replica.
public final class RedisSentinelGroup: Sendable {
    /// The name the sentinels monitor the primary under.
    public static let masterName = "lessor"
    /// How long a primary must be unreachable before the sentinels act.
    public static let downAfter: Duration = .seconds(1)

    /// The first primary (it may have been replaced since).
    public let primary: RedisServerProcess
    /// The first replica (it may have been promoted since).
    public let replica: RedisServerProcess
    /// The three sentinels.
    public let sentinels: [RedisServerProcess]

    /// The password the sentinels require, if any.
    public let sentinelPassword: String?

    private init(primary: RedisServerProcess, replica: RedisServerProcess, sentinels: [RedisServerProcess], sentinelPassword: String?) {
        self.primary = primary
        self.replica = replica
        self.sentinels = sentinels
        self.sentinelPassword = sentinelPassword
    }

    /// Starts the group and waits until every sentinel knows the replica and its peers.
    /// - Parameter sentinelPassword: When given, the sentinels require it of their clients
    ///   (`requirepass`) and of each other (`sentinel sentinel-pass`).
    public static func start(sentinelPassword: String? = nil) async throws -> RedisSentinelGroup {
        var started: [RedisServerProcess] = []
        do {
            let primary = try await RedisServerProcess.start()
            started.append(primary)
            let replica = try await RedisServerProcess.start(["--replicaof", "127.0.0.1", String(primary.port)])
            started.append(replica)
            let configuration = """
                sentinel monitor \(masterName) 127.0.0.1 \(primary.port) 2
                sentinel down-after-milliseconds \(masterName) \(Int(downAfter / .milliseconds(1)))
                sentinel failover-timeout \(masterName) 5000
                sentinel parallel-syncs \(masterName) 1
                \(sentinelPassword.map { "requirepass \($0)\nsentinel sentinel-pass \($0)" } ?? "")

                """
            var sentinels: [RedisServerProcess] = []
            for _ in 0..<3 {
                let sentinel = try await RedisServerProcess.start(["--sentinel"], configurationFile: configuration, cliPassword: sentinelPassword)
                started.append(sentinel)
                sentinels.append(sentinel)
            }
            let group = RedisSentinelGroup(primary: primary, replica: replica, sentinels: sentinels, sentinelPassword: sentinelPassword)
            try await group.waitUntil(within: .seconds(20), "the replica to sync and every sentinel to see it and its peers") {
                guard try await replica.cli("INFO", "replication").contains("master_link_status:up") else { return false }
                for sentinel in sentinels {
                    let replicas = try await sentinel.cli("SENTINEL", "REPLICAS", masterName)
                    let peers = try await sentinel.cli("SENTINEL", "SENTINELS", masterName)
                    // redis-cli prints one field per line: each peer is a "name" line and its value.
                    let peerCount = peers.split(separator: "\n").filter { $0 == "name" }.count
                    guard replicas.split(separator: "\n").contains(Substring(String(replica.port))), peerCount >= 2 else { return false }
                }
                return true
            }
            return group
        } catch {
            for server in started { await server.remove() }
            throw error
        }
    }

    /// The port of the primary the sentinels name now.
    public func primaryPort() async throws -> Int {
        for sentinel in sentinels {
            let reply = try await sentinel.cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self.masterName).split(separator: "\n")
            if reply.count == 2, let port = Int(reply[1]) { return port }
        }
        throw HarnessError("no sentinel names a primary")
    }

    /// Polls `condition` every 50 ms until it holds.
    public func waitUntil(within limit: Duration, _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("timed out after \(limit) waiting for \(what)")
    }

    /// Stops every server and removes its directory.
    public func remove() async {
        for server in sentinels + [replica, primary] { await server.remove() }
    }
}

extension RedisSentinelGroup: RedisDeployment {
    public var lessorSettings: [String: String] {
        [
            "LESSOR_REDIS_SENTINELS": sentinels.map { "127.0.0.1:\($0.port)" }.joined(separator: ","),
            "LESSOR_REDIS_MASTER_NAME": Self.masterName,
            // Only the credentials: the sentinels name the primary.
            "LESSOR_REDIS_URL": "redis://\(lessorUserInfo)127.0.0.1",
        ].merging(sentinelPassword.map { ["LESSOR_REDIS_SENTINEL_PASSWORD": $0] } ?? [:]) { first, _ in first }
    }

    public var clientConfiguration: RedisConfiguration {
        var configuration = RedisConfiguration().asLessor()
        configuration.topology = .sentinel(sentinels: sentinels.map { RedisEndpoint(host: "127.0.0.1", port: $0.port) }, masterName: Self.masterName)
        configuration.sentinelPassword = sentinelPassword
        return configuration
    }

    /// Runs `redis-cli` against the current primary.
    public func cli(_ arguments: [String]) async throws -> String {
        let port = try await primaryPort()
        guard let server = [primary, replica].first(where: { $0.port == port }) else { throw HarnessError("unknown primary \(port)") }
        return try await server.cli(arguments)
    }

    public func allKeys() async throws -> Set<String> {
        Set(try await cli("--scan").split(separator: "\n").map(String.init))
    }
}

/// Runs `body` with a fresh Sentinel group, removed afterwards.
public func withRedisSentinels<T>(sentinelPassword: String? = nil, _ body: (RedisSentinelGroup) async throws -> T) async throws -> T {
    try await using(try await RedisSentinelGroup.start(sentinelPassword: sentinelPassword), removedBy: { await $0.remove() }, body)
}
