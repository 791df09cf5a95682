import Crypto

/// A Lua script, called by its SHA1 with `EVALSHA` and loaded on demand.
public struct RedisScript: Sendable, Hashable {
    /// The script's source, byte for byte as Redis will hash it.
    public let source: String
    /// Lowercase hex SHA1 of ``source``, computed locally; equals `SCRIPT LOAD`'s reply.
    public let sha1: String

    /// Creates a script.
    /// - Parameter source: The Lua source.
    public init(source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

extension RedisScript: RedisLoadable {
    /// True for `NOSCRIPT`.
    public func isMissing(_ error: RedisError) -> Bool { error.isNoScript }

    /// `SCRIPT LOAD`, checking the SHA1 the server computed.
    public func load(on node: RedisNodeClient) async throws(RedisError) {
        let sha = try await node.send(RedisCommand("SCRIPT", "LOAD", source), as: String.self)
        guard sha == sha1 else {
            throw RedisError(.unexpectedReply, "SCRIPT LOAD returned \(sha), expected \(sha1)")
        }
    }
}

extension RedisClient {
    /// Runs a script with `EVALSHA`; when Redis answers `NOSCRIPT` (after a restart, a
    /// failover or `SCRIPT FLUSH`) it loads the script on that node and tries once more.
    /// `NOSCRIPT` means the script did not run, so the retry cannot run it twice.
    /// - Parameters:
    ///   - script: The script.
    ///   - keys: Its `KEYS`; the first one routes the call on a cluster.
    ///   - arguments: Its `ARGV`.
    ///   - wait: When given, the call is acknowledged only once that many replicas have it.
    /// - Returns: The script's reply.
    /// - Throws: As ``send(_:)``; `notReplicated` when the replicas of `wait` did not
    ///   acknowledge it in time.
    @discardableResult
    public func evaluate(
        _ script: RedisScript,
        keys: [any RedisArgumentConvertible] = [],
        arguments: [any RedisArgumentConvertible] = [],
        wait: ReplicationWait? = nil
    ) async throws(RedisError) -> RESPValue {
        let keys = keys.map(\.redisArgument)
        let command = RedisCommand(
            arguments: [Array("EVALSHA".utf8), Array(script.sha1.utf8), keys.count.redisArgument] + keys + arguments.map(\.redisArgument),
            keyPositions: Array(3..<(3 + keys.count))
        )
        return try await execute(command, script: script, wait: wait)
    }

    /// Loads a script or function library into every primary, so `/readyz` can promise that
    /// the next call finds it.
    /// - Throws: As ``send(_:)``, or `unexpectedReply` when a server acknowledges something else.
    public func load(_ loadable: some RedisLoadable) async throws(RedisError) {
        try await forEachPrimary { node throws(RedisError) in try await loadable.load(on: node) }
    }
}
