import LessorRedis

/// The environments: each a hash on its own slot, plus a registry of every id (for the reaper
/// and for listing). The registry has no hash tag, so it never shares a call with an
/// environment; the order of the two writes keeps the registry a superset of what exists.
public struct Environments: Sendable {
    public let functions: LessorFunctions

    /// Creates the store.
    public init(functions: LessorFunctions) {
        self.functions = functions
    }

    private var redis: RedisClient { functions.redis }
    private var keys: KeySpace { functions.keys }

    /// Creates an environment and registers it (registered first, so a crash in between
    /// leaves at most a registry entry without an environment, which the reaper and listing
    /// skip).
    public func create(_ call: EnvironmentCreate) async throws(StoreError) -> WorkEnvironment {
        try await create(call, idempotency: nil).value
    }

    /// Creates an environment at most once per idempotency key. Three steps, each safe to die
    /// after: the key's reservation on the principal's slot names the id (this call's, or
    /// the one an earlier request with the key reserved), the registry learns that id, and the
    /// create runs through the key's record on the new environment's own slot — so a retry
    /// after any of them creates that same environment once, or replays its creation.
    /// - Parameters:
    ///   - call: The create, with a freshly minted id (replaced by a reserved one on a retry).
    ///   - idempotency: The request's key, or nil.
    public func create(_ call: EnvironmentCreate, idempotency: Idempotency?) async throws(StoreError) -> Replayable<WorkEnvironment> {
        var call = call
        if let idempotency {
            call.environmentID = try await functions.call(IdempotencyReservation(idempotency: idempotency, id: call.environmentID)).id
        }
        do {
            try await redis.send(RedisCommand("SADD", key: keys.environments, call.environmentID))
        } catch {
            throw .redis(error)
        }
        return try await functions.call(call, idempotency: idempotency)
    }

    /// Reads an environment, or nil when there is none.
    public func get(id: String) async throws(StoreError) -> WorkEnvironment? {
        do throws(RedisError) {
            let reply = try await redis.send(RedisCommand("HGETALL", key: keys.environment(id)))
            guard case .array(let values) = reply, !values.isEmpty else { return nil }
            return try WorkEnvironment(id: id, hash: [String: String](hashFields: values))
        } catch {
            throw .redis(error)
        }
    }

    /// Deletes an environment with its items, then its registry entry (a crash in between
    /// leaves an entry that names nothing, which the reaper and listing skip).
    /// - Throws: ``Refusal/environmentNotFound``, or ``Refusal/conflict(_:)`` with
    ///   ``ConflictReason/liveLeases`` while a worker holds a lease in it.
    public func delete(id: String) async throws(StoreError) {
        try await functions.call(EnvironmentDelete(environmentID: id))
        do {
            try await redis.send(RedisCommand("SREM", key: keys.environments, id))
        } catch {
            throw .redis(error)
        }
    }

    /// One page of environments in id (creation) order.
    /// - Parameters:
    ///   - after: Start after this id (exclusive); nil: from the first.
    ///   - limit: At most this many (1–100).
    ///   - includeArchived: Whether archived environments are listed.
    ///   - visible: Which ids the caller may see.
    /// - Returns: The page, and whether more environments follow it.
    public func list(
        after: String?, limit: Int, includeArchived: Bool, visible: (String) -> Bool
    ) async throws(StoreError) -> (environments: [WorkEnvironment], hasMore: Bool) {
        var candidates = try await ids().filter(visible).sorted()
        if let after { candidates.removeAll { $0 <= after } }
        var page: [WorkEnvironment] = []
        var next = candidates[...]
        // Reads in batches of the page's size until it is full: archived and vanished ones are skipped.
        while page.count <= limit, !next.isEmpty {
            let batch = next.prefix(limit + 1 - page.count)
            next = next.dropFirst(batch.count)
            for environment in try await read(Array(batch)) where includeArchived || environment.archivedAt == nil {
                page.append(environment)
            }
        }
        let hasMore = page.count > limit
        return (Array(page.prefix(limit)), hasMore)
    }

    /// The environments of these ids that exist, in the ids' order, read concurrently.
    private func read(_ ids: [String]) async throws(StoreError) -> [WorkEnvironment] {
        try await concurrently(ids) { id throws(StoreError) in try await get(id: id) }.compactMap { $0 }
    }

    /// Every registered environment id (the reaper's list).
    public func ids() async throws(StoreError) -> [String] {
        do throws(RedisError) {
            return try await redis.send(RedisCommand("SMEMBERS", key: keys.environments), as: [String].self)
        } catch {
            throw .redis(error)
        }
    }
}
