import LessorRedis

/// Why a work-API script refused: the expected outcomes, mapped to HTTP in one place per API family.
public enum WorkRefusal: Error, Sendable, Equatable {
    /// No such environment (404).
    case environmentNotFound
    /// The environment is not `self_hosted` (400); carries its type.
    case environmentNotSelfHosted(String)
    /// No such work item (404).
    case workNotFound
    /// The item's state forbids the call (409); carries the script's reason.
    case conflict(String)
    /// A precondition failed (412); carries the script's reason.
    case preconditionFailed(String)
}

/// A work-API call's failure: a refusal the client caused, or Redis trouble.
public enum WorkError: Error, Sendable {
    case refused(WorkRefusal)
    case redis(RedisError)
}

/// The reply to a successful heartbeat.
public struct HeartbeatResult: Sendable, Equatable {
    public var lastHeartbeat: String
    public var leaseExtended: Bool
    public var state: WorkState
    public var ttlSeconds: Int
    public var fencingToken: Int
}

/// One page of ``WorkLeaseScripts/list(environmentID:limit:after:before:)``.
public struct WorkPage: Sendable, Equatable {
    public var items: [WorkItem]
    public var hasMore: Bool
}

/// The figures of `GET .../work/stats`.
public struct WorkStats: Sendable, Equatable {
    public var depth: Int
    public var pending: Int
    public var oldestQueuedAt: String?
    public var workersPolling: Int
}

/// One typed call per Lua script of the work API. Each is exactly one `EVALSHA`: every
/// lease decision happens inside Redis, atomically, on Redis's clock.
public struct WorkLeaseScripts: Sendable {
    /// How long stopped items stay readable before their keys expire (default 7 days).
    public static let defaultRetention: Duration = .seconds(7 * 86_400)
    /// The redelivery window `stats` reports against (the poll default).
    public static let defaultReclaimMilliseconds = 5000

    let redis: RedisClient
    let keys: KeySpace
    let scripts: LuaScripts
    let retentionSeconds: Int

    /// Creates the calls.
    /// - Parameters:
    ///   - redis: The client.
    ///   - keys: Key names under the namespace.
    ///   - retention: How long stopped items are kept.
    public init(redis: RedisClient, keys: KeySpace, retention: Duration = WorkLeaseScripts.defaultRetention) {
        self.redis = redis
        self.keys = keys
        self.scripts = .embedded
        self.retentionSeconds = Int(retention.components.seconds)
    }

    /// Runs a script against an environment and turns refusal replies into ``WorkRefusal``.
    private func run(_ script: RedisScript, _ environmentID: String, _ arguments: [any RedisArgumentConvertible]) async throws(WorkError) -> [RESPValue] {
        let reply: RESPValue
        do {
            reply = try await redis.evaluate(script, keys: [keys.environment(environmentID)], arguments: arguments)
        } catch {
            throw .redis(error)
        }
        guard case .array(let values) = reply, let first = values.first, let status = try? String(fromRESP: first) else {
            throw .redis(RedisError(.unexpectedReply, "a work script replied \(reply)"))
        }
        let detail = values.count > 1 ? (try? String(fromRESP: values[1])) ?? "" : ""
        switch status {
        case "ok", "empty": return values
        case "environment_not_found": throw .refused(.environmentNotFound)
        case "environment_not_self_hosted": throw .refused(.environmentNotSelfHosted(detail))
        case "not_found": throw .refused(.workNotFound)
        case "conflict": throw .refused(.conflict(detail))
        case "precondition_failed": throw .refused(.preconditionFailed(detail))
        default: throw .redis(RedisError(.unexpectedReply, "a work script replied \(status)"))
        }
    }

    /// The item in a `{ 'ok', field, value, ... }` reply.
    private func item(_ values: some Collection<RESPValue>, _ environmentID: String) throws(WorkError) -> WorkItem {
        do {
            return try WorkItem(fields: values.dropFirst(), environmentID: environmentID)
        } catch {
            throw .redis(error)
        }
    }

    /// Enqueues a new `queued` item.
    public func enqueue(environmentID: String, workID: String, dataType: String, sessionID: String, metadata: [String: String]) async throws(WorkError) -> WorkItem {
        let values = try await run(scripts.workEnqueue, environmentID, [workID, dataType, sessionID, MetadataJSON.encode(metadata)])
        return try item(values, environmentID)
    }

    /// Delivers the next available item, or nil.
    /// - Parameters:
    ///   - workerID: The poller's `Worker-ID`, if any.
    ///   - reclaimMilliseconds: Redeliver items delivered but not acknowledged for this long.
    public func poll(environmentID: String, workerID: String?, reclaimMilliseconds: Int) async throws(WorkError) -> WorkItem? {
        let values = try await run(scripts.workPoll, environmentID, [workerID ?? "", reclaimMilliseconds, retentionSeconds])
        if values.count == 1 { return nil }  // { 'empty' }
        return try item(values, environmentID)
    }

