import LessorRedis

/// A Den worker as `GET /v1/workers/{id}` shows it.
public struct Worker: Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String?
    public var lastHeartbeatAt: String?
    public var lastActiveAt: String?
    public var isActiveRecently: Bool
    /// Kept as text: it may be as large as 2^53 − 1.
    public var openSessionCount: String?
    public var online: Bool
    public var createdAt: String
    public var updatedAt: String

    init(fields: some Collection<RESPValue>) throws(RedisError) {
        let hash = try [String: String](hashFields: fields)
        guard let id = hash["id"], let createdAt = hash["createdAt"] else {
            throw RedisError(.unexpectedReply, "a worker record is incomplete")
        }
        self.id = id
        self.name = hash["name"] ?? ""
        self.description = hash["description"].flatMap { $0.isEmpty ? nil : $0 }
        self.lastHeartbeatAt = hash["lastHeartbeatAt"]
        self.lastActiveAt = hash["lastActiveAt"]
        self.isActiveRecently = hash["isActiveRecently"] == "1"
        self.openSessionCount = hash["openSessionCount"]
        self.online = (Int(hash["presence_pttl"] ?? "") ?? -2) > 0
        self.createdAt = createdAt
        self.updatedAt = hash["updatedAt"] ?? createdAt
    }
}

/// One Den activity heartbeat, validated.
public struct ActivityHeartbeat: Sendable, Equatable {
    public var isActiveRecently: Bool
    public var sentAt: Timestamp?
    public var lastActivityAt: Timestamp?
    public var openSessionCount: Int64?

    public init(isActiveRecently: Bool, sentAt: Timestamp? = nil, lastActivityAt: Timestamp? = nil, openSessionCount: Int64? = nil) {
        self.isActiveRecently = isActiveRecently
        self.sentAt = sentAt
        self.lastActivityAt = lastActivityAt
        self.openSessionCount = openSessionCount
    }
}

/// What a heartbeat recorded.
public struct ActivityHeartbeatResult: Sendable, Equatable {
    public var lastHeartbeatAt: String
    public var lastActiveAt: String?
}

/// Why a worker call was refused.
public enum WorkerRefusal: Error, Sendable, Equatable {
    case notFound
    case unauthorized
}

/// The Den worker registry and heartbeat, one script per call.
public struct Workers: Sendable {
    let redis: RedisClient
    let keys: KeySpace
    let ids: IdentifierGenerator
    let presenceTTL: Duration
    let scripts = LuaScripts.embedded

    /// Creates the store.
    public init(redis: RedisClient, keys: KeySpace, ids: IdentifierGenerator, presenceTTL: Duration) {
        self.redis = redis
        self.keys = keys
        self.ids = ids
        self.presenceTTL = presenceTTL
    }

    /// Registers a worker.
    /// - Returns: The worker and its activity token, shown once and stored only as a digest.
    public func create(name: String, description: String?) async throws(RedisError) -> (Worker, String) {
        let id = WorkerID.next(ids)
        var random = SystemRandomNumberGenerator()
        let secret = "wat_" + hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &random) })
        try await redis.send(RedisCommand("SADD", key: keys.workers, id))
        let reply = try await redis.evaluate(scripts.workerCreate, keys: [keys.worker(id)], arguments: [id, name, description ?? "", AccessTokens.digest(of: secret)])
        guard case .array(let values) = reply, values.first?.bulkBytes == Array("ok".utf8) else {
            throw RedisError(.unexpectedReply, "worker_create replied \(reply)")
        }
        return (try Worker(fields: values.dropFirst()), secret)
    }

    /// Reads a worker, or nil.
    public func get(id: String) async throws(RedisError) -> Worker? {
        let reply = try await redis.evaluate(scripts.workerGet, keys: [keys.worker(id), keys.presence(id)])
        guard case .array(let values) = reply, values.first?.bulkBytes == Array("ok".utf8) else { return nil }
        return try Worker(fields: values.dropFirst())
    }

    /// Up to `limit` workers in id order (creation order).
    public func list(limit: Int) async throws(RedisError) -> [Worker] {
        let ids = try await redis.send(RedisCommand("SMEMBERS", key: keys.workers), as: [String].self).sorted().prefix(limit)
        var workers: [Worker] = []
        for id in ids {
            if let worker = try await get(id: id) { workers.append(worker) }
        }
        return workers
    }

    /// Checks a worker's token without changing anything (the 404 → 401 part of the check order).
    /// - Throws: ``WorkerRefusal`` wrapped in `WorkerCallError`.
    public func authenticate(id: String, token: String?) async throws(WorkerCallError) {
        let stored: String?
        do {
            stored = try await redis.send(RedisCommand("HGET", key: keys.worker(id), "tokenSha256"), as: String?.self)
        } catch {
            throw .redis(error)
        }
        guard let stored else { throw .refused(.notFound) }
        guard let token, AccessTokens.digest(of: token) == stored else { throw .refused(.unauthorized) }
    }

    /// Records a heartbeat: one script that also checks the worker exists and the token.
    public func heartbeat(id: String, token: String?, _ heartbeat: ActivityHeartbeat) async throws(WorkerCallError) -> ActivityHeartbeatResult {
        let reply: RESPValue
        do {
            reply = try await redis.evaluate(
                scripts.workerHeartbeat, keys: [keys.worker(id), keys.presence(id)],
                arguments: [
                    token.map(AccessTokens.digest(of:)) ?? "", heartbeat.isActiveRecently ? 1 : 0,
                    heartbeat.sentAt.map { String($0.microseconds) } ?? "",
                    heartbeat.lastActivityAt.map { String($0.microseconds) } ?? "",
                    heartbeat.openSessionCount.map { String($0) } ?? "",
                    Int(presenceTTL.components.seconds) * 1000,
                ])
        } catch {
            throw .redis(error)
        }
        guard case .array(let values) = reply, let status = values.first?.bulkBytes else {
            throw .redis(RedisError(.unexpectedReply, "worker_heartbeat replied \(reply)"))
        }
        switch String(decoding: status, as: UTF8.self) {
        case "not_found": throw .refused(.notFound)
        case "unauthorized": throw .refused(.unauthorized)
        case "ok" where values.count == 3:
            guard let last = try? String(fromRESP: values[1]) else { break }
            return ActivityHeartbeatResult(lastHeartbeatAt: last, lastActiveAt: try? String?(fromRESP: values[2]))
        default: break
        }
        throw .redis(RedisError(.unexpectedReply, "worker_heartbeat replied \(reply)"))
    }
}

/// A worker call's failure.
public enum WorkerCallError: Error, Sendable {
    case refused(WorkerRefusal)
    case redis(RedisError)
}
