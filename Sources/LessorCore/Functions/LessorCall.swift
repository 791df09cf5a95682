import LessorRedis

/// One call of a function of the `lessor_v5` library (`lua/lessor.lua`): which function, the
/// keys it declares, its arguments and the type of its reply. Adding an operation means its
/// Lua function, one of these, and its HTTP mapping.
public protocol LessorCall: Sendable {
    /// What a successful call returns.
    associatedtype Response: Sendable

    /// The function's name without the library prefix, e.g. `work_heartbeat`.
    static var function: String { get }

    /// The function's full name, `lessor_v5_work_heartbeat`; a call on the hot path keeps it
    /// in a `static let` instead of joining it on every call.
    static var functionName: String { get }

    /// Every key known before the call, in the order the function's header lists them.
    /// - Parameter keys: Where the names come from.
    func keys(_ keys: KeySpace) -> [String]

    /// The function's ARGV.
    /// - Parameter keys: Where key prefixes and channel names come from.
    func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible]

    /// Reads a reply whose status was `ok` or `empty`; refusals never get here.
    /// - Throws: `unexpectedReply` when the reply does not have the function's documented shape.
    func response(_ reply: FunctionReply) throws(RedisError) -> Response
}

extension LessorCall {
    public static var functionName: String { LessorLibrary.functionName(function) }
}

/// A reply that is not a refusal: its status and the values after it.
public struct FunctionReply: Sendable {
    /// `ok`, or `empty` (a poll that found nothing).
    public var isEmpty: Bool
    /// The reply after the status word.
    public var values: ArraySlice<RESPValue>
    /// Set when the reply was recorded by an earlier request with the same idempotency key.
    public var replay: Replay?

    /// What a replayed reply brings besides the recorded one.
    public struct Replay: Sendable {
        /// The secret the record keeps, sealed.
        public var sealedSecret: String?
    }

    public init(isEmpty: Bool, values: ArraySlice<RESPValue>, replay: Replay? = nil) {
        self.isEmpty = isEmpty
        self.values = values
        self.replay = replay
    }

    /// The value at `offset` after the status, decoded.
    /// - Throws: `unexpectedReply` when it is missing or of another type.
    public func value<Value: RESPDecodable>(_ offset: Int, as type: Value.Type = Value.self) throws(RedisError) -> Value {
        let index = values.startIndex + offset
        guard index < values.endIndex else { throw RedisError(.unexpectedReply, "a reply has \(values.count) values, not \(offset + 1)") }
        return try Value(fromRESP: values[index])
    }

    /// The value at `offset` after the status as a timestamp the library wrote; nil when null.
    /// - Throws: `unexpectedReply` when it is missing or not RFC 3339 text.
    public func timestamp(_ offset: Int) throws(RedisError) -> Timestamp? {
        guard let text = try value(offset, as: String?.self) else { return nil }
        guard let instant = Timestamp(rfc3339: text) else { throw RedisError(.unexpectedReply, "a reply's value \(offset) is not a timestamp") }
        return instant
    }

    /// The values after the status as a hash (`field, value, ...`).
    /// - Throws: `unexpectedReply` when they are not all strings.
    public func hash() throws(RedisError) -> [String: String] {
        try [String: String](hashFields: values)
    }
}

/// Why a function refused: the expected outcomes a client causes, decoded once from the
/// reply's status word and mapped to HTTP in one place per API family.
public enum Refusal: Error, Sendable, Equatable {
    /// No such environment.
    case environmentNotFound
    /// The environment is not `self_hosted`; carries its type.
    case environmentNotSelfHosted(EnvironmentKind)
    /// The environment is archived: it takes no new work and no updates.
    case environmentArchived
    /// An update named another `config.type` than the environment's, which never changes; carries the stored one.
    case invalidConfigTypeChange(EnvironmentKind)
    /// No such work item.
    case workNotFound
    /// The item's state forbids the call.
    case conflict(ConflictReason)
    /// A precondition of the heartbeat does not hold; carries the lease as the server holds it.
    case preconditionFailed(PreconditionReason, current: LeaseState)
    /// No such Den worker.
    case workerNotFound
    /// The presented activity token is not that worker's.
    case wrongWorkerToken
    /// No such personal access token.
    case tokenNotFound
    /// The request's idempotency key was used for another request (another body, route or item).
    case idempotencyConflict
}

