import Foundation
import LessorCore
import LessorHTTP
import LessorRedis

/// One setting of `lessor serve`: its `LESSOR_*` variable, from which its flag follows, its
/// default and what it means. ``LessorConfiguration/settings`` is the one list of them; the
/// flags `serve` accepts, `--help`, docs/operations.md's table (`lessor settings`) and the parser
/// all read it.
struct Setting: Sendable, Equatable {
    /// The environment variable, e.g. `LESSOR_PORT`.
    let variable: String
    /// The default, as docs/operations.md and `--help` show it.
    let defaultValue: String
    /// What it means, one line.
    let meaning: String

    /// The flag, e.g. `--port`: the variable without `LESSOR_`, lower case, `-` for `_`.
    var flag: String { "--" + variable.dropFirst("LESSOR_".count).lowercased().split(separator: "_").joined(separator: "-") }
}

/// Every setting of a front node, resolved from `LESSOR_*` variables and `--flags` (a flag
/// wins over its variable) and checked once at start-up.
struct LessorConfiguration: Sendable, Equatable {
    /// Redis connection settings (`LESSOR_REDIS_URL` and the `LESSOR_REDIS_*` tuning knobs).
    var redis: RedisConfiguration
    /// `LESSOR_REDIS_WAIT_REPLICAS`: after every library call, `WAIT` for this many replicas.
    var replicationWait: ReplicationWait?
    /// Key prefix of every Redis key (`LESSOR_NAMESPACE`).
    var namespace = "lessor"
    /// Address to listen on (`LESSOR_HOST`).
    var host = "127.0.0.1"
    /// Port to listen on (`LESSOR_PORT`).
    var port = 8080
    /// The admin bearer token (`LESSOR_ADMIN_TOKEN`); nil disables admin access.
    var adminToken: String?
    /// Lease TTL when a heartbeat asks for none (`LESSOR_DEFAULT_TTL_SECONDS`), clamped to 10–600.
    var defaultLeaseTTL: Duration = .seconds(60)
    /// A worker's presence lease (`LESSOR_WORKER_TTL_SECONDS`).
    var workerPresenceTTL: Duration = .seconds(90)
    /// `json` or `text` (`LESSOR_LOG_FORMAT`).
    var logFormat: LogFormat = .json
    /// How long `/readyz` answers 503 after SIGTERM before the server stops accepting (`LESSOR_DRAIN_DELAY_MS`).
    var drainDelay: Duration = .seconds(1)
    /// Minimum log level (`LESSOR_LOG_LEVEL`): trace, debug, info, notice, warning, error, critical.
    var logLevel = "info"
    /// What a client connection may take of the node (`LESSOR_HTTP_*`).
    var httpLimits = HTTPLimits()

    /// How log lines are written.
    enum LogFormat: String, Sendable, CaseIterable {
        case text
        case json
    }

