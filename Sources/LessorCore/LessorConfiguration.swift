import LessorRedis

/// Every setting of a front node, resolved from `LESSOR_*` variables and `--flags`
/// (a flag wins over its variable) and checked once at start-up.
public struct LessorConfiguration: Sendable, Equatable {
    /// Redis connection settings (`LESSOR_REDIS_URL` and the `LESSOR_REDIS_*` tuning knobs).
    public var redis: RedisConfiguration
    /// Key prefix of every Redis key (`LESSOR_NAMESPACE`).
    public var namespace: String = "lessor"
    /// Address to listen on (`LESSOR_HOST`).
    public var host: String = "127.0.0.1"
    /// Port to listen on (`LESSOR_PORT`).
    public var port: Int = 8080
    /// The admin bearer token (`LESSOR_ADMIN_TOKEN`); nil disables admin access.
    public var adminToken: String?
    /// Lease TTL when a heartbeat asks for none (`LESSOR_DEFAULT_TTL_SECONDS`), clamped to 10–600.
    public var defaultLeaseTTL: Duration = .seconds(60)
    /// A worker's presence lease (`LESSOR_WORKER_TTL_SECONDS`).
    public var workerPresenceTTL: Duration = .seconds(90)
    /// `json` or `text` (`LESSOR_LOG_FORMAT`).
    public var logFormat: LogFormat = .json
    /// How long `/readyz` answers 503 after SIGTERM before the server stops accepting (`LESSOR_DRAIN_DELAY_MS`).
    public var drainDelay: Duration = .seconds(1)
    /// Minimum log level (`LESSOR_LOG_LEVEL`): trace, debug, info, notice, warning, error, critical.
    public var logLevel: String = "info"

    /// How log lines are written.
    public enum LogFormat: String, Sendable, CaseIterable {
        case text
        case json
    }

    /// One setting: its variable, its flag and what it means. The single list the
    /// command line, the README table and the parser below share.
    public struct Setting: Sendable {
        /// The environment variable, e.g. `LESSOR_PORT`.
        public let variable: String
        /// The flag, e.g. `--port`.
        public var flag: String { "--" + variable.dropFirst("LESSOR_".count).lowercased().split(separator: "_").joined(separator: "-") }
        /// One line of help, with the default.
        public let help: String
    }

    /// Every setting, in the order `--help` lists them.
    public static let settings: [Setting] = [
        Setting(variable: "LESSOR_REDIS_URL", help: "Redis URL, redis://[user:pass@]host:port/db (default redis://127.0.0.1:6379)"),
        Setting(variable: "LESSOR_REDIS_POOL_SIZE", help: "Redis connections per front node, 1-64 (default 4)"),
        Setting(variable: "LESSOR_REDIS_CONNECT_TIMEOUT_MS", help: "Redis connect and handshake timeout in ms (default 2000)"),
        Setting(variable: "LESSOR_REDIS_COMMAND_TIMEOUT_MS", help: "Redis reply timeout in ms (default 2000)"),
        Setting(variable: "LESSOR_REDIS_CLUSTER", help: "Redis Cluster seed nodes, host:port,...; the URL then only gives credentials (default: none)"),
        Setting(variable: "LESSOR_REDIS_SENTINELS", help: "Redis Sentinel nodes, host:port,...; needs LESSOR_REDIS_MASTER_NAME (default: none)"),
        Setting(variable: "LESSOR_REDIS_MASTER_NAME", help: "the primary's name in Sentinel (default: none)"),
        Setting(variable: "LESSOR_REDIS_WAIT_REPLICAS", help: "after every script call, WAIT for this many replicas, 0-16; unacknowledged calls answer 503 (default 0)"),
        Setting(variable: "LESSOR_NAMESPACE", help: "Redis key prefix (default lessor)"),
        Setting(variable: "LESSOR_HOST", help: "address to listen on (default 127.0.0.1)"),
        Setting(variable: "LESSOR_PORT", help: "port to listen on (default 8080)"),
        Setting(variable: "LESSOR_ADMIN_TOKEN", help: "admin bearer token (default: none, admin routes refuse everyone)"),
        Setting(variable: "LESSOR_DEFAULT_TTL_SECONDS", help: "lease TTL when a heartbeat asks for none, clamped to 10-600 (default 60)"),
        Setting(variable: "LESSOR_WORKER_TTL_SECONDS", help: "worker presence lease in seconds, 1-86400 (default 90)"),
        Setting(variable: "LESSOR_LOG_FORMAT", help: "json or text (default json)"),
        Setting(variable: "LESSOR_LOG_LEVEL", help: "trace, debug, info, notice, warning, error or critical (default info)"),
        Setting(variable: "LESSOR_DRAIN_DELAY_MS", help: "after SIGTERM, ms that /readyz answers 503 before the server stops accepting, 0-60000 (default 1000)"),
    ]

    /// The defaults: a local Redis, port 8080.
    public init() {
        redis = RedisConfiguration()
    }