/// Why an item's state forbids a call (409).
public enum ConflictReason: String, Sendable, Equatable, CaseIterable {
    /// The item is queued: no lease to renew.
    case queued
    /// The item is stopping: it takes no new ack.
    case stopping
    /// The item is stopped.
    case stopped
    /// Another worker holds the item.
    case heldByAnotherWorker = "held_by_another_worker"
    /// The item was delivered to another worker, which may still ack it.
    case deliveredToAnotherWorker = "delivered_to_another_worker"
    /// The environment cannot be deleted: a worker holds a live lease in it.
    case liveLeases = "live_leases"
}

/// A work item's lease as the server holds it, reported with a refused heartbeat.
public struct LeaseState: Sendable, Equatable {
    public var state: WorkState
    /// The stored last heartbeat; nil when there has been none.
    public var lastHeartbeat: Timestamp?
    /// What is left of the lease; nil when none is live.
    public var remaining: Duration?

    public init(state: WorkState, lastHeartbeat: Timestamp?, remaining: Duration?) {
        self.state = state
        self.lastHeartbeat = lastHeartbeat
        self.remaining = remaining
    }

    /// Reads `state, last_heartbeat | false, lease_pttl_ms`; nil when they have another shape.
    init?(_ reply: FunctionReply) {
        do {
            guard let state = WorkState(rawValue: try reply.value(0, as: String.self)) else { return nil }
            let pttl = try reply.value(2, as: Int.self)
            self.init(state: state, lastHeartbeat: try reply.timestamp(1), remaining: pttl > 0 ? .milliseconds(pttl) : nil)
        } catch {
            return nil
        }
    }
}

/// Why a precondition failed (412).
public enum PreconditionReason: String, Sendable, Equatable, CaseIterable {
    /// The heartbeat's `Worker-ID` is not the holder's.
    case heldByAnotherWorker = "held_by_another_worker"
    /// `expected_last_heartbeat` is not the item's last heartbeat.
    case lastHeartbeatMismatch = "last_heartbeat_mismatch"
}

/// A call's failure: a refusal the client caused, or trouble with Redis (unreachable,
/// outcome unknown, or a reply no function documents, which is a bug).
public enum StoreError: Error, Sendable {
    case refused(Refusal)
    /// A refusal recorded by an earlier request with the same idempotency key, answered again.
    case replayed(Refusal)
    case redis(RedisError)
}

/// Runs typed calls of the `lessor_v5` library: exactly one `FCALL` each (plus a library
/// load, once, on a node that lacks it).
public struct LessorFunctions: Sendable {
    /// The client the calls go through.
    public let redis: RedisClient
    /// Where key names come from.
    public let keys: KeySpace
    /// When set, every call is acknowledged only once that many replicas have it.
    public let wait: ReplicationWait?
    @usableFromInline let guardsSlots: Bool

    /// Creates the runner.
    /// - Parameters:
    ///   - redis: The client.
    ///   - keys: Key names under the namespace.
    ///   - wait: `WAIT` after every call (`LESSOR_REDIS_WAIT_REPLICAS`), or nil.
    public init(redis: RedisClient, keys: KeySpace, wait: ReplicationWait? = nil) {
        self.redis = redis
        self.keys = keys
        self.wait = wait
        if case .cluster = redis.configuration.topology { guardsSlots = true } else { guardsSlots = false }
    }