    /// Every setting, in the order `--help` and docs/operations.md list them.
    static let settings: [Setting] = [
        Setting(variable: "LESSOR_REDIS_URL", defaultValue: "redis://127.0.0.1:6379",
                meaning: "Redis URL, redis[s]://[[user]:password@]host[:port][/db]; rediss:// is TLS; user and password percent-encoded; IPv6 as [::1]"),
        Setting(variable: "LESSOR_REDIS_URL_FILE", defaultValue: "none",
                meaning: "a file holding the Redis URL (a Kubernetes secret), instead of LESSOR_REDIS_URL; trailing newlines ignored"),
        Setting(variable: "LESSOR_REDIS_TLS_CA_FILE", defaultValue: "none",
                meaning: "PEM CA certificates that sign the Redis servers' certificates (rediss:// only); default: the system's trust roots"),
        Setting(variable: "LESSOR_REDIS_TLS_CERT_FILE", defaultValue: "none",
                meaning: "PEM client certificate for servers that verify clients (tls-auth-clients); needs LESSOR_REDIS_TLS_KEY_FILE"),
        Setting(variable: "LESSOR_REDIS_TLS_KEY_FILE", defaultValue: "none", meaning: "PEM private key of LESSOR_REDIS_TLS_CERT_FILE"),
        Setting(variable: "LESSOR_REDIS_TLS_SERVER_NAME", defaultValue: "none",
                meaning: "the name the servers' certificates must carry, and the SNI sent; default: the host connected to"),
        Setting(variable: "LESSOR_REDIS_POOL_SIZE", defaultValue: "4", meaning: "Redis connections per front node, 1-64; all are pipelined"),
        Setting(variable: "LESSOR_REDIS_CONNECT_TIMEOUT_MS", defaultValue: "2000", meaning: "Redis TCP connect plus handshake timeout in ms, 1-60000"),
        Setting(variable: "LESSOR_REDIS_COMMAND_TIMEOUT_MS", defaultValue: "2000", meaning: "longest wait for a Redis reply in ms, 1-60000"),
        Setting(variable: "LESSOR_REDIS_CLUSTER", defaultValue: "none",
                meaning: "Redis Cluster seed nodes, host:port,host:port,...; the URL then gives only the credentials"),
        Setting(variable: "LESSOR_REDIS_SENTINELS", defaultValue: "none",
                meaning: "Redis Sentinel nodes, host:port,...; needs LESSOR_REDIS_MASTER_NAME; the URL then gives only the credentials and database"),
        Setting(variable: "LESSOR_REDIS_MASTER_NAME", defaultValue: "none", meaning: "the primary's name in Sentinel"),
        Setting(variable: "LESSOR_REDIS_SENTINEL_USERNAME", defaultValue: "none", meaning: "ACL user for AUTH to the sentinels; needs LESSOR_REDIS_SENTINEL_PASSWORD"),
        Setting(variable: "LESSOR_REDIS_SENTINEL_PASSWORD", defaultValue: "none", meaning: "password for AUTH to the sentinels (their requirepass)"),
        Setting(variable: "LESSOR_REDIS_SENTINEL_PASSWORD_FILE", defaultValue: "none", meaning: "a file holding LESSOR_REDIS_SENTINEL_PASSWORD"),
        Setting(variable: "LESSOR_REDIS_WAIT_REPLICAS", defaultValue: "0",
                meaning: "after every lease call, WAIT for this many replicas (0-16) for half the command timeout; unacknowledged calls answer 503"),
        Setting(variable: "LESSOR_NAMESPACE", defaultValue: "lessor", meaning: "Redis key prefix; 1-64 of A-Z a-z 0-9 _ - . (no braces: they would break hash tags)"),
        Setting(variable: "LESSOR_HOST", defaultValue: "127.0.0.1", meaning: "address to listen on; 0.0.0.0 in a container"),
        Setting(variable: "LESSOR_PORT", defaultValue: "8080", meaning: "port to listen on"),
        Setting(variable: "LESSOR_ADMIN_TOKEN", defaultValue: "none", meaning: "admin bearer token; without one, admin routes refuse everyone"),
        Setting(variable: "LESSOR_ADMIN_TOKEN_FILE", defaultValue: "none",
                meaning: "a file holding the admin token (a Kubernetes secret), instead of LESSOR_ADMIN_TOKEN; trailing newlines ignored"),
        Setting(variable: "LESSOR_DEFAULT_TTL_SECONDS", defaultValue: "60", meaning: "lease TTL when a heartbeat asks for none; clamped to 10-600"),
        Setting(variable: "LESSOR_WORKER_TTL_SECONDS", defaultValue: "90", meaning: "Den worker presence lease in seconds, 1-86400"),
        Setting(variable: "LESSOR_LOG_FORMAT", defaultValue: "json", meaning: "json (one object per line on stderr) or text"),
        Setting(variable: "LESSOR_LOG_LEVEL", defaultValue: "info", meaning: "trace, debug, info, notice, warning, error or critical"),
        Setting(variable: "LESSOR_DRAIN_DELAY_MS", defaultValue: "1000",
                meaning: "after SIGTERM, ms that /readyz answers 503 before the server stops accepting, 0-60000"),
        Setting(variable: "LESSOR_HTTP_READ_TIMEOUT_MS", defaultValue: "10000",
                meaning: "from a request's first byte, ms within which its whole head and body must arrive, else 408 and close; 100-600000"),
        Setting(variable: "LESSOR_HTTP_IDLE_TIMEOUT_MS", defaultValue: "75000",
                meaning: "ms an idle keep-alive connection (no request under way) stays open; 100-3600000"),
        Setting(variable: "LESSOR_HTTP_MAX_HEADER_BYTES", defaultValue: "32768",
                meaning: "largest request head (header names and values; the request line may add 8 KiB), else 431 and close; 1024-1048576"),
        Setting(variable: "LESSOR_HTTP_MAX_CONNECTIONS", defaultValue: "10000",
                meaning: "connections one node holds at once; the first request of one more gets 503 with Retry-After and the connection closes; 1-1000000"),
    ]

    /// The setting of a variable.
    static func setting(_ variable: String) -> Setting? {
        settings.first { $0.variable == variable }
    }

