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

extension RedisClient {
    /// Runs a script with `EVALSHA`; when Redis answers `NOSCRIPT` (after a restart, a
    /// failover or `SCRIPT FLUSH`) it loads the script once and tries again. `NOSCRIPT`
    /// means the script did not run, so the retry cannot run it twice.
    /// - Parameters:
    ///   - script: The script.
    ///   - keys: Its `KEYS`.
    ///   - arguments: Its `ARGV`.
    /// - Returns: The script's reply.
    /// - Throws: As ``send(_:)``.
    @discardableResult
    public func evaluate(
        _ script: RedisScript,
        keys: [any RedisArgumentConvertible] = [],
        arguments: [any RedisArgumentConvertible] = []
    ) async throws(RedisError) -> RESPValue {
        let command = RedisCommand(
            arguments: [Array("EVALSHA".utf8), Array(script.sha1.utf8), keys.count.redisArgument]
                + keys.map(\.redisArgument) + arguments.map(\.redisArgument),
            keyPositions: Array(3..<(3 + keys.count))
        )
        do {
            return try await send(command)
        } catch where error.isNoScript {
            try await load(script)
            return try await send(command)
        }
    }

    /// Loads a script into Redis's script cache.
    /// - Parameter script: The script.
    /// - Throws: As ``send(_:)``, or `unexpectedReply` when Redis computes another SHA1.
    public func load(_ script: RedisScript) async throws(RedisError) {
        let sha = try await send(RedisCommand("SCRIPT", "LOAD", script.source), as: String.self)
        guard sha == script.sha1 else {
            throw RedisError(.unexpectedReply, "SCRIPT LOAD returned \(sha), expected \(script.sha1)")
        }
    }
}
