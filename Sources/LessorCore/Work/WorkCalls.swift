import LessorRedis

/// A work function that acts on a whole environment: it declares the environment keys, then,
/// when it names one item, that item's hash and lease (see `lua/lessor.lua`), and its ARGV
/// start with the key prefixes and the wakeup channel.
public protocol EnvironmentCall: LessorCall {
    /// The environment the call acts on.
    var environmentID: String { get }
    /// The one item the call names, if any.
    var itemID: String? { get }
    /// The ARGV after the three the environment's functions share.
    var operationArguments: [any RedisArgumentConvertible] { get }
}

extension EnvironmentCall {
    public func keys(_ keys: KeySpace) -> [String] {
        var names = keys.environmentKeys(environmentID)
        if let itemID { names += [keys.item(environmentID, itemID), keys.lease(environmentID, itemID)] }
        return names
    }

    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] {
        keys.environmentArguments(environmentID) + operationArguments
    }

    /// The item in an `ok` reply's values.
    func item(_ reply: FunctionReply) throws(RedisError) -> WorkItem {
        try WorkItem(hash: reply.hash(), environmentID: environmentID)
    }
}

extension Duration {
    /// Whole seconds, as the functions take TTLs and retention.
    var wholeSeconds: Int { Int(components.seconds) }
}

/// `work_enqueue`: a new `queued` item.
public struct WorkEnqueue: EnvironmentCall {
    public static let function = "work_enqueue"
    public var environmentID: String
    public var workID: String
    public var sessionID: String
    public var metadata: [String: String]

    public init(environmentID: String, workID: String, sessionID: String, metadata: [String: String] = [:]) {
        self.environmentID = environmentID
        self.workID = workID
        self.sessionID = sessionID
        self.metadata = metadata
    }

    public var itemID: String? { workID }
    public var operationArguments: [any RedisArgumentConvertible] { [workID, "session", sessionID, MetadataJSON.encode(metadata)] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkItem { try item(reply) }
}

/// `work_poll`: delivers the next available item, or nil.
public struct WorkPoll: EnvironmentCall {
    /// What one poll did.
    public struct Result: Sendable, Equatable {
        /// The delivered item, if any.
        public var item: WorkItem?
        /// Items the poll's reaping stopped for lapsing too often (dead letters).
        public var deadLettered: Int
    }

    /// The redelivery window when a poll names none (`reclaim_older_than_ms`, 5000).
    public static let defaultReclaimAfter: Duration = .milliseconds(5000)
    public static let function = "work_poll"
    public var environmentID: String
    /// The poller's `Worker-ID`, if any.
    public var workerID: String?
    /// Redeliver items delivered but not acknowledged for this long.
    public var reclaimAfter: Duration
    public var retention: Duration

    public init(environmentID: String, workerID: String?, reclaimAfter: Duration = WorkPoll.defaultReclaimAfter, retention: Duration = WorkItem.defaultRetention) {
        self.environmentID = environmentID
        self.workerID = workerID
        self.reclaimAfter = reclaimAfter
        self.retention = retention
    }

    public var itemID: String? { nil }
    public var operationArguments: [any RedisArgumentConvertible] {
        [workerID ?? "", Int(reclaimAfter / .milliseconds(1)), retention.wholeSeconds]
    }
    public func response(_ reply: FunctionReply) throws(RedisError) -> Result {
        if reply.isEmpty { return Result(item: nil, deadLettered: try reply.value(0)) }
        let hash = try reply.hash()
        return Result(item: try WorkItem(hash: hash, environmentID: environmentID), deadLettered: Int(hash["dead_lettered"] ?? "") ?? 0)
    }
}

/// `work_ack`: `queued` → `starting`, the first lease, fencing token + 1.
public struct WorkAck: EnvironmentCall {
    public static let function = "work_ack"
    public var environmentID: String
    public var workID: String
    public var workerID: String?
    public var leaseTTL: Duration

    public init(environmentID: String, workID: String, workerID: String?, leaseTTL: Duration) {
        self.environmentID = environmentID
        self.workID = workID
        self.workerID = workerID
        self.leaseTTL = leaseTTL
    }

    public var itemID: String? { workID }
    public var operationArguments: [any RedisArgumentConvertible] { [workID, workerID ?? "", leaseTTL.wholeSeconds] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkItem { try item(reply) }
}

/// The reply to a successful heartbeat.
public struct HeartbeatResult: Sendable, Equatable {
    /// The stored last heartbeat; nil only for a stopped item that never had one (``WorkHeartbeat/StopHandling/report``).
    public var lastHeartbeat: Timestamp?
    public var leaseExtended: Bool
    public var state: WorkState
    public var ttl: Duration
    public var fencingToken: Int