    /// The worker side's variables, which a shell that runs `lessor run` or a client of the API
    /// holds beside the node's settings (the README's walkthrough exports `LESSOR_URL`), and
    /// those `lessor run` gives its command: not settings, and not typos of one.
    static let workerSide: Set<String> = [
        "LESSOR_URL", "LESSOR_TOKEN", "LESSOR_ENV", "LESSOR_WORKER", "LESSOR_TTL", "LESSOR_CONCURRENCY", "LESSOR_ONCE",
        "LESSOR_KILL_AFTER", "LESSOR_WORK_ID", "LESSOR_WORKER_ID", "LESSOR_ENVIRONMENT_ID", "LESSOR_FENCING_TOKEN",
        "LESSOR_SESSION_ID", "LESSOR_METADATA",
    ]

    /// The defaults: a local Redis, port 8080.
    init() {
        redis = RedisConfiguration()
        redis.clientName = "lessor"
        redis.metricsPrefix = "lessor_redis"
    }

    /// Resolves settings from `LESSOR_*` values.
    /// - Parameter values: Values by variable name; unknown `LESSOR_*` names are refused so a
    ///   typo cannot silently fall back to a default. Empty values count as unset.
    /// - Throws: ``ConfigurationError`` naming the variable, its flag and what is wrong.
    init(_ values: [String: String]) throws(ConfigurationError) {
        self.init()
        if let unknown = values.keys.filter({ $0.hasPrefix("LESSOR_") && Self.setting($0) == nil && !Self.workerSide.contains($0) }).sorted().first {
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

        /// A secret from its variable or from the file its `_FILE` variable names, not both.
        func secret(_ variable: String) throws(ConfigurationError) -> String? {
            let fileVariable = variable + "_FILE"
            guard let path = value(fileVariable) else { return value(variable) }
            guard value(variable) == nil else {
                throw ConfigurationError(variable: fileVariable, message: "cannot be combined with \(variable): set one of them")
            }
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ConfigurationError(variable: fileVariable, message: "names \(path), which cannot be read as UTF-8 text: \((error as NSError).localizedDescription)")
            }
            var trimmed = Substring(text)
            while trimmed.last?.isNewline == true { trimmed = trimmed.dropLast() }  // "\r\n" is one Character
            guard !trimmed.isEmpty else { throw ConfigurationError(variable: fileVariable, message: "names \(path), which is empty") }
            return String(trimmed)
        }

        let urlVariable = value("LESSOR_REDIS_URL_FILE") == nil ? "LESSOR_REDIS_URL" : "LESSOR_REDIS_URL_FILE"
        if let url = try secret("LESSOR_REDIS_URL") {
            do {
                var parsed = try RedisConfiguration(url: url)
                (parsed.clientName, parsed.metricsPrefix) = (redis.clientName, redis.metricsPrefix)
                redis = parsed
            } catch {
                throw ConfigurationError(variable: urlVariable, message: error.message)
            }
        }
        let tlsVariables = ["LESSOR_REDIS_TLS_CA_FILE", "LESSOR_REDIS_TLS_CERT_FILE", "LESSOR_REDIS_TLS_KEY_FILE", "LESSOR_REDIS_TLS_SERVER_NAME"]
        if let firstSet = tlsVariables.first(where: { value($0) != nil }) {
            guard redis.tls != nil else {
                throw ConfigurationError(variable: firstSet, message: "needs a rediss:// URL in \(urlVariable): TLS is on only with rediss://")
            }
            let tls = tlsVariables.map(value)
            do {
                redis.tls = try RedisTLS(caFile: tls[0], certificateFile: tls[1], keyFile: tls[2], serverName: tls[3])
            } catch {
                // The message quotes the file or name at fault; blame its variable.
                let culprit = tlsVariables.first { value($0).map(error.message.contains) == true } ?? firstSet
                throw ConfigurationError(variable: culprit, message: error.message)
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
            redis.sentinelPassword = try secret("LESSOR_REDIS_SENTINEL_PASSWORD")
            redis.sentinelUsername = value("LESSOR_REDIS_SENTINEL_USERNAME")
            if redis.sentinelUsername != nil, redis.sentinelPassword == nil {
                throw ConfigurationError(variable: "LESSOR_REDIS_SENTINEL_USERNAME", message: "needs LESSOR_REDIS_SENTINEL_PASSWORD too")
            }
        case (nil, _?, nil):
            throw ConfigurationError(variable: "LESSOR_REDIS_SENTINELS", message: "needs LESSOR_REDIS_MASTER_NAME too")
        case (nil, nil, _?):
            throw ConfigurationError(variable: "LESSOR_REDIS_MASTER_NAME", message: "needs LESSOR_REDIS_SENTINELS too")
        }
        if case .sentinel = redis.topology {} else if let named = ["LESSOR_REDIS_SENTINEL_USERNAME", "LESSOR_REDIS_SENTINEL_PASSWORD", "LESSOR_REDIS_SENTINEL_PASSWORD_FILE"].first(where: { value($0) != nil }) {
            throw ConfigurationError(variable: named, message: "applies only with LESSOR_REDIS_SENTINELS")
        }
        if let size = try integer("LESSOR_REDIS_POOL_SIZE", in: 1...64) { redis.poolSize = size }
        if let ms = try integer("LESSOR_REDIS_CONNECT_TIMEOUT_MS", in: 1...60_000) { redis.connectTimeout = .milliseconds(ms) }
        if let ms = try integer("LESSOR_REDIS_COMMAND_TIMEOUT_MS", in: 1...60_000) { redis.commandTimeout = .milliseconds(ms) }
        if let replicas = try integer("LESSOR_REDIS_WAIT_REPLICAS", in: 0...16), replicas > 0 {
            // WAIT must give up before the command that carries it times out.
            replicationWait = try? ReplicationWait(replicas: replicas, timeout: redis.commandTimeout / 2)
        }
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
        adminToken = try secret("LESSOR_ADMIN_TOKEN")
        if let seconds = try integer("LESSOR_DEFAULT_TTL_SECONDS", in: 1...Int(Int32.max)) {
            defaultLeaseTTL = LeaseTTL.clamped(seconds: seconds)
        }
        if let seconds = try integer("LESSOR_WORKER_TTL_SECONDS", in: 1...86_400) { workerPresenceTTL = .seconds(seconds) }
        if let ms = try integer("LESSOR_DRAIN_DELAY_MS", in: 0...60_000) { drainDelay = .milliseconds(ms) }
        if let ms = try integer("LESSOR_HTTP_READ_TIMEOUT_MS", in: 100...600_000) { httpLimits.readTimeout = .milliseconds(ms) }
        if let ms = try integer("LESSOR_HTTP_IDLE_TIMEOUT_MS", in: 100...3_600_000) { httpLimits.idleTimeout = .milliseconds(ms) }
        if let bytes = try integer("LESSOR_HTTP_MAX_HEADER_BYTES", in: 1024...1_048_576) { httpLimits.maxHeaderBytes = bytes }
        if let count = try integer("LESSOR_HTTP_MAX_CONNECTIONS", in: 1...1_000_000) { httpLimits.maxConnections = count }
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

    /// The `LESSOR_*` values of a process: its environment, overridden by `--flag value` and
    /// `--flag=value` arguments of the settings.
    /// - Parameters:
    ///   - environment: The process environment.
    ///   - flags: Command-line arguments that are all settings' flags with their values.
    /// - Throws: ``ConfigurationError`` for a flag no setting has, or one without a value.
    static func values(environment: [String: String], flags: [String]) throws(ConfigurationError) -> [String: String] {
        var values = environment.filter { $0.key.hasPrefix("LESSOR_") }
        var remaining = flags[...]
        while let argument = remaining.popFirst() {
            let (name, inline) = argument.firstIndex(of: "=").map { (String(argument[..<$0]), String(argument[argument.index(after: $0)...])) } ?? (argument, nil)
            guard let setting = settings.first(where: { $0.flag == name }) else {
                throw ConfigurationError(variable: argument, message: "is not an option of lessor serve (see lessor serve --help)")
            }
            guard let value = inline ?? remaining.popFirst() else {
                throw ConfigurationError(variable: setting.variable, message: "needs a value after \(setting.flag)")
            }
            values[setting.variable] = value
        }
        return values
    }

    /// The settings as `--help` lists them: the flag and variable, then what it means and its
    /// default, wrapped under it (ArgumentParser would wrap long lines to column 0).
    static var helpText: String {
        settings.map { setting in
            var lines = ["  \(setting.flag) <value>  [\(setting.variable)]"]
            var line = "     "
            for word in "\(setting.meaning) (default \(setting.defaultValue))".split(separator: " ") {
                if line.count + word.count + 1 > 78 {
                    lines.append(line)
                    line = "     "
                }
                line += " " + word
            }
            return (lines + [line]).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// docs/operations.md's configuration table (printed by `lessor settings`).
    static var markdownTable: String {
        (["| variable | flag | default | meaning |", "|---|---|---|---|"] + settings.map { setting in
            "| `\(setting.variable)` | `\(setting.flag)` | \(setting.defaultValue == "none" ? "–" : "`\(setting.defaultValue)`") | \(setting.meaning) |"
        }).joined(separator: "\n")
    }
}

/// A setting that cannot be used, named by variable and flag.
struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `LESSOR_*` variable at fault (or the unknown flag).
    let variable: String
    /// What is wrong with it (never the value of a secret).
    let message: String

    var description: String {
        let flag = LessorConfiguration.setting(variable).map { " (\($0.flag))" } ?? ""
        return "\(variable)\(flag) \(message)"
    }
}
