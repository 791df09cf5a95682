import Logging
import NIOCore
import Synchronization

/// Routes commands over a Redis Cluster: by the hash slot of their first key, through a
/// slot map learnt from `CLUSTER SLOTS` and corrected by `MOVED`, with one pool per node.
final class ClusterRouter: RedisRouter {
    private struct State {
        var map: ClusterSlotMap?
        /// A `MOVED`, `CLUSTERDOWN` or unreachable node said the map is out of date.
        var stale = true
        /// The refresh under way, which callers without any map wait for.
        var refreshing: EventLoopFuture<ClusterSlotMap>?
        var lastRefresh: ContinuousClock.Instant?
    }

    /// The shortest time between two `CLUSTER SLOTS` refreshes, so a storm of `MOVED`
    /// replies during a resharding costs one refresh, not one per request.
    static let refreshInterval: Duration = .milliseconds(100)

    private let seeds: [RedisEndpoint]
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let pools: RedisNodePools
    private let state = Mutex(State())

    init(seeds: [RedisEndpoint], configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.seeds = seeds
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.pools = RedisNodePools(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
    }

    func pool(for command: RedisCommand) async throws(RedisError) -> RedisNodePool {
        let map = try await currentMap()
        guard let key = command.keys.first else {
            // A keyless command (PING, SCRIPT LOAD, ...) may go to any primary.
            guard let endpoint = map.primaries.first else { throw Self.noNodeError }
            return pools[endpoint]
        }
        let slot = HashSlot.of(key)
        guard let endpoint = map.owner(of: slot) else {
            markStale()
            throw RedisError(.connectionUnavailable, "no Redis Cluster node serves hash slot \(slot) (cluster down?)")
        }
        return pools[endpoint]
    }

    func decision(after error: RedisError, from pool: RedisNodePool, attempt: Int) async -> RetryDecision {
        let backoff = min(Duration.milliseconds(10) * (1 << min(attempt - 1, 5)), .milliseconds(200))
        if error.code == .connectionUnavailable {
            // The node may have failed over to a replica: learn the map again, then retry.
            markStale()
            return .reroute(after: backoff)
        }
        guard error.code == .serverError, let redirection = ClusterRedirection(errorMessage: error.message) else {
            return .dontRetry
        }
        switch redirection {
        case .moved(let slot, let endpoint):
            let endpoint = endpoint.host.isEmpty ? RedisEndpoint(host: pool.endpoint.host, port: endpoint.port) : endpoint
            state.withLock { state in
                state.map?.assign(slot, to: endpoint)
                state.stale = true
            }
            return .retry(pools[endpoint], asking: false, after: .zero)
        case .ask(_, let endpoint):
            let endpoint = endpoint.host.isEmpty ? RedisEndpoint(host: pool.endpoint.host, port: endpoint.port) : endpoint
            return .retry(pools[endpoint], asking: true, after: .zero)
        case .tryAgain:
            return .reroute(after: backoff)
        case .clusterDown:
            markStale()
            return .reroute(after: max(backoff, .milliseconds(100)))
        }
    }

    func primaries() async throws(RedisError) -> [RedisNodePool] {
        try await currentMap().primaries.map { pools[$0] }
    }

    func warmUp() async {
        guard let map = try? await currentMap() else { return }
        for endpoint in map.primaries { pools[endpoint].warmUp() }
    }

    func shutDown() {
        pools.shutDown()
    }

    private static var noNodeError: RedisError {
        RedisError(.connectionUnavailable, "no Redis Cluster node is known")
    }

    private func markStale() {
        state.withLock { $0.stale = true }
    }

    /// The pool for a node, made on first use.

    /// The slot map, refreshed first when it is missing, or stale and not refreshed lately.
    /// One caller refreshes at a time; the others go on with the map they have, or wait for
    /// the refresh when they have none.
    private func currentMap() async throws(RedisError) -> ClusterSlotMap {
        enum Step {
            case use(ClusterSlotMap)
            case wait(EventLoopFuture<ClusterSlotMap>)
            case refresh(previous: ClusterSlotMap?, EventLoopPromise<ClusterSlotMap>)
        }
        let now = ContinuousClock.now
        let step = state.withLock { state -> Step in
            if let refreshing = state.refreshing { return state.map.map(Step.use) ?? .wait(refreshing) }
            let due = state.lastRefresh.map { now - $0 >= Self.refreshInterval } ?? true
            if let map = state.map, !(state.stale && due) { return .use(map) }
            let promise = eventLoopGroup.any().makePromise(of: ClusterSlotMap.self)
            state.refreshing = promise.futureResult
            state.lastRefresh = now
            return .refresh(previous: state.map, promise)
        }
        switch step {
        case .use(let map):
            return map
        case .wait(let pending):
            do {
                return try await pending.get()
            } catch {
                throw error as? RedisError ?? Self.noNodeError
            }
        case .refresh(let previous, let promise):
            do throws(RedisError) {
                let fresh = try await loadMap(knownPrimaries: previous?.primaries ?? [])
                state.withLock { state in
                    state.map = fresh
                    state.stale = false
                    state.refreshing = nil
                }
                promise.succeed(fresh)
                return fresh
            } catch {
                state.withLock { $0.refreshing = nil }
                promise.fail(error)
                if let previous { return previous }
                throw error
            }
        }
    }

    /// Asks the known primaries, then the seeds, for `CLUSTER SLOTS`; the first answer wins.
    private func loadMap(knownPrimaries: [RedisEndpoint]) async throws(RedisError) -> ClusterSlotMap {
        var lastError = Self.noNodeError
        var asked = Set<RedisEndpoint>()
        for endpoint in knownPrimaries + seeds where asked.insert(endpoint).inserted {
            do throws(RedisError) {
                let reply = try await pools[endpoint].send([RedisCommand("CLUSTER", "SLOTS").encoded()])[0]
                if case .error(let message) = reply { throw RedisError(.serverError, message) }
                let map = try ClusterSlotMap(clusterSlots: reply, queried: endpoint)
                guard !map.primaries.isEmpty else { throw RedisError(.unexpectedReply, "\(endpoint) knows no slot owner yet") }
                logger.debug("redis cluster slot map loaded", metadata: [
                    "redis.node": "\(endpoint)", "redis.primaries": "\(map.primaries.map(\.description).joined(separator: ","))",
                ])
                return map
            } catch {
                lastError = error
            }
        }
        logger.warning("redis cluster slot map unavailable", metadata: ["redis.error": "\(lastError.message)"])
        // A TLS failure stays one: start-up refuses it instead of waiting for the cluster.
        throw RedisError(lastError.code == .tlsFailure ? .tlsFailure : .connectionUnavailable, "no Redis Cluster node answered CLUSTER SLOTS: \(lastError.message)")
    }
}