    /// Runs one call.
    ///
    /// Inlinable so that callers in other modules (the routes) get a copy specialized for
    /// their call type instead of the generic one: the heartbeat runs through here.
    /// - Returns: The call's response.
    /// - Throws: ``StoreError/refused(_:)`` for an expected refusal, ``StoreError/redis(_:)``
    ///   for Redis trouble or a reply of another shape (`unexpectedReply`).
    @inlinable
    public func call<Call: LessorCall>(_ call: Call) async throws(StoreError) -> Call.Response {
        var callKeys = call.keys(keys)
        if guardsSlots, let first = callKeys.first, let guardKey = keys.slotGuard(for: first) { callKeys.append(guardKey) }
        let reply: RESPValue
        do {
            reply = try await redis.call(
                Call.functionName, in: LessorLibrary.embedded, keys: callKeys, arguments: call.arguments(keys), wait: wait)
        } catch {
            throw .redis(error)
        }
        let decoded = try Self.decode(reply)
        do {
            return try call.response(decoded)
        } catch {
            throw .redis(error)
        }
    }

    /// The status word, decoded once: refusals are thrown, `ok` and `empty` returned.
    @usableFromInline
    static func decode(_ reply: RESPValue) throws(StoreError) -> FunctionReply {
        // A successful heartbeat answers its words as one string (cheaper for Redis to send).
        if case .bulkString(let text) = reply {
            return try decode(.array(text.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false).map { .bulkString(Array($0)) }))
        }
        guard case .array(let values) = reply, let first = values.first, let status = try? String(fromRESP: first) else {
            throw .redis(RedisError(.unexpectedReply, "a lessor function replied \(reply)"))
        }
        let detail = values.count > 1 ? try? String(fromRESP: values[1]) : nil
        switch status {
        case "ok", "reserved": return FunctionReply(isEmpty: false, values: values.dropFirst())
        case "replayed":
            // { 'replayed', sealed secret | nil, <the recorded reply...> }
            guard values.count > 2 else { break }
            let sealed = try? String(fromRESP: values[1])  // nil: the record keeps none (Lua's false)
            do throws(StoreError) {
                var reply = try decode(.array(Array(values.dropFirst(2))))
                reply.replay = FunctionReply.Replay(sealedSecret: sealed)
                return reply
            } catch {
                if case .refused(let refusal) = error { throw .replayed(refusal) }
                throw error
            }
        case "idempotency_conflict": throw .refused(.idempotencyConflict)
        case "empty": return FunctionReply(isEmpty: true, values: values.dropFirst())
        case "environment_not_found": throw .refused(.environmentNotFound)
        case "environment_not_self_hosted":
            if let kind = detail.flatMap(EnvironmentKind.init(rawValue:)) { throw .refused(.environmentNotSelfHosted(kind)) }
        case "work_not_found": throw .refused(.workNotFound)
        case "conflict":
            if let reason = detail.flatMap(ConflictReason.init(rawValue:)) { throw .refused(.conflict(reason)) }
        case "environment_archived": throw .refused(.environmentArchived)
        case "invalid_config_type_change":
            if let kind = detail.flatMap(EnvironmentKind.init(rawValue:)) { throw .refused(.invalidConfigTypeChange(kind)) }
        case "precondition_failed":
            // { 'precondition_failed', reason, state, last_heartbeat | false, lease_pttl_ms }
            if let reason = detail.flatMap(PreconditionReason.init(rawValue:)), values.count == 5,
               let current = LeaseState(FunctionReply(isEmpty: false, values: values.dropFirst(2))) {
                throw .refused(.preconditionFailed(reason, current: current))
            }
        case "worker_not_found": throw .refused(.workerNotFound)
        case "wrong_token": throw .refused(.wrongWorkerToken)
        case "token_not_found": throw .refused(.tokenNotFound)
        default: break
        }
        throw .redis(RedisError(.unexpectedReply, "a lessor function replied \(status) \(detail ?? "")"))
    }
}
