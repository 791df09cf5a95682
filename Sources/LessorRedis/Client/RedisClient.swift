import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The Swift face of Redis: pools of auto-pipelined connections behind an `async` API, to
/// one server, a Redis Cluster, or a primary watched by Sentinel (``RedisTopology``).
///
/// Any number of tasks may call ``send(_:)`` at once; no call blocks a thread or an event
/// loop, and no call gets a connection of its own. On a cluster each command goes to the
/// node that owns its first key's hash slot; `MOVED`, `ASK` and `TRYAGAIN` are followed, and
/// under Sentinel a demoted or vanished primary is replaced by the one Sentinel names. A
/// command is retried only when it certainly did not run; one whose outcome is unknown
/// (connection lost after the write, timeout) is reported as such.
///
/// As a `Service`, ``run()`` keeps the pools warm until graceful shutdown, then closes them.
public final class RedisClient: Sendable, Service {
    /// The settings the client was made with.
    public let configuration: RedisConfiguration
    private let router: any RedisRouter
    private let logger: Logger

    /// The most attempts one command gets across redirections and retries.
    static let maximumAttempts = 16

    /// Creates a client. No connection is opened until the first command or ``run()``.
    /// - Parameters:
    ///   - configuration: Where Redis is and how to talk to it.
    ///   - eventLoopGroup: The loops the connections' I/O runs on.
    ///   - logger: Where connection events go.
    /// - Throws: ``RedisError/Code/invalidConfiguration`` for out-of-range settings.
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis")
    ) throws(RedisError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        switch configuration.topology {
        case .standalone:
            router = StandaloneRouter(node: RedisNodePool(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger))
        case .cluster(let seeds):
            router = ClusterRouter(seeds: seeds, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        case .sentinel(let sentinels, let masterName):
            router = SentinelRouter(sentinels: sentinels, masterName: masterName, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        }
    }

    /// Sends one command and waits for its reply.
    /// - Parameter command: The command; on a cluster its first key routes it.
    /// - Returns: The reply; an error reply is thrown instead.
    /// - Throws: `serverError` for an error reply; `connectionUnavailable` when no connection
    ///   could be had (not sent); `timeout` or `connectionLost` when the outcome is unknown.
    @discardableResult
    public func send(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        try await execute(command)
    }

    /// Sends one command and decodes its reply.
    /// - Parameters:
    ///   - command: The command.
    ///   - type: The type to decode the reply as.
    /// - Returns: The decoded reply.
    /// - Throws: As ``send(_:)``, or `unexpectedReply` when the reply has another shape.
    public func send<Value: RESPDecodable>(_ command: RedisCommand, as type: Value.Type) async throws(RedisError) -> Value {
        try Value(fromRESP: try await send(command))
    }

    /// True when every primary answers `PING` within the command timeout.
    public func ping() async -> Bool {
        do {
            try await forEachPrimary { node throws(RedisError) in
                let reply = try await node.send(RedisCommand("PING"))
                guard reply == .simpleString("PONG") else { throw RedisError(.unexpectedReply, "PING replied \(reply)") }
            }
            return true
        } catch {
            return false
        }
    }

    /// Sends a command to one node after another until it runs, following the topology's
    /// redirections; bounded by ``maximumAttempts`` and by the command timeout.
    /// - Parameters:
    ///   - command: The command.
    ///   - script: When the command runs this script or library function, a reply saying the
    ///     node lacks it (`NOSCRIPT`, "Function not found") loads it on that node and sends the
    ///     command again (it did not run, so it cannot run twice).
    ///   - wait: When given, `WAIT` follows the command on the same connection.
    func execute(_ command: RedisCommand, script: (any RedisLoadable)? = nil, wait: ReplicationWait? = nil) async throws(RedisError) -> RESPValue {
        let deadline = ContinuousClock.now + configuration.commandTimeout
        var pool = try await counted { () throws(RedisError) in try await router.pool(for: command) }
        var asking = false
        for attempt in 1...Self.maximumAttempts {
            do {
                return try await run(command, on: pool, asking: asking, script: script, wait: wait)
            } catch {
                count(error)
                let decision = attempt == Self.maximumAttempts
                    ? .dontRetry : await router.decision(after: error, from: pool, attempt: attempt)
                switch decision {
                case .dontRetry:
                    throw error
                case .retry(let next, let ask, let delay):
                    guard ContinuousClock.now + delay < deadline else { throw error }
                    if delay > .zero { try? await Task.sleep(for: delay) }
                    (pool, asking) = (next, ask)
                case .reroute(let delay):
                    guard ContinuousClock.now + delay < deadline else { throw error }
                    try? await Task.sleep(for: delay)
                    (pool, asking) = (try await counted { () throws(RedisError) in try await router.pool(for: command) }, false)
                }
            }
        }
        preconditionFailure("unreachable: the last attempt returns or throws")
    }

    /// `<prefix>_errors_total{code}`: every failed attempt, redirections and NOSCRIPT
    /// included; they are rare in a steady state and worth seeing.
    private func count(_ error: RedisError) {
        Counter(label: "\(configuration.metricsPrefix)_errors_total", dimensions: [("code", error.code.description)]).increment()
    }

    private func counted<T>(_ body: () async throws(RedisError) -> T) async throws(RedisError) -> T {
        do {
            return try await body()
        } catch {
            count(error)
            throw error
        }
    }

    /// One attempt on one node: `[ASKING] command [WAIT n ms]` back to back on one connection.
    /// - Parameter loaded: True on the second attempt after `NOSCRIPT`, which must not load again.
    private func run(
        _ command: RedisCommand, on pool: RedisNodePool, asking: Bool, script: (any RedisLoadable)?, wait: ReplicationWait?, loaded: Bool = false
    ) async throws(RedisError) -> RESPValue {
        var batch = [command.encoded()]
        if asking { batch.insert(RedisCommand("ASKING").encoded(), at: 0) }
        if let wait {
            batch.append(RedisCommand("WAIT", wait.replicas, max(Int(wait.timeout / .milliseconds(1)), 1)).encoded())
        }
        let replies = try await pool.send(batch)
        let reply = replies[asking ? 1 : 0]
        if case .error(let message) = reply {
            let error = RedisError(.serverError, message)
            if let script, script.isMissing(error), !loaded {
                count(error)
                try await script.load(on: RedisNodeClient(pool: pool))
                return try await run(command, on: pool, asking: asking, script: script, wait: wait, loaded: true)
            }
            throw error
        }
        if let wait {
            guard case .integer(let acknowledged) = replies[replies.count - 1], acknowledged >= wait.replicas else {
                throw RedisError(.notReplicated, "\(wait.replicas) replicas did not acknowledge the write within \(wait.timeout): WAIT replied \(replies[replies.count - 1])")
            }
        }
        return reply
    }

    /// Runs `body` once per primary: the one server, every master of a cluster, or the
    /// primary Sentinel names.
    /// - Parameter body: Gets a client bound to one primary.
    /// - Throws: What `body` throws, or `connectionUnavailable` when the primaries are unknown.
    public func forEachPrimary(_ body: (RedisNodeClient) async throws(RedisError) -> Void) async throws(RedisError) {
        for pool in try await router.primaries() {
            try await body(RedisNodeClient(pool: pool))
        }
    }

    /// Where a Pub/Sub connection may subscribe: every node of a cluster and the replicas
    /// of a primary see every message published anywhere.
    /// - Returns: The configuration of a primary.
    /// - Throws: `connectionUnavailable` when no primary is known.
    public func subscriptionConfiguration() async throws(RedisError) -> RedisConfiguration {
        let primaries = try await router.primaries()
        guard let pool = primaries.randomElement() else { throw RedisError(.connectionUnavailable, "no Redis primary is known") }
        return pool.configuration
    }

    /// Keeps the pools open until graceful shutdown or cancellation, then closes them.
    public func run() async throws {
        logger.info("redis client starting", metadata: ["redis.endpoint": "\(configuration.topologyDescription)", "redis.pool": "\(configuration.poolSize)"])
        await router.warmUp()
        do {
            try await refuseFailingTLS()
        } catch {
            shutDown()
            throw error
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.router.watch() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        shutDown()
        logger.info("redis client stopped")
    }

    /// The first contact with TLS on: a server whose certificate fails verification (an
    /// untrusted CA, another name), that does not speak TLS, or that refuses the client's
    /// certificate is a configuration error, so the client stops instead of retrying forever.
    /// A server that merely cannot be reached yet is an outage: the client waits for it.
    /// - Throws: ``RedisError/Code/tlsFailure``.
    private func refuseFailingTLS() async throws(RedisError) {
        guard configuration.tls != nil else { return }
        do {
            try await forEachPrimary { node throws(RedisError) in try await node.send(RedisCommand("PING")) }
        } catch where error.code == .tlsFailure {
            logger.critical("redis TLS failed; stopping", metadata: ["redis.error": "\(error.message)"])
            throw error
        } catch {
            logger.warning("redis not reachable at start-up; will keep trying", metadata: ["redis.error": "\(error.message)"])
        }
    }

    /// Closes every connection; later commands fail with `shutdown`.
    public func shutDown() {
        router.shutDown()
    }
}

/// A client bound to one server, from ``RedisClient/forEachPrimary(_:)``: for commands that
/// must reach every primary of a cluster, such as `SCAN` and `SCRIPT EXISTS`.
public struct RedisNodeClient: Sendable {
    let pool: RedisNodePool

    /// The server's address.
    public var endpoint: RedisEndpoint { pool.endpoint }

    /// Sends one command to this server, wherever its keys live.
    /// - Parameter command: The command.
    /// - Returns: The reply; an error reply is thrown instead.
    /// - Throws: As ``RedisClient/send(_:)``.
    @discardableResult
    public func send(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        let reply = try await pool.send([command.encoded()])[0]
        if case .error(let message) = reply { throw RedisError(.serverError, message) }
        return reply
    }

    /// Sends one command to this server and decodes its reply.
    /// - Throws: As ``send(_:)``, or `unexpectedReply` when the reply has another shape.
    public func send<Value: RESPDecodable>(_ command: RedisCommand, as type: Value.Type) async throws(RedisError) -> Value {
        try Value(fromRESP: try await send(command))
    }

    /// Loads a script or function library into this server.
    /// - Throws: As ``send(_:)``, or `unexpectedReply` when the server acknowledges something else.
    public func load(_ loadable: some RedisLoadable) async throws(RedisError) {
        try await loadable.load(on: self)
    }
}

/// `WAIT replicas timeout` after a write, on the same connection: the write is
/// acknowledged only once that many replicas have it. Fewer acknowledgements within the
/// timeout fail the call as `notReplicated` (it ran on the primary; a failover may lose it).
public struct ReplicationWait: Sendable, Equatable {
    /// How many replicas must acknowledge, 1–16.
    public let replicas: Int
    /// How long `WAIT` waits; shorter than the command timeout, or the command times out first.
    public let timeout: Duration

    /// Creates a wait.
    /// - Throws: `invalidConfiguration` for replicas outside 1–16 or a timeout that is not positive.
    public init(replicas: Int, timeout: Duration) throws(RedisError) {
        guard (1...16).contains(replicas) else { throw RedisError(.invalidConfiguration, "the replicas to WAIT for must be 1 to 16, not \(replicas)") }
        guard timeout > .zero else { throw RedisError(.invalidConfiguration, "the WAIT timeout must be positive") }
        self.replicas = replicas
        self.timeout = timeout
    }
}

/// Code a server runs by reference and may lack (after a restart, a failover or a flush):
/// a ``RedisScript`` (`EVALSHA`) or a ``RedisFunctionLibrary`` (`FCALL`).
public protocol RedisLoadable: Sendable {
    /// True when `error` says the server lacks this code, so the command did not run.
    func isMissing(_ error: RedisError) -> Bool
    /// Loads the code into one server.
    /// - Throws: As ``RedisNodeClient/send(_:)``, or `unexpectedReply` when the server
    ///   acknowledges something else.
    func load(on node: RedisNodeClient) async throws(RedisError)
}
