import LessorRedis

/// What the status page (`GET /ui`) shows: every environment's figures and the items worth a
/// look, with the Redis time they were read at.
public struct StatusSnapshot: Sendable {
    /// One environment's figures and items.
    public struct EnvironmentStatus: Sendable {
        public var environment: WorkEnvironment
        /// `work_stats`' figures; nil for a cloud environment, which has no queue.
        public var queue: WorkQueueStats?
        /// Items holding a live lease (`ZCARD` of the deadlines index).
        public var leased: Int
        /// Stopped items still retained (`ZCARD` of the stopped index).
        public var stopped: Int
        /// Leased items, the least time left first: up to the reader's limit of those the
        /// deadlines index ranks first (its scores are lower bounds: a steady heartbeat does not
        /// move them, so with more leases than the limit a later deadline may be left out).
        public var leases: [WorkItem]
        /// The last lapses from the environment's lapse log, the latest first.
        public var recentLapses: [WorkLapse]
        /// The last items to stop, the latest first; dead letters have `lease_lapsed_too_often`.
        public var recentlyStopped: [WorkItem]
    }

    /// Redis's clock when the reading began (the one clock every stamp comes from).
    public var readAt: Timestamp
    public var environments: [EnvironmentStatus]
    /// True when more environments exist than were read.
    public var moreEnvironments: Bool
    /// Den workers, those online first.
    public var workers: [Worker]
}

/// Reads a ``StatusSnapshot`` with plain read commands and `work_get`/`work_stats` calls, each
/// environment's on its own slot, concurrently. Nothing is written but what `work_stats`
/// always does (it reaps lapsed leases first, so the figures count them as queued).
///
/// Cost: per environment, `work_stats`, two `ZCARD`s, three index reads and one `work_get`
/// per item shown — about 35 calls for a busy environment at the default limits.
public struct StatusReader: Sendable {
    /// How much one reading shows.
    public struct Limits: Sendable {
        /// Environments read, in id order.
        public var environments = 25
        /// Leased items per environment.
        public var leases = 20
        /// Lapses and recently stopped items per environment, each.
        public var recent = 10
        /// Den workers.
        public var workers = 50

        public init() {}
    }

    public let functions: LessorFunctions

    public init(functions: LessorFunctions) {
        self.functions = functions
    }

    private var redis: RedisClient { functions.redis }
    private var keys: KeySpace { functions.keys }

    /// Reads the status of every environment (archived ones included), or of one.
    /// - Parameters:
    ///   - environmentID: Only this environment; nil: all, up to `limits.environments`.
    ///   - limits: How much to show.
    /// - Throws: ``Refusal/environmentNotFound`` when `environmentID` names none; Redis errors.
    public func read(environmentID: String? = nil, limits: Limits = Limits()) async throws(StoreError) -> StatusSnapshot {
        let environments = Environments(functions: functions)
        let readAt = try await redisTime()
        var listed: [WorkEnvironment]
        var more = false
        if let environmentID {
            guard let environment = try await environments.get(id: environmentID) else { throw .refused(.environmentNotFound) }
            listed = [environment]
        } else {
            (listed, more) = try await environments.list(after: nil, limit: limits.environments, includeArchived: true) { _ in true }
        }
        let workers = try await Workers(functions: functions, ids: IdentifierGenerator()).list(limit: limits.workers)
        let statuses = try await concurrently(listed) { environment throws(StoreError) in try await status(of: environment, limits: limits) }
        return StatusSnapshot(
            readAt: readAt, environments: statuses, moreEnvironments: more,
            workers: workers.filter(\.online) + workers.filter { !$0.online })
    }

    private func status(of environment: WorkEnvironment, limits: Limits) async throws(StoreError) -> StatusSnapshot.EnvironmentStatus {
        let id = environment.id
        var status = StatusSnapshot.EnvironmentStatus(
            environment: environment, queue: nil, leased: 0, stopped: 0, leases: [], recentLapses: [], recentlyStopped: [])
        guard environment.kind == .selfHosted else { return status }
        do throws(StoreError) {
            status.queue = try await functions.call(WorkStats(environmentID: id))
        } catch {
            // Archived or deleted between the listing and now: show what the listing had.
            guard case .refused = error else { throw error }
            return status
        }
        let names = keys.environmentKeys(id)
        let (deadlines, stopped, lapses) = (names[4], names[7], names[8])
        let leaseIDs: [String], lapseEntries: [String], stoppedIDs: [String]
        do throws(RedisError) {
            status.leased = try await redis.send(RedisCommand("ZCARD", key: deadlines), as: Int.self)
            status.stopped = try await redis.send(RedisCommand("ZCARD", key: stopped), as: Int.self)
            leaseIDs = try await redis.send(RedisCommand("ZRANGE", key: deadlines, 0, limits.leases - 1), as: [String].self)
            lapseEntries = try await redis.send(RedisCommand("ZRANGE", key: lapses, -limits.recent, -1), as: [String].self)
            stoppedIDs = try await redis.send(RedisCommand("ZRANGE", key: stopped, -limits.recent, -1), as: [String].self)
        } catch {
            throw .redis(error)
        }
        status.leases = try await items(leaseIDs, in: id).filter { $0.state != .queued && $0.state != .stopped }
            .sorted { ($0.leaseRemaining ?? .zero) < ($1.leaseRemaining ?? .zero) }
        status.recentLapses = lapseEntries.reversed().compactMap(WorkLapse.init(logEntry:))
        status.recentlyStopped = try await items(stoppedIDs.reversed(), in: id).filter { $0.state == .stopped }
        return status
    }

    /// The items of these ids that still exist, in the ids' order.
    private func items(_ ids: [String], in environmentID: String) async throws(StoreError) -> [WorkItem] {
        try await concurrently(ids) { id throws(StoreError) -> WorkItem? in
            do throws(StoreError) {
                return try await functions.call(WorkGet(environmentID: environmentID, workID: id))
            } catch {
                // Stopped past its retention, or the environment deleted, since the index was read.
                guard case .refused = error else { throw error }
                return nil
            }
        }.compactMap { $0 }
    }

    private func redisTime() async throws(StoreError) -> Timestamp {
        do throws(RedisError) {
            let time = try await redis.send(RedisCommand("TIME"), as: [String].self)
            guard time.count == 2, let seconds = Int64(time[0]), let micros = Int64(time[1]) else {
                throw RedisError(.unexpectedReply, "TIME replied \(time)")
            }
            return Timestamp(microseconds: seconds * 1_000_000 + micros)
        } catch {
            throw .redis(error)
        }
    }
}
