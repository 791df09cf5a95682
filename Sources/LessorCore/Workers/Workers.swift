import LessorRedis

/// A Den worker as `GET /v1/workers/{id}` shows it.
public struct Worker: Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String?
    public var lastHeartbeatAt: Timestamp?
    public var lastActiveAt: Timestamp?
    public var isActiveRecently: Bool
    /// Up to 2^53 − 1, as Den allows.
    public var openSessionCount: Int64?
    /// True while the presence lease is live.
    public var online: Bool
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    init(hash: [String: String]) throws(RedisError) {
        guard let id = hash["id"], let createdAt = hash["createdAt"].flatMap({ Timestamp(rfc3339: $0) }) else {
            throw RedisError(.unexpectedReply, "a worker record is incomplete")
        }
        self.id = id
        self.name = hash["name"] ?? ""
        self.description = hash["description"].flatMap { $0.isEmpty ? nil : $0 }
        self.lastHeartbeatAt = hash["lastHeartbeatAt"].flatMap { Timestamp(rfc3339: $0) }
        self.lastActiveAt = hash["lastActiveAt"].flatMap { Timestamp(rfc3339: $0) }
        self.isActiveRecently = hash["isActiveRecently"] == "1"
        self.openSessionCount = hash["openSessionCount"].flatMap { Int64($0) }
        self.online = (Int(hash["presence_pttl"] ?? "") ?? -2) > 0
        self.createdAt = createdAt
        self.updatedAt = hash["updatedAt"].flatMap { Timestamp(rfc3339: $0) } ?? createdAt
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
    public var lastHeartbeatAt: Timestamp
    public var lastActiveAt: Timestamp?

    public init(lastHeartbeatAt: Timestamp, lastActiveAt: Timestamp?) {
        self.lastHeartbeatAt = lastHeartbeatAt
        self.lastActiveAt = lastActiveAt
    }
}

/// `worker_create`: registers a worker under the digest of its activity token.
public struct WorkerCreate: LessorCall {
    public static let function = "worker_create"
    public var workerID: String
    public var name: String
    public var description: String?
    public var tokenDigest: String

    public func keys(_ keys: KeySpace) -> [String] { [keys.worker(workerID)] }
    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] { [workerID, name, description ?? "", tokenDigest] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> Worker { try Worker(hash: reply.hash()) }
}

/// `worker_get`: a worker and whether its presence lease is live.
public struct WorkerGet: LessorCall {
    public static let function = "worker_get"
    public var workerID: String

    public init(workerID: String) {
        self.workerID = workerID
    }

    public func keys(_ keys: KeySpace) -> [String] { [keys.worker(workerID), keys.presence(workerID)] }
    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] { [] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> Worker { try Worker(hash: reply.hash()) }
}

/// `worker_heartbeat`: the Den activity heartbeat, which also checks the worker and its token.
public struct WorkerHeartbeat: LessorCall {
    public static let function = "worker_heartbeat"
    public var workerID: String
    /// The presented activity token, if any.
    public var token: String?
    public var heartbeat: ActivityHeartbeat
    public var presenceTTL: Duration

    public init(workerID: String, token: String?, heartbeat: ActivityHeartbeat, presenceTTL: Duration) {
        self.workerID = workerID
        self.token = token
        self.heartbeat = heartbeat
        self.presenceTTL = presenceTTL
    }

    public func keys(_ keys: KeySpace) -> [String] { [keys.worker(workerID), keys.presence(workerID)] }
    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] {
        [
            token.map(AccessTokens.digest(of:)) ?? "", heartbeat.isActiveRecently ? 1 : 0,
            heartbeat.sentAt.map { String($0.microseconds) } ?? "",
            heartbeat.lastActivityAt.map { String($0.microseconds) } ?? "",
            heartbeat.openSessionCount.map { String($0) } ?? "",
            Int(presenceTTL / .milliseconds(1)),
        ]
    }

    public func response(_ reply: FunctionReply) throws(RedisError) -> ActivityHeartbeatResult {
        guard reply.values.count == 2, let last = try reply.timestamp(0) else {
            throw RedisError(.unexpectedReply, "worker_heartbeat replied \(reply.values)")
        }
        return ActivityHeartbeatResult(lastHeartbeatAt: last, lastActiveAt: try reply.timestamp(1))
    }
}

/// The Den worker registry: registration (a set for listing, then the call) and lookups.
public struct Workers: Sendable {
    public let functions: LessorFunctions
    let ids: IdentifierGenerator

    /// Creates the store.
    public init(functions: LessorFunctions, ids: IdentifierGenerator) {
        self.functions = functions
        self.ids = ids
    }

    private var redis: RedisClient { functions.redis }
    private var keys: KeySpace { functions.keys }

    /// Registers a worker.
    /// - Returns: The worker and its activity token, shown once and stored only as a digest.
    public func create(name: String, description: String?) async throws(StoreError) -> (Worker, String) {
        let created = try await create(name: name, description: description, idempotency: nil)
        return (created.value, created.secret)
    }

    /// Registers a worker at most once per idempotency key, as ``Environments`` creates an
    /// environment: the key's reservation names the id and keeps the activity token sealed
    /// under the key, the registry learns the id, and the create runs through the key's
    /// record on the worker's own slot. A retry after any step registers that same worker
    /// with that same token once, or replays it; the token is shown again.
    /// - Returns: The worker, its activity token, and whether a record answered.
    public func create(
        name: String, description: String?, idempotency: Idempotency?
    ) async throws(StoreError) -> (value: Worker, secret: String, replayed: Bool) {
        var id = WorkerID.next(ids)
        var secret = TokenSecret.generate(.workerActivity)
        if let idempotency {
            let reserved = try await functions.call(IdempotencyReservation(idempotency: idempotency, id: id, sealedSecret: idempotency.seal(secret)))
            guard let sealed = reserved.sealedSecret, let kept = idempotency.open(sealed) else {
                throw .redis(RedisError(.unexpectedReply, "a worker's reservation holds no secret this key opens"))
            }
            (id, secret) = (reserved.id, kept)
        }
        do {
            try await redis.send(RedisCommand("SADD", key: keys.workers, id))
        } catch {
            throw .redis(error)
        }
        let call = WorkerCreate(workerID: id, name: name, description: description, tokenDigest: AccessTokens.digest(of: secret))
        let worker = try await functions.call(call, idempotency: idempotency)
        return (worker.value, secret, worker.replayed)
    }

    /// Up to `limit` workers in id order (creation order).
    public func list(limit: Int) async throws(StoreError) -> [Worker] {
        let ids: [String]
        do {
            ids = try await redis.send(RedisCommand("SMEMBERS", key: keys.workers), as: [String].self)
        } catch {
            throw .redis(error)
        }
        var workers: [Worker] = []
        for id in ids.sorted().prefix(limit) {
            do {
                workers.append(try await functions.call(WorkerGet(workerID: id)))
            } catch {
                guard case .refused(.workerNotFound) = error else { throw error }
            }
        }
        return workers
    }

    /// Checks a worker's token without changing anything (the 404 → 401 part of Den's check order).
    /// - Throws: ``Refusal/workerNotFound`` or ``Refusal/wrongWorkerToken``.
    public func authenticate(id: String, token: String?) async throws(StoreError) {
        let stored: String?
        do {
            stored = try await redis.send(RedisCommand("HGET", key: keys.worker(id), "tokenSha256"), as: String?.self)
        } catch {
            throw .redis(error)
        }
        guard let stored else { throw .refused(.workerNotFound) }
        guard let token, AccessTokens.digest(of: token) == stored else { throw .refused(.wrongWorkerToken) }
    }
}
