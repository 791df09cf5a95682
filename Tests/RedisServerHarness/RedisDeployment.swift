import Foundation
import LessorRedis

/// The kinds of Redis the contract suites run against: the same test code, another fixture.
public enum RedisBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    /// One `redis-server`.
    case standalone
    /// A three-primary Redis Cluster.
    case cluster

    public var description: String { rawValue }
}

/// A running Redis of either backend, as a test sees it.
public protocol RedisDeployment: Sendable {
    /// The `LESSOR_REDIS_*` settings that point a front node at it.
    var lessorSettings: [String: String] { get }

    /// Runs `redis-cli` against it (on a cluster with `-c`, following redirections) and
    /// returns its standard output, trimmed.
    func cli(_ arguments: [String]) async throws -> String

    /// Every key, from every primary (`redis-cli --scan`).
    func allKeys() async throws -> Set<String>

    /// A client configuration that reaches it, named `lessor` in `CLIENT LIST` like a front
    /// node's, with Lessor's metric labels.
    var clientConfiguration: RedisConfiguration { get }
}

extension RedisConfiguration {
    /// As a front node names its connections and metrics, signed in as the harness's
    /// least-privilege ``RedisServerProcess/lessorUser``.
    func asLessor() -> RedisConfiguration {
        var configuration = self
        configuration.clientName = "lessor"
        configuration.metricsPrefix = "lessor_redis"
        (configuration.username, configuration.password) = RedisServerProcess.lessorUser
        return configuration
    }
}

/// `user:password@` of the harness's least-privilege user, for a Redis URL.
let lessorUserInfo = "\(RedisServerProcess.lessorUser.name):\(RedisServerProcess.lessorUser.password)@"

extension RedisDeployment {
    /// Runs `redis-cli` with these arguments.
    @discardableResult
    public func cli(_ arguments: String...) async throws -> String {
        try await cli(arguments)
    }
}

extension TestCertificates {
    /// The settings that make a front node a verified TLS client of servers these certified.
    var lessorSettings: [String: String] {
        ["LESSOR_REDIS_TLS_CA_FILE": caFile, "LESSOR_REDIS_TLS_CERT_FILE": clientCertificateFile, "LESSOR_REDIS_TLS_KEY_FILE": clientKeyFile]
    }

    /// The wrapper's TLS settings for the same.
    public var redisTLS: RedisTLS {
        get throws { try RedisTLS(caFile: caFile, certificateFile: clientCertificateFile, keyFile: clientKeyFile) }
    }
}

extension RedisServerProcess: RedisDeployment {
    public var lessorSettings: [String: String] {
        ["LESSOR_REDIS_URL": url.replacingOccurrences(of: "://", with: "://" + lessorUserInfo)].merging(tls?.lessorSettings ?? [:]) { first, _ in first }
    }

    public var clientConfiguration: RedisConfiguration {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: port).asLessor()
        configuration.tls = try? tls?.redisTLS
        return configuration
    }

    public func allKeys() async throws -> Set<String> {
        Set(try await cli("--scan").split(separator: "\n").map(String.init))
    }
}

extension RedisClusterProcess: RedisDeployment {
    public var lessorSettings: [String: String] {
        // The URL gives a cluster only its credentials and scheme: rediss:// turns TLS on.
        var settings = [
            "LESSOR_REDIS_CLUSTER": nodes.map { "127.0.0.1:\($0.port)" }.joined(separator: ","),
            "LESSOR_REDIS_URL": "\(nodes[0].tls == nil ? "redis" : "rediss")://\(lessorUserInfo)127.0.0.1",
        ]
        if let tls = nodes[0].tls { settings.merge(tls.lessorSettings) { first, _ in first } }
        return settings
    }

    public var clientConfiguration: RedisConfiguration {
        var configuration = RedisConfiguration().asLessor()
        configuration.tls = try? nodes[0].tls?.redisTLS
        configuration.topology = .cluster(seeds: nodes.map { RedisEndpoint(host: "127.0.0.1", port: $0.port) })
        return configuration
    }

    public func cli(_ arguments: [String]) async throws -> String {
        try await nodes[0].cli(["-c"] + arguments)
    }

    public func allKeys() async throws -> Set<String> {
        var keys: Set<String> = []
        for node in nodes { keys.formUnion(try await node.allKeys()) }
        return keys
    }
}

/// Runs `body` with a fresh Redis of the given backend, removed afterwards.
public func withRedis<T>(_ backend: RedisBackend, _ body: (any RedisDeployment) async throws -> T) async throws -> T {
    switch backend {
    case .standalone: return try await withRedisServer { try await body($0) }
    case .cluster: return try await withRedisCluster { try await body($0) }
    }
}
