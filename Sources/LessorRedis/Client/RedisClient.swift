import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The Swift face of Redis: a small pool of auto-pipelined connections behind an `async` API.
///
/// Any number of tasks may call ``send(_:)`` at once; no call blocks a thread or an event
/// loop, and no call gets a connection of its own. Connections open on demand (and eagerly
/// from ``run()``), reconnect after a drop, and back off after failed attempts, during which
/// commands fail at once as `connectionUnavailable` instead of hanging.
///
/// As a `Service`, ``run()`` keeps the pool warm until graceful shutdown, then closes it.
public final class RedisClient: Sendable, Service {
    /// The settings the client was made with.
    public let configuration: RedisConfiguration
    private let slots: [ConnectionSlot]
    private let nextSlot = Atomic<Int>(0)
    private let logger: Logger
    /// `lessor_redis_commands_total`: round trips sent (a pipelined batch counts each command).
    private let commandsSent = Counter(label: "lessor_redis_commands_total")

    /// Creates a client. No connection is opened until the first command or ``run()``.
    /// - Parameters:
    ///   - configuration: Where Redis is and how to talk to it.
    ///   - eventLoopGroup: The loops the connections' I/O runs on.
    ///   - logger: Where connection events go.
    /// - Throws: ``RedisError/Code/invalidConfiguration`` for out-of-range settings.
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "lessor.redis")
    ) throws(RedisError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.slots = (0..<configuration.poolSize).map { _ in
            ConnectionSlot(configuration: configuration, eventLoop: eventLoopGroup.next(), logger: logger)
        }
    }

    /// Sends one command and waits for its reply.
    /// - Parameter command: The command.
    /// - Returns: The reply; an error reply is thrown instead.
    /// - Throws: `serverError` for an error reply; `connectionUnavailable` when no connection
    ///   could be had (not sent); `timeout` or `connectionLost` when the outcome is unknown.
    @discardableResult
    public func send(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        let bytes = command.encoded()
        // A connection can die between being picked and being written to. A command that was
        // never written is sent once more on a fresh connection; a written one never is.
        do throws(RedisError) {
            for attempt in 1...2 {
                let (slot, connection) = try await connection()
                let reply: RESPValue
                do {
                    commandsSent.increment()
                    reply = try await connection.send(bytes, timeout: configuration.commandTimeout).get()
                } catch let error as RedisError {
                    if error.code == .connectionUnavailable, attempt == 1 {
                        slot.discard(connection)
                        continue
                    }
                    throw error
                } catch {
                    throw RedisError(.connectionLost, "Redis command failed: \(error); outcome unknown")
                }
                if case .error(let message) = reply { throw RedisError(.serverError, message) }
                return reply
            }
            preconditionFailure("unreachable: the last attempt returns or throws")
        } catch {
            // `lessor_redis_errors_total{code}`: NOSCRIPT is counted too; it is rare and worth seeing.
            Counter(label: "lessor_redis_errors_total", dimensions: [("code", error.code.description)]).increment()
            throw error
        }
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

    /// True when `PING` is answered within the command timeout.
    public func ping() async -> Bool {
        (try? await send(RedisCommand("PING"))) == .simpleString("PONG")
    }

    /// A connection for the next command: round-robin over ready connections, so concurrent
    /// callers spread over the pool and each connection pipelines its share.
    private func connection() async throws(RedisError) -> (ConnectionSlot, RedisConnection) {
        let first = nextSlot.add(1, ordering: .relaxed).oldValue
        let count = slots.count
        for offset in 0..<count {
            let slot = slots[(first &+ offset) % count]
            if slot.isReady { return (slot, try await slot.connection()) }
            slot.warmUp()
        }
        // Nothing ready: wait for (or fail fast on) the slot whose turn it is.
        let slot = slots[first % count]
        return (slot, try await slot.connection())
    }

    /// Keeps the pool open until graceful shutdown or cancellation, then closes it.
    public func run() async throws {
        logger.info("redis client starting", metadata: ["redis.endpoint": "\(configuration.endpointDescription)", "redis.pool": "\(slots.count)"])
        for slot in slots { slot.warmUp() }
        try? await gracefulShutdown()
        shutDown()
        logger.info("redis client stopped")
    }

    /// Closes every connection; later commands fail with `shutdown`.
    public func shutDown() {
        for slot in slots { slot.shutDown() }
    }
}
