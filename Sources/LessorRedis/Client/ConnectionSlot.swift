import Logging
import Metrics
import NIOCore
import Synchronization

/// The life of one pooled connection, as a pure state machine: connect on demand, back
/// off after failures, reconnect after a drop. Generic over the connection so tests
/// drive it without sockets.
struct ConnectionSlotState<Connection: AnyObject & Sendable>: Sendable {
    enum State: Sendable {
        /// No connection; the next caller starts one.
        case idle
        /// A connection attempt is under way; callers wait for it.
        case connecting(EventLoopFuture<Connection>)
        /// Connected.
        case ready(Connection)
        /// The last attempt failed; callers fail fast until `retryAt`.
        case backingOff(retryAt: NIODeadline, lastError: RedisError)
        /// The client shut down.
        case shutDown
    }

    /// What the caller must do next.
    enum Action {
        case use(Connection)
        case wait(EventLoopFuture<Connection>)
        /// Start an attempt and report it with ``connecting(_:)``.
        case connect
        case fail(RedisError)
    }

    private(set) var state: State = .idle
    private(set) var consecutiveFailures = 0

    /// Decides what a caller that wants this slot's connection does.
    mutating func acquire(now: NIODeadline) -> Action {
        switch state {
        case .ready(let connection): return .use(connection)
        case .connecting(let future): return .wait(future)
        case .idle: return .connect
        case .backingOff(let retryAt, let lastError):
            if now >= retryAt { return .connect }
            return .fail(lastError)
        case .shutDown: return .fail(RedisError(.shutdown, "the Redis client is shut down"))
        }
    }

    /// Records that an attempt started.
    mutating func connecting(_ future: EventLoopFuture<Connection>) {
        if case .shutDown = state { return }
        state = .connecting(future)
    }

    /// Records a successful attempt. Returns false when the slot shut down meanwhile,
    /// in which case the caller closes the connection.
    mutating func connected(_ connection: Connection) -> Bool {
        if case .shutDown = state { return false }
        consecutiveFailures = 0
        state = .ready(connection)
        return true
    }

    /// Records a failed attempt; callers fail fast for the backoff delay.
    mutating func connectFailed(_ error: RedisError, now: NIODeadline, backoff: ReconnectBackoff) {
        if case .shutDown = state { return }
        consecutiveFailures += 1
        let delay = backoff.delay(afterFailures: consecutiveFailures)
        state = .backingOff(
            retryAt: now + TimeAmount(delay),
            lastError: RedisError(error.code, "\(error.message) (next attempt in \(delay))")
        )
    }

    /// Records that a ready connection closed: the next caller reconnects at once.
    mutating func closed(_ connection: Connection) {
        if case .ready(let current) = state, current === connection { state = .idle }
    }

    /// Shuts the slot down. Returns the connection to close, if any.
    mutating func shutDown() -> Connection? {
        defer { state = .shutDown }
        if case .ready(let connection) = state { return connection }
        return nil
    }

    /// True when a caller would get a connection without waiting.
    var isReady: Bool {
        if case .ready = state { return true }
        return false
    }
}

/// One place in the pool: a connection's state behind a lock, plus the side effects
/// (starting attempts, watching for the socket to close) that the state machine asks for.
final class ConnectionSlot: Sendable {
    private let state = Mutex(ConnectionSlotState<RedisConnection>())
    private let configuration: RedisConfiguration
    private let eventLoop: any EventLoop
    private let logger: Logger

    init(configuration: RedisConfiguration, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
    }

    var isReady: Bool { state.withLock { $0.isReady } }

    /// The slot's connection, connecting first when needed.
    /// - Throws: The last connection error while backing off, or `shutdown`.
    func connection() async throws(RedisError) -> RedisConnection {
        let action = state.withLock { $0.acquire(now: .now()) }
        let future: EventLoopFuture<RedisConnection>
        switch action {
        case .use(let connection): return connection
        case .fail(let error): throw error
        case .wait(let pending): future = pending
        case .connect: future = startConnecting()
        }
        do {
            return try await future.get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(.connectionUnavailable, "cannot connect to Redis: \(error)")
        }
    }

    /// Starts connecting unless an attempt is under way or the slot is backing off.
    func warmUp() {
        let shouldConnect = state.withLock { slot -> Bool in
            if case .connect = slot.acquire(now: .now()) { return true }
            return false
        }
        if shouldConnect { _ = startConnecting() }
    }

    private func startConnecting() -> EventLoopFuture<RedisConnection> {
        // Two callers may both have been told to connect; only the first attempt is kept.
        let promise = eventLoop.makePromise(of: RedisConnection.self)
        let existing: EventLoopFuture<RedisConnection>? = state.withLock { slot in
            if case .connecting(let pending) = slot.state { return pending }
            slot.connecting(promise.futureResult)
            return nil
        }
        if let existing {
            promise.fail(RedisError(.connectionUnavailable, "superseded attempt"))
            return existing
        }
        RedisConnection.connect(configuration: configuration, eventLoop: eventLoop).whenComplete { result in
            switch result {
            case .success(let connection):
                let kept = self.state.withLock { $0.connected(connection) }
                guard kept else {
                    connection.close()
                    promise.fail(RedisError(.shutdown, "the Redis client is shut down"))
                    return
                }
                self.logger.debug("redis connected", metadata: ["redis.endpoint": "\(self.configuration.endpointDescription)"])
                Counter(label: "\(self.configuration.metricsPrefix)_connects_total").increment()
                connection.channel.closeFuture.whenComplete { _ in
                    let dropped = self.state.withLock { slot -> Bool in
                        guard slot.isReady else { return false }
                        slot.closed(connection)
                        return !slot.isReady
                    }
                    if dropped { self.logger.warning("redis connection closed", metadata: ["redis.endpoint": "\(self.configuration.endpointDescription)"]) }
                }
                promise.succeed(connection)
            case .failure(let error):
                let redisError = error as? RedisError ?? RedisError(.connectionUnavailable, "cannot connect to Redis: \(error)")
                let failures = self.state.withLock { slot in
                    slot.connectFailed(redisError, now: .now(), backoff: self.configuration.reconnectBackoff)
                    return slot.consecutiveFailures
                }
                Counter(label: "\(self.configuration.metricsPrefix)_connect_failures_total").increment()
                // The first failure and then every tenth, so a long outage does not flood the log.
                if failures % 10 == 1 {
                    self.logger.warning("redis connect failed", metadata: ["redis.error": "\(redisError.message)", "redis.failures": "\(failures)"])
                }
                promise.fail(redisError)
            }
        }
        return promise.futureResult
    }

    /// Drops a connection found dead before its socket's close was noticed, so the next
    /// caller reconnects instead of picking it again.
    func discard(_ connection: RedisConnection) {
        state.withLock { $0.closed(connection) }
        connection.close()
    }

    /// Closes the connection and refuses further use.
    func shutDown() {
        let connection = state.withLock { $0.shutDown() }
        connection?.close()
    }
}