    public init(lastHeartbeat: Timestamp?, leaseExtended: Bool, state: WorkState, ttl: Duration, fencingToken: Int) {
        self.lastHeartbeat = lastHeartbeat
        self.leaseExtended = leaseExtended
        self.state = state
        self.ttl = ttl
        self.fencingToken = fencingToken
    }
}

/// `work_heartbeat`, the seed: compare-and-set of the last heartbeat and renewal of the lease.
/// The hot path: it declares only the four keys it may touch.
public struct WorkHeartbeat: LessorCall {
    /// What a heartbeat on a `stopping` or `stopped` item does; the API families differ.
    public enum StopHandling: String, Sendable {
        /// The Qoder family: the expectation is compared as always, and a stopped item is a conflict (409).
        case refuse
        /// The Anthropic family: the expectation is not compared while stopping or stopped, and
        /// a stopped item answers with its state, `lease_extended` false and a TTL of 0.
        case report
    }

    public static let function = "work_heartbeat"
    public static let functionName = LessorLibrary.functionName(function)
    public var environmentID: String
    public var workID: String
    /// When given, the item must be held under it.
    public var workerID: String?
    /// nil: unconditional.
    public var expected: ExpectedLastHeartbeat?
    public var ttl: Duration
    public var stopHandling: StopHandling

    public init(environmentID: String, workID: String, workerID: String?, expected: ExpectedLastHeartbeat?, ttl: Duration, stopHandling: StopHandling = .refuse) {
        self.environmentID = environmentID
        self.workID = workID
        self.workerID = workerID
        self.expected = expected
        self.ttl = ttl
        self.stopHandling = stopHandling
    }

    public func keys(_ keys: KeySpace) -> [String] {
        keys.heartbeatKeys(environmentID, workID)
    }

    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] {
        let precondition: String
        switch expected {
        case nil: precondition = ""
        case .none?: precondition = "NO_HEARTBEAT"
        case .at(let instant)?: precondition = instant.rfc3339
        }
        return [workID, workerID ?? "", precondition, ttl.wholeSeconds, stopHandling.rawValue]
    }

    public func response(_ reply: FunctionReply) throws(RedisError) -> HeartbeatResult {
        guard reply.values.count == 5, let state = WorkState(rawValue: try reply.value(2, as: String.self)) else {
            throw RedisError(.unexpectedReply, "work_heartbeat replied \(reply.values)")
        }
        // '' only for a stopped item that never had a heartbeat (StopHandling.report).
        let text = try reply.value(0, as: String.self)
        let last = Timestamp(rfc3339: text)
        guard last != nil || (text.isEmpty && state == .stopped) else {
            throw RedisError(.unexpectedReply, "work_heartbeat replied \(reply.values)")
        }
        return HeartbeatResult(
            lastHeartbeat: last, leaseExtended: try reply.value(1, as: Int.self) == 1, state: state,
            ttl: .seconds(try reply.value(3, as: Int.self)), fencingToken: try reply.value(4, as: Int.self))
    }
}

/// `work_stop`: a graceful or forced stop.
public struct WorkStop: EnvironmentCall {
    public static let function = "work_stop"
    public var environmentID: String
    public var workID: String
    public var force: Bool
    /// The caller's worker id: a graceful stop that names the holder is `completed`.
    public var workerID: String?
    public var retention: Duration

    public init(environmentID: String, workID: String, force: Bool, workerID: String? = nil, retention: Duration = WorkItem.defaultRetention) {
        self.environmentID = environmentID
        self.workID = workID
        self.force = force
        self.workerID = workerID
        self.retention = retention
    }

    public var itemID: String? { workID }
    public var operationArguments: [any RedisArgumentConvertible] { [workID, force ? 1 : 0, retention.wholeSeconds, workerID ?? ""] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkItem { try item(reply) }
}

/// `work_get`: one item.
public struct WorkGet: EnvironmentCall {
    public static let function = "work_get"
    public var environmentID: String
    public var workID: String

    public init(environmentID: String, workID: String) {
        self.environmentID = environmentID
        self.workID = workID
    }

    public var itemID: String? { workID }
    public var operationArguments: [any RedisArgumentConvertible] { [workID] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkItem { try item(reply) }
}

/// `work_metadata`: a metadata merge patch; a value upserts, nil deletes.
public struct WorkMetadata: EnvironmentCall {
    public static let function = "work_metadata"
    public var environmentID: String
    public var workID: String
    public var patch: [String: String?]

    public init(environmentID: String, workID: String, patch: [String: String?]) {
        self.environmentID = environmentID
        self.workID = workID
        self.patch = patch
    }

    public var itemID: String? { workID }
    public var operationArguments: [any RedisArgumentConvertible] { [workID, MetadataJSON.encode(patch)] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkItem { try item(reply) }
}

/// One page of ``WorkList``.
public struct WorkPage: Sendable, Equatable {
    public var items: [WorkItem]
    public var hasMore: Bool
}

/// `work_list`: one page of items in id order.
public struct WorkList: EnvironmentCall {
    /// Where a page starts.
    public enum Boundary: Sendable, Equatable {
        /// Items after this id (exclusive); nil: from the first.
        case after(String?)
        /// Items before this id (exclusive); nil: up to the last.
        case before(String?)
    }