    /// Acknowledges an item: `queued` → `starting`, first lease, fencing token + 1.
    public func ack(environmentID: String, workID: String, workerID: String?, ttlSeconds: Int) async throws(WorkError) -> WorkItem {
        let values = try await run(scripts.workAck, environmentID, [workID, workerID ?? "", ttlSeconds])
        return try item(values, environmentID)
    }

    /// The seed: compare-and-set of the last heartbeat and renewal of the lease.
    public func heartbeat(environmentID: String, workID: String, workerID: String?, expected: ExpectedLastHeartbeat?, ttlSeconds: Int) async throws(WorkError) -> HeartbeatResult {
        let precondition: String
        switch expected {
        case nil: precondition = ""
        case .none?: precondition = "NO_HEARTBEAT"
        case .at(let instant)?: precondition = instant.rfc3339
        }
        let values = try await run(scripts.workHeartbeat, environmentID, [workID, workerID ?? "", precondition, ttlSeconds])
        guard values.count == 6, let last = try? String(fromRESP: values[1]), let extended = try? Int(fromRESP: values[2]),
              let state = (try? String(fromRESP: values[3])).flatMap(WorkState.init(rawValue:)),
              let ttl = try? Int(fromRESP: values[4]), let token = try? Int(fromRESP: values[5])
        else { throw .redis(RedisError(.unexpectedReply, "work_heartbeat replied \(values)")) }
        return HeartbeatResult(lastHeartbeat: last, leaseExtended: extended == 1, state: state, ttlSeconds: ttl, fencingToken: token)
    }

    /// Stops an item, gracefully or by force.
    public func stop(environmentID: String, workID: String, force: Bool) async throws(WorkError) -> WorkItem {
        let values = try await run(scripts.workStop, environmentID, [workID, force ? 1 : 0, retentionSeconds])
        return try item(values, environmentID)
    }

    /// Reads an item.
    public func get(environmentID: String, workID: String) async throws(WorkError) -> WorkItem {
        let values = try await run(scripts.workGet, environmentID, [workID])
        return try item(values, environmentID)
    }

    /// Merge-patches an item's metadata: a value upserts, nil deletes.
    public func patchMetadata(environmentID: String, workID: String, patch: [String: String?]) async throws(WorkError) -> WorkItem {
        let values = try await run(scripts.workMetadata, environmentID, [workID, MetadataJSON.encode(patch)])
        return try item(values, environmentID)
    }

    /// One page of items in id order.
    /// - Parameters:
    ///   - limit: 1–100.
    ///   - after: Items after this id (exclusive).
    ///   - before: Items before this id (exclusive); `after` and `before` are exclusive of each other.
    public func list(environmentID: String, limit: Int, after: String?, before: String?) async throws(WorkError) -> WorkPage {
        let direction = before == nil ? "after" : "before"
        let values = try await run(scripts.workList, environmentID, [limit, direction, before ?? after ?? ""])
        var items: [WorkItem] = []
        for case .array(let fields) in values.dropFirst(2) {
            items.append(try item([.simpleString("ok")] + fields, environmentID))
        }
        return WorkPage(items: items, hasMore: values.count > 1 && values[1] == .integer(1))
    }

    /// The environment's queue figures.
    public func stats(environmentID: String) async throws(WorkError) -> WorkStats {
        let values = try await run(scripts.workStats, environmentID, [Self.defaultReclaimMilliseconds, retentionSeconds])
        guard values.count == 5, let depth = try? Int(fromRESP: values[1]), let pending = try? Int(fromRESP: values[2]),
              let polling = try? Int(fromRESP: values[4])
        else { throw .redis(RedisError(.unexpectedReply, "work_stats replied \(values)")) }
        return WorkStats(depth: depth, pending: pending, oldestQueuedAt: try? String?(fromRESP: values[3]), workersPolling: polling)
    }

    /// Ends an item's lease now, as if it had lapsed (the SRE tool `lessor lease expire`).
    public func expireLease(environmentID: String, workID: String) async throws(WorkError) -> WorkItem {
        let values = try await run(scripts.workExpireLease, environmentID, [workID, retentionSeconds])
        return try item(values, environmentID)
    }

    /// The reaper's step for one environment.
    /// - Returns: How many lapsed leases it handled and whether more are due now.
    public func reap(environmentID: String, batch: Int) async throws(WorkError) -> (reaped: Int, more: Bool) {
        let values = try await run(scripts.workReap, environmentID, [batch, retentionSeconds])
        guard values.count >= 3, let reaped = try? Int(fromRESP: values[1]) else {
            throw .redis(RedisError(.unexpectedReply, "work_reap replied \(values)"))
        }
        return (reaped, values[2] == .integer(1))
    }
}
