import NIOCore
import NIOSSL

/// One command on its way to Redis: its encoded bytes, who waits for the reply, and until when.
struct RedisRequest: Sendable {
    var bytes: ByteBuffer
    var promise: EventLoopPromise<RESPValue>
    var deadline: NIODeadline
}

/// The NIO side of one Redis connection: writes batches of commands, matches replies to
/// them in FIFO order (RESP has no request ids), and enforces the command timeout.
///
/// Lives on its channel's event loop; every method runs there.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let reader = RESPReplyReader()
    private var inFlight = CircularBuffer<RedisRequest>(initialCapacity: 64)
    private var context: ChannelHandlerContext?
    private var timeoutCheck: (task: Scheduled<Void>, deadline: NIODeadline)?
    /// Set once the connection is unusable; later commands fail with it unsent.
    private var closedReason: RedisError?
    private let endpoint: String

    /// Receives Pub/Sub messages (`message` / `pmessage` arrays) on a subscribed connection.
    private let onPush: (@Sendable (RESPValue) -> Void)?

    init(endpoint: String, onPush: (@Sendable (RESPValue) -> Void)? = nil) {
        self.endpoint = endpoint
        self.onPush = onPush
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(RedisError(.connectionLost, "connection to \(endpoint) closed; outcome unknown"))
        self.context = nil
    }

    /// Writes a batch of commands in one flush. Commands that cannot be written fail as
    /// `connectionUnavailable` (never sent, safe to retry).
    func write(_ requests: [RedisRequest]) {
        guard let context, closedReason == nil, context.channel.isActive else {
            let reason = closedReason?.message ?? "connection to \(endpoint) is closed"
            for request in requests {
                request.promise.fail(RedisError(.connectionUnavailable, "\(reason); command not sent"))
            }
            return
        }
        if requests.count == 1 {
            context.write(wrapOutboundOut(requests[0].bytes), promise: nil)
        } else {
            var batch = context.channel.allocator.buffer(capacity: requests.reduce(0) { $0 + $1.bytes.readableBytes })
            for request in requests { batch.writeImmutableBuffer(request.bytes) }
            context.write(wrapOutboundOut(batch), promise: nil)
        }
        for request in requests { inFlight.append(request) }
        context.flush()
        if let earliest = requests.lazy.map(\.deadline).min() { armTimeoutCheck(context: context, at: earliest) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do throws(RedisError) {
            try reader.feed(unwrapInboundIn(data))
            while let reply = try reader.next() {
                if let onPush, Self.isPubSubMessage(reply) {
                    onPush(reply)
                    continue
                }
                guard let request = inFlight.popFirst() else {
                    throw RedisError(.protocolError, "Redis sent a reply nobody asked for")
                }
                request.promise.succeed(reply)
            }
        } catch {
            close(context: context, reason: error)
        }
    }

    /// A message pushed to a subscriber, as opposed to the reply to a command.
    private static func isPubSubMessage(_ reply: RESPValue) -> Bool {
        guard case .array(let parts) = reply, let kind = parts.first?.bulkBytes else { return false }
        return kind == Array("message".utf8) || kind == Array("pmessage".utf8)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError(.connectionLost, "connection to \(endpoint) lost; outcome unknown"))
        context.fireChannelInactive()
    }

    /// What TLS said when it broke the connection (a server that refused the client's
    /// certificate alerts only after the client's side of the handshake is done).
    private(set) var tlsFailure: String?

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is BoringSSLError { tlsFailure = String(describing: error) }
        close(context: context, reason: RedisError(.connectionLost, "connection to \(endpoint) failed (\(error)); outcome unknown"))
    }

    private func close(context: ChannelHandlerContext, reason: RedisError) {
        failAll(reason)
        context.close(promise: nil)
    }

    /// Fails every command in flight and marks the connection unusable.
    private func failAll(_ reason: RedisError) {
        if closedReason == nil { closedReason = reason }
        timeoutCheck?.task.cancel()
        timeoutCheck = nil
        let failed = inFlight
        inFlight.removeAll()
        for request in failed { request.promise.fail(reason) }
    }

    /// One timer per connection, armed no later than the earliest deadline of any command in
    /// flight. Commands usually share one timeout, so re-arming is rare and a write costs one
    /// comparison. A command that expires closes the connection: the replies queued behind
    /// it can no longer be trusted to come.
    private func armTimeoutCheck(context: ChannelHandlerContext, at earliest: NIODeadline) {
        if let armed = timeoutCheck, armed.deadline <= earliest { return }
        timeoutCheck?.task.cancel()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let task = context.eventLoop.scheduleTask(deadline: earliest) { loopBound.value.checkTimeouts() }
        timeoutCheck = (task, earliest)
    }

    private func checkTimeouts() {
        timeoutCheck = nil
        guard let context else { return }
        let now = NIODeadline.now()
        if inFlight.contains(where: { $0.deadline <= now }) {
            close(context: context, reason: RedisError(.timeout, "no reply from \(endpoint) in time; outcome unknown"))
        } else if let earliest = inFlight.lazy.map(\.deadline).min() {
            armTimeoutCheck(context: context, at: earliest)
        }
    }
}
