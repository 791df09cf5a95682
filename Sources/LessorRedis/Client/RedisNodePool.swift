import Logging
import Metrics
import NIOCore
import Synchronization

/// A small pool of auto-pipelined connections to one Redis server.
///
/// Any number of tasks may send at once; no call blocks a thread or an event loop, and no
/// call gets a connection of its own. Connections open on demand, reconnect after a drop,
/// and back off after failed attempts, during which commands fail at once as
/// `connectionUnavailable` instead of hanging. ``RedisClient`` keeps one pool per node.
final class RedisNodePool: Sendable {
    /// The server, and how to talk to it.
    let configuration: RedisConfiguration
    private let slots: [ConnectionSlot]
    private let nextSlot = Atomic<Int>(0)
    /// `<prefix>_commands_total`: round trips sent (a pipelined batch counts each command).
    private let commandsSent: Counter

    /// Creates a pool; nothing connects before the first command or ``warmUp()``.
    /// - Parameters:
    ///   - configuration: The server (its ``RedisConfiguration/host`` and ``RedisConfiguration/port``).
    ///   - eventLoopGroup: The loops the connections' I/O runs on.
    ///   - logger: Where connection events go.
    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.commandsSent = Counter(label: "\(configuration.metricsPrefix)_commands_total")
        var logger = logger
        logger[metadataKey: "redis.node"] = "\(configuration.endpointDescription)"
        self.slots = (0..<configuration.poolSize).map { [logger] _ in
            ConnectionSlot(configuration: configuration, eventLoop: eventLoopGroup.next(), logger: logger)
        }
    }

    /// The server's address.
    var endpoint: RedisEndpoint { configuration.endpoint }

    /// Sends commands back to back on one connection and waits for every reply.
    /// - Parameter batch: Encoded commands; no other caller's command comes between them.
    /// - Returns: The replies in order, error replies included as values.
    /// - Throws: `connectionUnavailable` when no connection could be had (nothing sent);
    ///   `timeout` or `connectionLost` when the outcome is unknown.
    func send(_ batch: [ByteBuffer]) async throws(RedisError) -> [RESPValue] {
        // A connection can die between being picked and being written to. A batch that was
        // never written is sent once more on a fresh connection; a written one never is.
        for attempt in 1...2 {
            let (slot, connection) = try await connection()
            commandsSent.increment(by: batch.count)
            var replies: [RESPValue] = []
            replies.reserveCapacity(batch.count)
            do {
                for reply in connection.send(batch, timeout: configuration.commandTimeout) {
                    replies.append(try await reply.get())
                }
                return replies
            } catch let error as RedisError {
                if error.code == .connectionUnavailable, attempt == 1, replies.isEmpty {
                    slot.discard(connection)
                    continue
                }
                throw error
            } catch {
                throw RedisError(.connectionLost, "Redis command failed: \(error); outcome unknown")
            }
        }
        preconditionFailure("unreachable: the last attempt returns or throws")
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

    /// Starts connecting every connection that is not open.
    func warmUp() {
        for slot in slots { slot.warmUp() }
    }

    /// Closes every connection; later commands fail with `shutdown`.
    func shutDown() {
        for slot in slots { slot.shutDown() }
    }
}

/// One ``RedisNodePool`` per server, made on first use: the nodes of a cluster, or the
/// primaries Sentinel has named over time.
final class RedisNodePools: Sendable {
    private let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let pools = Mutex<[RedisEndpoint: RedisNodePool]>([:])

    /// - Parameters:
    ///   - configuration: Credentials and timeouts for every node; the address is replaced.
    ///   - eventLoopGroup: The loops the connections' I/O runs on.
    ///   - logger: Where connection events go.
    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// The pool for a server.
    subscript(endpoint: RedisEndpoint) -> RedisNodePool {
        pools.withLock { pools in
            if let pool = pools[endpoint] { return pool }
            var node = configuration
            node.endpoint = endpoint
            let pool = RedisNodePool(configuration: node, eventLoopGroup: eventLoopGroup, logger: logger)
            pools[endpoint] = pool
            return pool
        }
    }

    /// Closes every pool.
    func shutDown() {
        for pool in pools.withLock({ Array($0.values) }) { pool.shutDown() }
    }
}
