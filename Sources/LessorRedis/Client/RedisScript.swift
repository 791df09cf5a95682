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
    /// failover or `SCRIPT FLUSH`) it loads the script on that node and tries once more.
    /// `NOSCRIPT` means the script did not run, so the retry cannot run it twice.
    ///
    /// On a cluster the call also declares a **slot guard**: a key that never exists, with
    /// the first key's hash tag. While a slot is being migrated, a node refuses a call with
    /// a missing key (`TRYAGAIN` on both sides), so no script ever runs against half of a
    /// migrated hash tag; the client retries until the migration is done.
    /// - Parameters:
    ///   - script: The script.
    ///   - keys: Its `KEYS`; the first one routes the call on a cluster.
    ///   - arguments: Its `ARGV`.
    /// - Returns: The script's reply.
    /// - Throws: As ``send(_:)``; `notReplicated` when ``RedisConfiguration/waitReplicas``
    ///   replicas did not acknowledge it in time.
    @discardableResult
    public func evaluate(
        _ script: RedisScript,
        keys: [any RedisArgumentConvertible] = [],
        arguments: [any RedisArgumentConvertible] = []
    ) async throws(RedisError) -> RESPValue {
        var keys = keys.map(\.redisArgument)
        if case .cluster = configuration.topology, let first = keys.first, let guardKey = Self.slotGuard(for: first) {
            keys.append(guardKey)
        }
        let command = RedisCommand(
            arguments: [Array("EVALSHA".utf8), Array(script.sha1.utf8), keys.count.redisArgument] + keys + arguments.map(\.redisArgument),
            keyPositions: Array(3..<(3 + keys.count))
        )
        return try await execute(command, script: script)
    }

    /// `<everything up to the hash tag's "}">:slot-guard`: the same slot as `key`, never written.
    /// nil when `key` has no hash tag (then no other key is guaranteed its slot anyway).
    static func slotGuard(for key: [UInt8]) -> [UInt8]? {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
              let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        else { return nil }
        return Array(key[...close]) + Array(":slot-guard".utf8)
    }

    /// Loads a script into the script cache of every primary, so `/readyz` can promise that
    /// the next call finds it.
    /// - Parameter script: The script.
    /// - Throws: As ``send(_:)``, or `unexpectedReply` when Redis computes another SHA1.
    public func load(_ script: RedisScript) async throws(RedisError) {
        try await forEachPrimary { node throws(RedisError) in try await node.load(script) }
    }
}