    public static let function = "work_list"
    public var environmentID: String
    /// 1–100.
    public var limit: Int
    public var boundary: Boundary
    /// Only items in this state.
    public var state: WorkState?
    /// Only items stopped for this reason.
    public var stopReason: StopReason?

    public init(environmentID: String, limit: Int, boundary: Boundary = .after(nil), state: WorkState? = nil, stopReason: StopReason? = nil) {
        self.environmentID = environmentID
        self.limit = limit
        self.boundary = boundary
        self.state = state
        self.stopReason = stopReason
    }

    public var itemID: String? { nil }
    public var operationArguments: [any RedisArgumentConvertible] {
        let filters = [state?.rawValue ?? "", stopReason?.rawValue ?? ""]
        switch boundary {
        case .after(let id): return [limit, "after", id ?? ""] + filters
        case .before(let id): return [limit, "before", id ?? ""] + filters
        }
    }

    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkPage {
        var items: [WorkItem] = []
        for value in reply.values.dropFirst() {
            guard case .array(let fields) = value else { throw RedisError(.unexpectedReply, "work_list replied a non-item") }
            items.append(try WorkItem(hash: [String: String](hashFields: fields), environmentID: environmentID))
        }
        return WorkPage(items: items, hasMore: try reply.value(0, as: Int.self) == 1)
    }
}

/// The figures of `GET .../work/stats`.
public struct WorkQueueStats: Sendable, Equatable {
    public var depth: Int
    public var pending: Int
    public var oldestQueuedAt: Timestamp?
    public var workersPolling: Int
    /// Items the call's reaping stopped for lapsing too often (not shown: the metric counts them).
    public var deadLettered: Int

    public init(depth: Int, pending: Int, oldestQueuedAt: Timestamp?, workersPolling: Int, deadLettered: Int = 0) {
        self.depth = depth
        self.pending = pending
        self.oldestQueuedAt = oldestQueuedAt
        self.workersPolling = workersPolling
        self.deadLettered = deadLettered
    }
}

/// `work_stats`: the environment's queue figures.
public struct WorkStats: EnvironmentCall {
    /// The longest `workers_polling` window: a poll's Worker-ID is kept this long.
    public static let longestPollingWindow: Duration = .seconds(60)
    public static let function = "work_stats"
    public var environmentID: String
    /// `workers_polling` counts the Worker-IDs that polled within this window (at most ``longestPollingWindow``).
    public var pollingWindow: Duration
    public var retention: Duration

    public init(environmentID: String, pollingWindow: Duration = WorkStats.longestPollingWindow, retention: Duration = WorkItem.defaultRetention) {
        self.environmentID = environmentID
        self.pollingWindow = min(pollingWindow, Self.longestPollingWindow)
        self.retention = retention
    }

    public var itemID: String? { nil }
    public var operationArguments: [any RedisArgumentConvertible] {
        [Int(WorkPoll.defaultReclaimAfter / .milliseconds(1)), retention.wholeSeconds, Int(pollingWindow / .milliseconds(1))]
    }

    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkQueueStats {
        guard reply.values.count == 5 else { throw RedisError(.unexpectedReply, "work_stats replied \(reply.values)") }
        return WorkQueueStats(
            depth: try reply.value(0), pending: try reply.value(1), oldestQueuedAt: try reply.timestamp(2), workersPolling: try reply.value(3),
            deadLettered: try reply.value(4))
    }
}

/// `work_expire_lease`: ends an item's lease now, as if it had lapsed (`lessor lease expire`).
public struct WorkExpireLease: EnvironmentCall {
    public static let function = "work_expire_lease"
    public var environmentID: String
    public var workID: String
    public var retention: Duration

    public init(environmentID: String, workID: String, retention: Duration = WorkItem.defaultRetention) {
        self.environmentID = environmentID
        self.workID = workID
        self.retention = retention
    }

    public var itemID: String? { workID }
    public var operationArguments: [any RedisArgumentConvertible] { [workID, retention.wholeSeconds] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkItem { try item(reply) }
}

/// `work_reap`: the reaper's step for one environment.
public struct WorkReap: EnvironmentCall {
    /// What one step did.
    public struct Result: Sendable, Equatable {
        /// Lapsed leases requeued (or stopped, from `stopping`).
        public var reaped: Int
        /// True when more lapsed leases are due now.
        public var more: Bool
        /// Items stopped for lapsing too often (dead letters) among the reaped.
        public var deadLettered: Int
    }

    public static let function = "work_reap"
    public var environmentID: String
    /// Lapsed leases handled per call, so no call stalls Redis.
    public var batch: Int
    public var retention: Duration

    public init(environmentID: String, batch: Int, retention: Duration = WorkItem.defaultRetention) {
        self.environmentID = environmentID
        self.batch = batch
        self.retention = retention
    }

    public var itemID: String? { nil }
    public var operationArguments: [any RedisArgumentConvertible] { [batch, retention.wholeSeconds] }

    public func response(_ reply: FunctionReply) throws(RedisError) -> Result {
        Result(reaped: try reply.value(0), more: try reply.value(1, as: Int.self) == 1, deadLettered: try reply.value(3))
    }
}
