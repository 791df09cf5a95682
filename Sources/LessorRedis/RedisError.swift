/// The one error type of the Redis wrapper.
///
/// Callers switch on ``code``, never on ``message``: the message is for logs and may
/// change. No message ever contains a password.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// A stable, extensible error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case connectionUnavailable
            case connectionLost
            case timeout
            case serverError
            case authenticationFailed
            case protocolError
            case unexpectedReply
            case invalidURL
            case invalidConfiguration
            case shutdown
            case notReplicated
            case tlsFailure
        }

        let base: Base

        /// No connection could be had; the command was **not** sent, so retrying is safe.
        public static var connectionUnavailable: Self { Self(base: .connectionUnavailable) }
        /// The connection closed after the command was written: its outcome is unknown.
        public static var connectionLost: Self { Self(base: .connectionLost) }
        /// No reply came within the command timeout: its outcome is unknown.
        public static var timeout: Self { Self(base: .timeout) }
        /// Redis answered with an error reply (`-ERR ...`); the message is Redis's text.
        public static var serverError: Self { Self(base: .serverError) }
        /// AUTH was refused, or Redis wants a password the URL does not give.
        public static var authenticationFailed: Self { Self(base: .authenticationFailed) }
        /// The bytes from Redis were not valid RESP.
        public static var protocolError: Self { Self(base: .protocolError) }
        /// A reply did not have the shape the caller asked for.
        public static var unexpectedReply: Self { Self(base: .unexpectedReply) }
        /// A `redis://` URL could not be parsed.
        public static var invalidURL: Self { Self(base: .invalidURL) }
        /// A setting is out of range (pool size, timeouts, database index).
        public static var invalidConfiguration: Self { Self(base: .invalidConfiguration) }
        /// The client was shut down.
        public static var shutdown: Self { Self(base: .shutdown) }
        /// A write ran on the primary, but fewer replicas than asked acknowledged it in time:
        /// a failover now may lose it.
        public static var notReplicated: Self { Self(base: .notReplicated) }

        /// The TLS handshake failed: the server's certificate is not trusted or does not
        /// name the host, the server does not speak TLS, or it refused the client's
        /// certificate. A configuration error, not an outage: retrying cannot fix it.
        public static var tlsFailure: Self { Self(base: .tlsFailure) }

        public var description: String { base.rawValue }
    }

    /// What went wrong, stable across releases.
    public let code: Code
    /// A human-readable explanation, safe to log.
    public let message: String
    /// Where the error was raised.
    public let file: String
    /// Where the error was raised.
    public let line: Int

    /// Creates an error.
    /// - Parameters:
    ///   - code: The stable code.
    ///   - message: A human-readable explanation that contains no secret.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// True when the command may or may not have run on the server: its connection
    /// was lost or it timed out after being written. Such a command is never retried
    /// by the wrapper; a caller that retries must know the command is idempotent.
    public var isOutcomeUnknown: Bool { code == .connectionLost || code == .timeout || code == .notReplicated }

    /// True when the failure lies in Redis's state, not in the command: no connection, a lost
    /// one, a timeout, a write not replicated in time, a client shut down, a refused login, or a
    /// server that is loading, busy, out of memory, demoted by a failover or part of a cluster
    /// being reconfigured. A later retry may succeed. False for what the command itself caused
    /// (a script error, a wrong type, a reply of an unexpected shape): retrying cannot help.
    public var isTransient: Bool {
        switch code.base {
        // A TLS failure is a misconfiguration that start-up refuses; met later (a certificate
        // rotated to a CA the node does not trust) it is Redis out of reach, like a refused login.
        case .connectionUnavailable, .connectionLost, .timeout, .notReplicated, .shutdown, .authenticationFailed, .protocolError, .tlsFailure:
            return true
        case .serverError:
            let word = message.prefix { $0 != " " }
            return Self.transientServerErrors.contains(String(word))
        case .unexpectedReply, .invalidURL, .invalidConfiguration:
            return false
        }
    }

    /// Error reply prefixes that describe the server's state rather than the command.
    private static let transientServerErrors: Set<String> = [
        "LOADING", "BUSY", "OOM", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "NOREPLICAS", "MOVED", "ASK", "NOAUTH",
    ]

    /// True when Redis itself refused the command because the script cache lacks it.
    var isNoScript: Bool { code == .serverError && message.hasPrefix("NOSCRIPT") }

    /// True when a replica refused a write (`READONLY`): the server we talk to was demoted.
    var isReadOnly: Bool { code == .serverError && message.hasPrefix("READONLY") }

    public var description: String { "RedisError(\(code)): \(message)" }
}
