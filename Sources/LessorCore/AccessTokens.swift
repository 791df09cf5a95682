import Crypto
import Foundation
import LessorRedis

/// A personal access token's record (never its secret).
public struct AccessToken: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The environments it may use; nil means every environment.
    public var environmentIDs: [String]?
    public var createdAt: String
    public var expiresAt: String?
    public var revoked: Bool

    init(fields: some Collection<RESPValue>) throws(RedisError) {
        let hash = try [String: String](hashFields: fields)
        guard let id = hash["id"], let createdAt = hash["created_at"] else {
            throw RedisError(.unexpectedReply, "a token record is incomplete")
        }
        self.id = id
        self.name = hash["name"] ?? ""
        self.createdAt = createdAt
        self.expiresAt = hash["expires_at"].flatMap { $0.isEmpty ? nil : $0 }
        self.revoked = hash["revoked"] == "1"
        self.environmentIDs = (hash["environment_ids"]).flatMap { try? JSONDecoder().decode([String]?.self, from: Data($0.utf8)) } ?? nil
    }
}

/// Personal access tokens, stored only as SHA-256 digests of their secrets.
public struct AccessTokens: Sendable {
    let redis: RedisClient
    let keys: KeySpace
    let scripts = LuaScripts.embedded
    let ids: IdentifierGenerator

    /// Creates the store.
    public init(redis: RedisClient, keys: KeySpace, ids: IdentifierGenerator) {
        self.redis = redis
        self.keys = keys
        self.ids = ids
    }

    /// Lowercase hex SHA-256 of a secret.
    public static func digest(of secret: String) -> String {
        hex(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Creates a token.
    /// - Returns: The record and the secret, which is shown once and never stored.
    public func create(name: String, environmentIDs: [String]?, lifetimeSeconds: Int?) async throws(RedisError) -> (AccessToken, String) {
        var random = SystemRandomNumberGenerator()
        let secret = "lsr_" + hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &random) })
        let id = ids.next(.token)
        let digest = Self.digest(of: secret)
        let environments = environmentIDs.map { (try? JSONEncoder().encode($0)).map { String(decoding: $0, as: UTF8.self) } ?? "[]" } ?? "null"
        let reply = try await redis.evaluate(
            scripts.tokenCreate, keys: [keys.tokenRecord(digest: digest), keys.tokenID(id)],
            arguments: [id, name, environments, lifetimeSeconds.map(String.init) ?? ""])
        guard case .array(let values) = reply, values.first == .bulkString(Array("ok".utf8)) else {
            throw RedisError(.unexpectedReply, "token_create replied \(reply)")
        }
        return (try AccessToken(fields: values.dropFirst()), secret)
    }

    /// Revokes a token.
    /// - Returns: false when there is no such token.
    public func revoke(id: String) async throws(RedisError) -> Bool {
        let reply = try await redis.evaluate(scripts.tokenRevoke, keys: [keys.tokenID(id)], arguments: [keys.tokenRecordPrefix])
        return reply == .array([.bulkString(Array("ok".utf8))])
    }

    /// Every token record (revoked ones included), by scanning the token ids on every
    /// primary (on a cluster, a slot being migrated has keys on two nodes).
    public func all() async throws(RedisError) -> [AccessToken] {
        let pattern = keys.tokenID("*")
        var ids = Set<String>()
        try await redis.forEachPrimary { node throws(RedisError) in
            var cursor = "0"
            repeat {
                let reply = try await node.send(RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", 500))
                guard case .array(let parts) = reply, parts.count == 2 else { throw RedisError(.unexpectedReply, "SCAN replied \(reply)") }
                cursor = try String(fromRESP: parts[0])
                ids.formUnion(try [String](fromRESP: parts[1]))
            } while cursor != "0"
        }
        var tokens: [AccessToken] = []
        for id in ids {
            guard let digest = try await redis.send(RedisCommand("GET", key: id), as: String?.self),
                  let record = try await record(digest: digest)
            else { continue }
            tokens.append(record)
        }
        return tokens.sorted { $0.id < $1.id }
    }

    /// The record of a secret, by the secret's ``digest(of:)``, or nil when unknown or expired.
    public func record(digest: String) async throws(RedisError) -> AccessToken? {
        let reply = try await redis.send(RedisCommand("HGETALL", key: keys.tokenRecord(digest: digest)))
        guard case .array(let values) = reply, !values.isEmpty else { return nil }
        return try AccessToken(fields: values)
    }
}
