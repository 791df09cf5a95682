import Logging
import NIOCore
import Synchronization

/// Sends every command to the primary that Redis Sentinel names, and follows the sentinels'
/// decisions as they are made, not when the old primary finally refuses a write.
///
/// A primary that the sentinels have replaced goes on accepting writes until they demote it
/// (up to 10 s later: a sentinel converts it at its next `INFO` of it), and a resync then
/// throws those writes away. So the router listens on every sentinel (``watch()``): at
/// `+try-failover` for its primary it holds new commands back (they wait, up to the command
/// timeout, then fail as never sent), at `+switch-master` it sends them to the new primary,
/// and at an abort it lets them go to the old one again. Each second, as a fallback for lost
/// messages, it asks every sentinel and follows the one with the newest configuration epoch.
/// It also asks again when the primary stops answering or turns out to be a replica (`READONLY`).
final class SentinelRouter: RedisRouter {
    private struct State {
        var primary: RedisNodePool?
        var resolving = false
        var lastResolve: ContinuousClock.Instant?
        var failedResolves = 0
        /// While a sentinel is failing the primary over: until `+switch-master`, an abort, or this.
        var failoverUntil: ContinuousClock.Instant?
        /// `+switch-master` messages taken: a question to the sentinels asked before the
        /// latest one may have been answered with the replaced primary, and is dropped.
        var switches = 0
    }

    /// The shortest time between two questions to the sentinels, so an outage costs a few
    /// questions a second, not one per request.
    static let resolveInterval: Duration = .milliseconds(200)
    /// How often ``watch()`` asks the sentinels, whatever they published.
    static let recheckInterval: Duration = .seconds(1)
    /// The longest a `+try-failover` holds commands back without `+switch-master` or an abort
    /// (a failover that has not switched by then has stalled; the periodic check takes over).
    static let failoverHold: Duration = .seconds(5)
    /// The sentinel channels ``watch()`` follows.
    static let channels = [
        "+try-failover", "+switch-master", "-failover-abort-not-elected", "-failover-abort-no-good-slave",
        "-failover-abort-slave-timeout", "+failover-end-for-timeout",
    ]

    private let sentinels: [RedisEndpoint]
    private let masterName: String
    private let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let pools: RedisNodePools
    private let state = Mutex(State())