    /// Resolves settings from `LESSOR_*` values.
    /// - Parameter values: Values by variable name; unknown `LESSOR_*` names are refused so a
    ///   typo cannot silently fall back to a default. Empty values count as unset.
    /// - Throws: ``ConfigurationError`` naming the variable, its flag and what is wrong.
    public init(_ values: [String: String]) throws(ConfigurationError) {
        self.init()
        let known = Set(Self.settings.map(\.variable))
        if let unknown = values.keys.filter({ $0.hasPrefix("LESSOR_") && !known.contains($0) }).sorted().first {
            throw ConfigurationError(variable: unknown, message: "is not a Lessor setting (see lessor serve --help)")
        }
        func value(_ variable: String) -> String? {
            guard let text = values[variable], !text.isEmpty else { return nil }
            return text
        }
        func integer(_ variable: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
            guard let text = value(variable) else { return nil }
            guard let number = Int(text), range.contains(number) else {
                throw ConfigurationError(variable: variable, message: "must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"")
            }
            return number
        }

        if let url = value("LESSOR_REDIS_URL") {
            do {
                redis = try RedisConfiguration(url: url)
            } catch {
                throw ConfigurationError(variable: "LESSOR_REDIS_URL", message: error.message)
            }
        }
        func endpoints(_ variable: String) throws(ConfigurationError) -> [RedisEndpoint]? {
            guard let list = value(variable) else { return nil }
            do {
                return try RedisEndpoint.list(list)
            } catch {
                throw ConfigurationError(variable: variable, message: "must be host:port,host:port,...: \(error.message)")
            }
        }
        let cluster = try endpoints("LESSOR_REDIS_CLUSTER")
        let sentinels = try endpoints("LESSOR_REDIS_SENTINELS")
        let masterName = value("LESSOR_REDIS_MASTER_NAME")
        switch (cluster, sentinels, masterName) {
        case (nil, nil, nil):
            break
        case (let seeds?, nil, nil):
            guard redis.database == 0 else {
                throw ConfigurationError(variable: "LESSOR_REDIS_URL", message: "must name database 0 (or none) with LESSOR_REDIS_CLUSTER: a cluster has only database 0")
            }
            redis.topology = .cluster(seeds: seeds)
        case (_?, _, _):
            throw ConfigurationError(variable: "LESSOR_REDIS_CLUSTER", message: "cannot be combined with LESSOR_REDIS_SENTINELS or LESSOR_REDIS_MASTER_NAME")
        case (nil, let sentinels?, let masterName?):
            redis.topology = .sentinel(sentinels: sentinels, masterName: masterName)
        case (nil, _?, nil):
            throw ConfigurationError(variable: "LESSOR_REDIS_SENTINELS", message: "needs LESSOR_REDIS_MASTER_NAME too")
        case (nil, nil, _?):
            throw ConfigurationError(variable: "LESSOR_REDIS_MASTER_NAME", message: "needs LESSOR_REDIS_SENTINELS too")
        }
        if let replicas = try integer("LESSOR_REDIS_WAIT_REPLICAS", in: 0...16) { redis.waitReplicas = replicas }
        if let size = try integer("LESSOR_REDIS_POOL_SIZE", in: 1...64) { redis.poolSize = size }
        if let ms = try integer("LESSOR_REDIS_CONNECT_TIMEOUT_MS", in: 1...60_000) { redis.connectTimeout = .milliseconds(ms) }
        if let ms = try integer("LESSOR_REDIS_COMMAND_TIMEOUT_MS", in: 1...60_000) { redis.commandTimeout = .milliseconds(ms) }
        // WAIT must give up before the command that carries it times out.
        redis.replicationTimeout = redis.commandTimeout / 2
        if let namespace = value("LESSOR_NAMESPACE") {
            // It prefixes every key, before the {hash tag}: braces would break cluster routing.
            let allowed = namespace.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: ".")
            }
            guard allowed, namespace.utf8.count <= 64 else {
                throw ConfigurationError(variable: "LESSOR_NAMESPACE", message: "must be 1-64 characters of A-Z, a-z, 0-9, '_', '-', '.'")
            }
            self.namespace = namespace
        }
        if let host = value("LESSOR_HOST") { self.host = host }
        if let port = try integer("LESSOR_PORT", in: 1...65535) { self.port = port }
        adminToken = value("LESSOR_ADMIN_TOKEN")
        if let seconds = try integer("LESSOR_DEFAULT_TTL_SECONDS", in: 1...Int(Int32.max)) {
            defaultLeaseTTL = LeaseTTL.clamped(seconds: seconds)
        }
        if let seconds = try integer("LESSOR_WORKER_TTL_SECONDS", in: 1...86_400) { workerPresenceTTL = .seconds(seconds) }
        if let ms = try integer("LESSOR_DRAIN_DELAY_MS", in: 0...60_000) { drainDelay = .milliseconds(ms) }
        if let format = value("LESSOR_LOG_FORMAT") {
            guard let parsed = LogFormat(rawValue: format.lowercased()) else {
                throw ConfigurationError(variable: "LESSOR_LOG_FORMAT", message: "must be json or text, not \"\(format)\"")
            }
            logFormat = parsed
        }
        if let level = value("LESSOR_LOG_LEVEL") {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(level.lowercased()) else {
                throw ConfigurationError(variable: "LESSOR_LOG_LEVEL", message: "must be one of \(levels.joined(separator: ", ")), not \"\(level)\"")
            }
            logLevel = level.lowercased()
        }
    }
}

/// A setting that cannot be used, named by variable and flag.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `LESSOR_*` variable at fault.
    public let variable: String
    /// What is wrong with it (never the value of a secret).
    public let message: String

    /// Creates an error.
    /// - Parameters:
    ///   - variable: The `LESSOR_*` variable at fault.
    ///   - message: What is wrong, phrased to follow the variable's name.
    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }

    public var description: String {
        let flag = LessorConfiguration.settings.first { $0.variable == variable }.map { " (\($0.flag))" } ?? ""
        return "\(variable)\(flag) \(message)"
    }
}
