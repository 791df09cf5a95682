/// Where Redis is and how the wrapper talks to it.
public struct RedisConfiguration: Sendable, Equatable {
    /// Host name or IP address (IPv6 without brackets).
    public var host: String
    /// TCP port.
    public var port: Int
    /// ACL user for `AUTH user password`; nil sends `AUTH password` (the `default` user).
    public var username: String?
    /// Password for `AUTH`; nil sends no `AUTH`.
    public var password: String?
    /// Database index for `SELECT`.
    public var database: Int
    /// Connections per client; concurrent commands are pipelined over them.
    public var poolSize: Int = 4
    /// Longest wait for a TCP connection and its handshake.
    public var connectTimeout: Duration = .seconds(2)
    /// Longest wait for a reply once a command is written; then it fails as `timeout`
    /// (outcome unknown) and its connection is closed.
    public var commandTimeout: Duration = .seconds(2)
    /// How long to wait before reconnecting after a failed attempt.
    public var reconnectBackoff = ReconnectBackoff()
    /// `CLIENT SETNAME` value, so `CLIENT LIST` shows who is connected.
    public var clientName: String?
    /// The first word of the client's metric labels: `<prefix>_commands_total`,
    /// `<prefix>_errors_total`, `<prefix>_connects_total`, `<prefix>_connect_failures_total`.
    public var metricsPrefix = "redis"
    /// One server, a cluster or a Sentinel-watched primary. For a cluster or Sentinel,
    /// ``host`` and ``port`` are not used; the credentials and timeouts apply to every node.
    public var topology: RedisTopology = .standalone
    /// TLS for every connection (servers, cluster nodes and sentinels alike); nil is
    /// plaintext. A `rediss://` URL sets it with the system's trust roots.
    public var tls: RedisTLS?
    /// ACL user for `AUTH` to the sentinels (Sentinel's own users, not the data nodes'); nil
    /// with a ``sentinelPassword`` authenticates as `default`.
    public var sentinelUsername: String?
    /// Password for `AUTH` to the sentinels (`requirepass` in sentinel.conf); nil sends none.
    public var sentinelPassword: String?

    /// Creates a configuration for a server.
    /// - Parameters:
    ///   - host: Host name or IP address.
    ///   - port: TCP port.
    ///   - username: ACL user, if any.
    ///   - password: Password, if any.
    ///   - database: Database index.
    public init(host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `redis[s]://[[user]:password@]host[:port][/db]`; `rediss://` is TLS, verified
    /// against the system's trust roots (replace ``tls`` to name a CA file or a client certificate).
    ///
    /// User and password are percent-decoded; IPv6 hosts are bracketed (`redis://[::1]:6380`).
    /// - Parameter url: The URL.
    /// - Throws: ``RedisError/Code/invalidURL`` naming the part at fault (never echoing a password).
    public init(url: String) throws(RedisError) {
        let lowercased = url.lowercased()
        let scheme = lowercased.hasPrefix("rediss://") ? "rediss://" : "redis://"
        guard lowercased.hasPrefix(scheme) else {
            throw RedisError(.invalidURL, "a Redis URL must start with redis:// or rediss:// (redis://[user:password@]host:port/db)")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        if rest.contains(where: { $0 == "?" || $0 == "#" }) {
            throw RedisError(.invalidURL, "a Redis URL takes no query or fragment")
        }
        // The userinfo ends at the last "@" (a password may contain "@" only percent-encoded,
        // but be lenient); the path starts at the first "/" after it.
        var userinfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        let authority: Substring
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        } else {
            authority = rest
        }

        self.init()
        if scheme == "rediss://" {
            do { tls = try RedisTLS() } catch { throw RedisError(.invalidURL, "rediss://: \(error.message)") }
        }
        if let userinfo {
            guard let colon = userinfo.firstIndex(of: ":") else {
                throw RedisError(.invalidURL, "the URL names a user but no password; write redis://user:password@host")
            }
            let user = try Self.percentDecoded(userinfo[..<colon], part: "user name")
            let password = try Self.percentDecoded(userinfo[userinfo.index(after: colon)...], part: "password")
            guard !password.isEmpty else { throw RedisError(.invalidURL, "the password in the URL is empty") }
            username = user.isEmpty ? nil : user
            self.password = password
        }
        (host, port) = try Self.hostAndPort(authority)
        if !path.isEmpty {
            guard path.allSatisfy(\.isASCII), path.allSatisfy(\.isNumber), let database = Int(path), database <= 1_000_000 else {
                throw RedisError(.invalidURL, "the database in the URL must be a number such as /0")
            }
            self.database = database
        }
    }

    private static func hostAndPort(_ authority: Substring) throws(RedisError) -> (String, Int) {
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw RedisError(.invalidURL, "an IPv6 host must be closed with ]")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisError(.invalidURL, "unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else {
                throw RedisError(.invalidURL, "an IPv6 host must be written in brackets, e.g. redis://[::1]:6379")
            }
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
        }
        guard !host.isEmpty else { throw RedisError(.invalidURL, "the URL has no host") }
        var port = 6379
        if let portText {
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(portText), (1...65535).contains(number) else {
                throw RedisError(.invalidURL, "the port in the URL must be a number from 1 to 65535")
            }
            port = number
        }
        return (String(host), port)
    }