    init(sentinels: [RedisEndpoint], masterName: String, configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.pools = RedisNodePools(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
    }

    func pool(for command: RedisCommand) async throws(RedisError) -> RedisNodePool {
        try await primary()
    }

    /// The primary's pool, asking the sentinels first when it is not known, and waiting while
    /// they fail it over.
    /// - Throws: `connectionUnavailable` when no primary is known, or a failover outlasts the
    ///   command timeout (the command was not sent).
    private func primary() async throws(RedisError) -> RedisNodePool {
        let deadline = ContinuousClock.now + configuration.commandTimeout
        while true {
            let now = ContinuousClock.now
            let (primary, failingOver) = state.withLock { ($0.primary, $0.failoverUntil.map { $0 > now } ?? false) }
            if !failingOver {
                if let primary { return primary }
                if let primary = try await resolveIfDue() { return primary }
                throw RedisError(.connectionUnavailable, "the Redis primary \"\(masterName)\" is not known yet; asking the sentinels")
            }
            guard now < deadline else {
                throw RedisError(.connectionUnavailable, "the sentinels are failing \"\(masterName)\" over; the command was not sent")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    func decision(after error: RedisError, from pool: RedisNodePool, attempt: Int) async -> RetryDecision {
        // A command that was refused (READONLY) or never sent (no connection) is safe to send
        // to the new primary; one whose outcome is unknown is not, but the next ones are.
        let retryable = error.code == .connectionUnavailable || error.isReadOnly
        guard retryable || error.code == .connectionLost || error.code == .timeout else { return .dontRetry }
        guard let primary = try? await resolveIfDue(), primary !== pool, retryable else { return .dontRetry }
        return .retry(primary, asking: false, after: .zero)
    }

    func primaries() async throws(RedisError) -> [RedisNodePool] {
        [try await primary()]
    }

    func warmUp() async {
        (try? await primary())?.warmUp()
    }

    func shutDown() {
        pools.shutDown()
    }

    /// Follows every sentinel's failover messages, and asks them all each second, until cancelled.
    func watch() async {
        await withTaskGroup(of: Void.self) { group in
            for sentinel in sentinels { group.addTask { await self.follow(sentinel) } }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.recheckInterval)
                    guard !Task.isCancelled else { return }
                    _ = try? await self.resolveIfDue()
                }
            }
        }
    }

    /// One sentinel's messages, resubscribing after every drop.
    private func follow(_ sentinel: RedisEndpoint) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(
                    configuration: configuration.sentinelConfiguration(sentinel), eventLoop: eventLoopGroup.next()
                ) { [weak self] message in self?.handle(message, from: sentinel) }.get()
                for channel in Self.channels {
                    _ = try await connection.send(RedisCommand("SUBSCRIBE", channel).encoded(), timeout: configuration.commandTimeout).get()
                }
                failures = 0
                await withTaskCancellationHandler {
                    try? await connection.channel.closeFuture.get()
                } onCancel: {
                    connection.close()
                }
            } catch {
                failures += 1
                if failures % 10 == 1 {
                    logger.warning("redis sentinel subscription failed", metadata: ["redis.sentinel": "\(sentinel)", "redis.error": "\(error)"])
                }
                try? await Task.sleep(for: configuration.reconnectBackoff.delay(afterFailures: failures))
            }
        }
    }

    /// A sentinel's message: `["message", channel, payload]`.
    private func handle(_ message: RESPValue, from sentinel: RedisEndpoint) {
        guard case .array(let parts) = message, parts.count == 3, let channel = parts[1].bulkBytes, let payload = parts[2].bulkBytes else { return }
        let words = String(decoding: payload, as: UTF8.self).split(separator: " ").map(String.init)
        let event = String(decoding: channel, as: UTF8.self)
        let now = ContinuousClock.now
        switch event {
        case "+try-failover":
            // "master <name> <ip> <port>"
            guard words.count == 4, words[1] == masterName else { return }
            state.withLock { $0.failoverUntil = now + Self.failoverHold }
            logger.notice("redis sentinels fail the primary over; holding commands back", metadata: ["redis.master": "\(masterName)", "redis.sentinel": "\(sentinel)"])
        case "+switch-master":
            // "<name> <old ip> <old port> <new ip> <new port>"
            guard words.count == 5, words[0] == masterName, let port = Int(words[4]) else { return }
            let pool = pools[RedisEndpoint(host: words[3], port: port)]
            let previous = state.withLock { state in
                defer {
                    state.primary = pool
                    state.failoverUntil = nil
                    state.lastResolve = now
                    state.switches += 1
                }
                return state.primary
            }
            if previous !== pool {
                logger.notice("redis primary switched", metadata: ["redis.master": "\(masterName)", "redis.node": "\(pool.endpoint)", "redis.sentinel": "\(sentinel)"])
            }
        default:
            // An abort or a timed-out failover: "master <name> <ip> <port>"; the primary stays.
            guard words.count >= 2, words[1] == masterName else { return }
            state.withLock { $0.failoverUntil = nil }
            logger.notice("redis failover ended without a switch", metadata: ["redis.master": "\(masterName)", "redis.event": "\(event)"])
        }
    }

    /// Asks the sentinels for the primary unless another caller is asking or one asked lately.
    /// - Returns: The primary's pool, or nil when it is not this caller's turn to ask.
    /// - Throws: `connectionUnavailable` when no sentinel names a primary that says it is one.
    private func resolveIfDue() async throws(RedisError) -> RedisNodePool? {
        let now = ContinuousClock.now
        let switches = state.withLock { state -> Int? in
            guard !state.resolving, state.lastResolve.map({ now - $0 >= Self.resolveInterval }) ?? true else { return nil }
            state.resolving = true
            state.lastResolve = now
            return state.switches
        }
        guard let switches else { return nil }
        do {
            let primary = try await resolve()
            let (previous, current) = state.withLock { state in
                defer {
                    if state.switches == switches {
                        state.primary = primary
                        state.failedResolves = 0
                    }
                    state.resolving = false
                }
                return (state.primary, state.switches == switches ? primary : state.primary)
            }
            if previous !== current, let current {
                logger.notice("redis primary resolved", metadata: ["redis.master": "\(masterName)", "redis.node": "\(current.endpoint)"])
            }
            return current
        } catch {
            let failures = state.withLock { state in
                if state.switches == switches { state.primary = nil }
                state.resolving = false
                state.failedResolves += 1
                return state.failedResolves
            }
            // The first failure and then every tenth, so a long failover does not flood the log.
            if failures % 10 == 1 {
                logger.warning("redis primary unknown", metadata: [
                    "redis.master": "\(masterName)", "redis.error": "\(error.message)", "redis.failures": "\(failures)",
                ])
            }
            throw error
        }
    }

    /// Asks every sentinel and takes the primary of the newest configuration epoch: a sentinel
    /// that missed a failover still names the old primary, which says it is one until demoted.
    private func resolve() async throws(RedisError) -> RedisNodePool {
        var lastError = RedisError(.connectionUnavailable, "no sentinel is configured")
        var newest: (endpoint: RedisEndpoint, epoch: Int, sentinel: RedisEndpoint)?
        for sentinel in sentinels {
            do throws(RedisError) {
                let named = try await askSentinel(sentinel)
                if newest.map({ named.epoch > $0.epoch }) ?? true { newest = (named.endpoint, named.epoch, sentinel) }
            } catch {
                lastError = error
            }
        }
        if let newest {
            do throws(RedisError) {
                let pool = pools[newest.endpoint]
                // A sentinel names the new primary before the replica has taken the role; only a
                // server that says it is the primary is taken as one.
                let role = try await pool.send([RedisCommand("ROLE").encoded()])[0]
                guard case .array(let fields) = role, fields.first?.bulkBytes == Array("master".utf8) else {
                    throw RedisError(.connectionUnavailable, "\(newest.endpoint), named by sentinel \(newest.sentinel), is not a primary yet")
                }
                return pool
            } catch {
                lastError = error
            }
        }
        throw RedisError(
            lastError.code == .tlsFailure || lastError.code == .authenticationFailed ? lastError.code : .connectionUnavailable,
            "no sentinel named a reachable primary for \"\(masterName)\": \(lastError.message)")
    }

    /// One sentinel's primary and its configuration epoch (`SENTINEL MASTER <name>`).
    private func askSentinel(_ sentinel: RedisEndpoint) async throws(RedisError) -> (endpoint: RedisEndpoint, epoch: Int) {
        let target = configuration.sentinelConfiguration(sentinel)
        let reply: RESPValue
        do {
            let connection = try await RedisConnection.connect(configuration: target, eventLoop: eventLoopGroup.next()).get()
            defer { connection.close() }
            reply = try await connection.send(RedisCommand("SENTINEL", "MASTER", masterName).encoded(), timeout: configuration.commandTimeout).get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(.connectionUnavailable, "sentinel \(sentinel) did not answer: \(error)")
        }
        if case .error(let message) = reply {
            throw RedisError(message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS") ? .authenticationFailed : .connectionUnavailable,
                             "sentinel \(sentinel) refused SENTINEL MASTER \(masterName): \(message)")
        }
        guard case .array(let fields) = reply else { throw RedisError(.connectionUnavailable, "sentinel \(sentinel) knows no primary named \"\(masterName)\"") }
        var values: [String: String] = [:]
        var index = fields.startIndex
        while index + 1 < fields.endIndex {
            if let name = fields[index].bulkBytes, let value = fields[index + 1].bulkBytes {
                values[String(decoding: name, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
            }
            index += 2
        }
        guard let host = values["ip"], let port = values["port"].flatMap(Int.init) else {
            throw RedisError(.connectionUnavailable, "sentinel \(sentinel) knows no primary named \"\(masterName)\"")
        }
        return (RedisEndpoint(host: host, port: port), values["config-epoch"].flatMap(Int.init) ?? 0)
    }
}
