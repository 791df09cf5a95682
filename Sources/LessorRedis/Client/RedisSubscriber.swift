import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// One Pub/Sub connection that pattern-subscribes and hands every message to a callback.
///
/// As a `Service`, ``run()`` keeps the subscription up: after a drop it reconnects with the
/// client's backoff and subscribes again. Messages published while it is down are lost, as
/// Pub/Sub messages are; callers treat them as hints (a long poll falls back to its deadline).
public final class RedisSubscriber: Service, Sendable {
    /// A received message.
    public struct Message: Sendable, Equatable {
        /// The channel it was published to.
        public var channel: String
        /// Its payload.
        public var payload: [UInt8]
    }

    private let client: RedisClient
    private let pattern: String
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let onMessage: @Sendable (Message) -> Void

    /// Creates a subscriber; nothing connects before ``run()``.
    /// - Parameters:
    ///   - client: The client whose topology says where to subscribe (any node of a
    ///     cluster, the current primary under Sentinel), asked again at every reconnection.
    ///   - pattern: The `PSUBSCRIBE` pattern.
    ///   - eventLoopGroup: Where the connection's I/O runs.
    ///   - logger: Where connection trouble goes.
    ///   - onMessage: Called on the connection's event loop for each message; keep it short.
    public init(
        client: RedisClient,
        pattern: String,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis.subscriber"),
        onMessage: @escaping @Sendable (Message) -> Void
    ) {
        self.client = client
        self.pattern = pattern
        self.eventLoop = eventLoopGroup.next()
        self.logger = logger
        self.onMessage = onMessage
    }

    /// Subscribes, and resubscribes after every drop, until graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    let connection = try await self.subscribe()
                    failures = 0
                    await withTaskCancellationHandler {
                        try? await connection.channel.closeFuture.get()
                    } onCancel: {
                        connection.close()
                    }
                    if !Task.isCancelled { self.logger.warning("redis subscription lost; resubscribing") }
                } catch {
                    failures += 1
                    if failures % 10 == 1 {
                        self.logger.warning("redis subscription failed", metadata: ["redis.error": "\(error)"])
                    }
                    try? await Task.sleep(for: self.client.configuration.reconnectBackoff.delay(afterFailures: failures))
                }
            }
        }
    }

    private func subscribe() async throws -> RedisConnection {
        let onMessage = self.onMessage
        let configuration = try await client.subscriptionConfiguration()
        let connection = try await RedisConnection.connect(configuration: configuration, eventLoop: eventLoop) { reply in
            // ["pmessage", pattern, channel, payload]
            guard case .array(let parts) = reply, parts.count == 4,
                  let channel = parts[2].bulkBytes, let payload = parts[3].bulkBytes
            else { return }
            onMessage(Message(channel: String(decoding: channel, as: UTF8.self), payload: payload))
        }.get()
        let reply = try await connection.send(RedisCommand("PSUBSCRIBE", pattern).encoded(), timeout: configuration.commandTimeout).get()
        guard case .array(let parts) = reply, parts.first?.bulkBytes == Array("psubscribe".utf8) else {
            connection.close()
            throw RedisError(.unexpectedReply, "PSUBSCRIBE replied \(reply)")
        }
        return connection
    }
}