    private static func percentDecoded(_ text: Substring, part: String) throws(RedisError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw RedisError(.invalidURL, "the \(part) in the URL has a malformed %-escape")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw RedisError(.invalidURL, "the \(part) in the URL is not valid UTF-8")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Checks ranges that a URL cannot express.
    /// - Throws: ``RedisError/Code/invalidConfiguration``.
    public func validate() throws(RedisError) {
        guard (1...64).contains(poolSize) else {
            throw RedisError(.invalidConfiguration, "the Redis pool size must be 1 to 64, not \(poolSize)")
        }
        guard connectTimeout > .zero, commandTimeout > .zero else {
            throw RedisError(.invalidConfiguration, "Redis timeouts must be positive")
        }
        switch topology {
        case .standalone: break
        case .cluster(let seeds):
            guard !seeds.isEmpty else { throw RedisError(.invalidConfiguration, "a Redis Cluster needs at least one seed node") }
            guard database == 0 else { throw RedisError(.invalidConfiguration, "Redis Cluster has only database 0") }
        case .sentinel(let sentinels, let masterName):
            guard !sentinels.isEmpty else { throw RedisError(.invalidConfiguration, "Sentinel mode needs at least one sentinel") }
            guard !masterName.isEmpty else { throw RedisError(.invalidConfiguration, "Sentinel mode needs the master name") }
        }
    }

    /// How to reach one sentinel: its address, the sentinels' credentials, this TLS and
    /// these timeouts; no database and no client name.
    func sentinelConfiguration(_ sentinel: RedisEndpoint) -> RedisConfiguration {
        var target = RedisConfiguration(username: sentinelUsername, password: sentinelPassword)
        target.endpoint = sentinel
        target.connectTimeout = connectTimeout
        target.commandTimeout = commandTimeout
        target.tls = tls
        return target
    }

    /// `host:port`, for logs and errors (IPv6 bracketed).
    public var endpointDescription: String { endpoint.description }

    /// Where a standalone server is.
    public var endpoint: RedisEndpoint {
        get { RedisEndpoint(host: host, port: port) }
        set { (host, port) = (newValue.host, newValue.port) }
    }

    /// Where Redis is, for logs: the server, the cluster's seeds or the sentinels.
    public var topologyDescription: String {
        switch topology {
        case .standalone: return endpointDescription
        case .cluster(let seeds): return "cluster " + seeds.map(\.description).joined(separator: ",")
        case .sentinel(let sentinels, let masterName):
            return "sentinel \(masterName)@" + sentinels.map(\.description).joined(separator: ",")
        }
    }
}

/// Capped exponential backoff with jitter between reconnection attempts.
public struct ReconnectBackoff: Sendable, Equatable {
    /// Wait after the first failed attempt.
    public var initial: Duration = .milliseconds(50)
    /// The longest wait, however many attempts failed.
    public var maximum: Duration = .seconds(2)
    /// Fraction of the wait that is randomised (0 to 1), so replicas do not reconnect in lockstep.
    public var jitter: Double = 0.2

    /// Creates a backoff policy.
    public init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(2), jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The wait after `failures` consecutive failed attempts.
    /// - Parameters:
    ///   - failures: Consecutive failures so far, at least 1.
    ///   - random: A number in `0..<1`; injected so tests are deterministic.
    /// - Returns: `initial · 2^(failures-1)`, capped at `maximum`, less up to `jitter` of itself.
    public func delay(afterFailures failures: Int, random: Double = Double.random(in: 0..<1)) -> Duration {
        let exponent = min(max(failures - 1, 0), 30)
        let uncapped = initial * (1 << exponent)
        let capped = min(uncapped, maximum)
        return capped - capped * (jitter * random)
    }
}
