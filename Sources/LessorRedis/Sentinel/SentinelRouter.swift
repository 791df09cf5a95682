import Logging
import NIOCore
import Synchronization

/// Sends every command to the primary that Redis Sentinel names, and asks again when that
/// primary stops answering or turns out to be a replica (`READONLY`): after a failover the
/// next commands go to the new primary.
final class SentinelRouter: RedisRouter {
    private struct State {
        var primary: RedisNodePool?
        var resolving = false
        var lastResolve: ContinuousClock.Instant?
        var failedResolves = 0
    }

    /// The shortest time between two questions to the sentinels, so an outage costs a few
    /// questions a second, not one per request.
    static let resolveInterval: Duration = .milliseconds(200)

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

    /// The primary's pool, asking the sentinels first when it is not known.
    private func primary() async throws(RedisError) -> RedisNodePool {
        if let primary = state.withLock({ $0.primary }) { return primary }
        if let primary = try await resolveIfDue() { return primary }
        throw RedisError(.connectionUnavailable, "the Redis primary \"\(masterName)\" is not known yet; asking the sentinels")
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

    /// Asks the sentinels for the primary unless another caller is asking or one asked lately.
    /// - Returns: The primary's pool, or nil when it is not this caller's turn to ask.
    /// - Throws: `connectionUnavailable` when no sentinel names a primary that says it is one.
    private func resolveIfDue() async throws(RedisError) -> RedisNodePool? {
        let now = ContinuousClock.now
        let due = state.withLock { state -> Bool in
            guard !state.resolving, state.lastResolve.map({ now - $0 >= Self.resolveInterval }) ?? true else { return false }
            state.resolving = true
            state.lastResolve = now
            return true
        }
        guard due else { return nil }
        do {
            let primary = try await resolve()
            let previous = state.withLock { state in
                defer {
                    state.primary = primary
                    state.resolving = false
                    state.failedResolves = 0
                }
                return state.primary
            }
            if previous !== primary {
                logger.notice("redis primary resolved", metadata: ["redis.master": "\(masterName)", "redis.node": "\(primary.endpoint)"])
            }
            return primary
        } catch {
            let failures = state.withLock { state in
                state.primary = nil
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

    private func resolve() async throws(RedisError) -> RedisNodePool {
        var lastError = RedisError(.connectionUnavailable, "no sentinel is configured")
        for sentinel in sentinels {
            do throws(RedisError) {
                let endpoint = try await askSentinel(sentinel)
                let pool = pools[endpoint]
                // A sentinel may still name the old primary while a failover runs; only a
                // server that says it is the primary is taken as one.
                let role = try await pool.send([RedisCommand("ROLE").encoded()])[0]
                guard case .array(let fields) = role, fields.first?.bulkBytes == Array("master".utf8) else {
                    throw RedisError(.connectionUnavailable, "\(endpoint), named by sentinel \(sentinel), is not a primary yet")
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

    private func askSentinel(_ sentinel: RedisEndpoint) async throws(RedisError) -> RedisEndpoint {
        let target = configuration.sentinelConfiguration(sentinel)
        let reply: RESPValue
        do {
            let connection = try await RedisConnection.connect(configuration: target, eventLoop: eventLoopGroup.next()).get()
            defer { connection.close() }
            reply = try await connection.send(
                RedisCommand("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName).encoded(), timeout: configuration.commandTimeout
            ).get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(.connectionUnavailable, "sentinel \(sentinel) did not answer: \(error)")
        }
        guard case .array(let fields) = reply, fields.count == 2,
              let host = fields[0].bulkBytes, let port = fields[1].bulkBytes.flatMap({ Int(String(decoding: $0, as: UTF8.self)) })
        else { throw RedisError(.connectionUnavailable, "sentinel \(sentinel) knows no primary named \"\(masterName)\"") }
        return RedisEndpoint(host: String(decoding: host, as: UTF8.self), port: port)
    }

}
