import Crypto
import Foundation
import LessorRedis

/// A personal access token's record (never its secret).
public struct AccessToken: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The environments it may use; nil means every environment.
    public var environmentIDs: [String]?
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var revoked: Bool

    init(hash: [String: String]) throws(RedisError) {
        guard let id = hash["id"], let createdAt = hash["created_at"].flatMap({ Timestamp(rfc3339: $0) }) else {
            throw RedisError(.unexpectedReply, "a token record is incomplete")
        }
        self.id = id
        self.name = hash["name"] ?? ""
        self.createdAt = createdAt
        self.expiresAt = hash["expires_at"].flatMap { Timestamp(rfc3339: $0) }
        self.revoked = hash["revoked"] == "1"
        self.environmentIDs = (hash["environment_ids"]).flatMap { try? JSONDecoder().decode([String]?.self, from: Data($0.utf8)) } ?? nil
    }
}

/// `token_create`: stores a token record by the digest of its secret.
public struct TokenCreate: LessorCall {
    public static let function = "token_create"
    public var id: String
    public var digest: String
    public var name: String
    public var environmentIDs: [String]?
    public var lifetime: Duration?

    public func keys(_ keys: KeySpace) -> [String] { [keys.tokenRecord(digest: digest), keys.tokenID(id)] }
    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] {
        let environments = environmentIDs.map { (try? JSONEncoder().encode($0)).map { String(decoding: $0, as: UTF8.self) } ?? "[]" } ?? "null"
        return [id, name, environments, lifetime.map { String($0.wholeSeconds) } ?? ""]
    }
    public func response(_ reply: FunctionReply) throws(RedisError) -> AccessToken { try AccessToken(hash: reply.hash()) }
}

/// `token_revoke`: marks a token revoked (again: the same answer).
public struct TokenRevoke: LessorCall {
    public static let function = "token_revoke"
    public var id: String

    public init(id: String) {
        self.id = id
    }

    public func keys(_ keys: KeySpace) -> [String] { [keys.tokenID(id)] }
    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] { [keys.tokenRecordPrefix] }
    public func response(_ reply: FunctionReply) throws(RedisError) {}
}

/// Personal access tokens, stored only as SHA-256 digests of their secrets.
public struct AccessTokens: Sendable {
    public let functions: LessorFunctions
    let ids: IdentifierGenerator

    /// Creates the store.
    public init(functions: LessorFunctions, ids: IdentifierGenerator) {
        self.functions = functions
        self.ids = ids
    }

    private var redis: RedisClient { functions.redis }
    private var keys: KeySpace { functions.keys }

    /// Lowercase hex SHA-256 of a secret.
    public static func digest(of secret: String) -> String {
        hex(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Creates a token.
    /// - Returns: The record and the secret, which is shown once and never stored.
    public func create(name: String, environmentIDs: [String]?, lifetime: Duration?) async throws(StoreError) -> (AccessToken, String) {
        let created = try await create(name: name, environmentIDs: environmentIDs, lifetime: lifetime, idempotency: nil)
        return (created.value, created.secret)
    }

    /// Creates a token at most once per idempotency key. Every token record is on the
    /// `{tokens}` slot, so the key's record is too, written by the same call; it keeps the
    /// secret sealed under the key, and a replay opens it: the same secret, shown again.
    /// - Returns: The record, the secret, and whether a record answered.
    public func create(
        name: String, environmentIDs: [String]?, lifetime: Duration?, idempotency: Idempotency?
    ) async throws(StoreError) -> (value: AccessToken, secret: String, replayed: Bool) {
        let secret = TokenSecret.generate(.personalAccess)
        let call = TokenCreate(id: ids.next(.token), digest: Self.digest(of: secret), name: name, environmentIDs: environmentIDs, lifetime: lifetime)
        let created = try await functions.call(call, idempotency: idempotency, sealedSecret: idempotency?.seal(secret))
        guard created.replayed else { return (created.value, secret, false) }
        guard let idempotency, let sealed = created.sealedSecret, let shown = idempotency.open(sealed) else {
            throw .redis(RedisError(.unexpectedReply, "a replayed token record holds no secret this key opens"))
        }
        return (created.value, shown, true)
    }

    /// Revokes a token.
    /// - Throws: ``Refusal/tokenNotFound`` when there is no such token.
    public func revoke(id: String) async throws(StoreError) {
        try await functions.call(TokenRevoke(id: id))
    }

    /// Every token record (revoked ones included), by scanning the token ids on every
    /// primary (on a cluster, a slot being migrated has keys on two nodes).
    public func all() async throws(StoreError) -> [AccessToken] {
        do throws(RedisError) {
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
        } catch {
            throw .redis(error)
        }
    }

    /// The record of a secret, by the secret's ``digest(of:)``, or nil when unknown or expired.
    public func record(digest: String) async throws(RedisError) -> AccessToken? {
        let reply = try await redis.send(RedisCommand("HGETALL", key: keys.tokenRecord(digest: digest)))
        guard case .array(let values) = reply, !values.isEmpty else { return nil }
        return try AccessToken(hash: [String: String](hashFields: values))
    }
}
