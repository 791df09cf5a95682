import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One TCP connection to Redis, shared by any number of concurrent callers.
///
/// **Auto-pipelining**: callers append their encoded command to an outbox; the first
/// one to find the outbox empty schedules a drain on the event loop, and that drain
/// writes everything queued by then in one flush. Under load, batches grow by themselves
/// and many callers share each write system call; with one caller it is one command a flush.
final class RedisConnection: Sendable {
    private struct Outbox: Sendable {
        var requests: [RedisRequest] = []
        var drainScheduled = false
    }

    let channel: any Channel
    private let handler: NIOLoopBound<RedisChannelHandler>
    private let outbox = Mutex(Outbox())

    private init(channel: any Channel, handler: NIOLoopBound<RedisChannelHandler>) {
        self.channel = channel
        self.handler = handler
    }

    /// True while the socket is open.
    var isActive: Bool { channel.isActive }

    /// The event loop the connection's I/O runs on.
    var eventLoop: any EventLoop { channel.eventLoop }

    /// Queues an encoded command.
    /// - Returns: A future for its reply (error replies included as values).
    func send(_ bytes: ByteBuffer, timeout: Duration) -> EventLoopFuture<RESPValue> {
        send([bytes], timeout: timeout)[0]
    }

    /// Queues encoded commands back to back: no other caller's command comes between them,
    /// as `ASKING` and `WAIT` need (each applies to the command next to it on the connection).
    /// - Returns: A future for each reply, in order (error replies included as values).
    func send(_ batch: [ByteBuffer], timeout: Duration) -> [EventLoopFuture<RESPValue>] {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let requests = batch.map { bytes in
            RedisRequest(bytes: bytes, promise: channel.eventLoop.makePromise(of: RESPValue.self), deadline: deadline)
        }
        let mustSchedule = outbox.withLock { outbox in
            outbox.requests.append(contentsOf: requests)
            defer { outbox.drainScheduled = true }
            return !outbox.drainScheduled
        }
        if mustSchedule {
            channel.eventLoop.execute { self.drain() }
        }
        return requests.map(\.promise.futureResult)
    }

    private func drain() {
        let batch = outbox.withLock { outbox in
            outbox.drainScheduled = false
            return outbox.requests.take()
        }
        handler.value.write(batch)
    }

    /// Closes the socket; commands in flight fail as `connectionLost`.
    func close() {
        channel.close(promise: nil)
    }

    /// Opens a connection and runs the handshake (`AUTH`, `SELECT`, `CLIENT SETNAME`, `PING`)
    /// pipelined in one round trip.
    /// - Parameters:
    ///   - configuration: Where and how to connect.
    ///   - eventLoop: The loop that will own the connection.
    /// - Returns: A future for a ready connection; it fails with `connectionUnavailable`,
    ///   `authenticationFailed` or `invalidConfiguration`.
    ///   - onPush: For a subscriber connection, receives every Pub/Sub message.
    static func connect(
        configuration: RedisConfiguration,
        eventLoop: any EventLoop,
        onPush: (@Sendable (RESPValue) -> Void)? = nil
    ) -> EventLoopFuture<RedisConnection> {
        let endpoint = configuration.endpointDescription
        // The TLS handlers are made on the channel's loop (they are not Sendable); only the
        // handshake's promise crosses from here to there.
        let tls = configuration.tls
        let handshake = tls.map { _ in eventLoop.makePromise(of: Void.self) }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls, let handshake {
                        let handler = try tls.handler(host: configuration.host)
                        try channel.pipeline.syncOperations.addHandlers(handler, TLSHandshakeWatcher(endpoint: endpoint, promise: handshake))
                    }
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(endpoint: endpoint, onPush: onPush))
                }
            }
        let connected = bootstrap.connect(host: configuration.host, port: configuration.port)
            .flatMapErrorThrowing { error in
                let failure = RedisError(.connectionUnavailable, "cannot connect to Redis at \(endpoint): \(error)")
                handshake?.fail(failure)  // no channel, so no handshake will complete it
                throw failure
            }
            .flatMap { channel in
                // With TLS, the handshake must succeed before any command is written; its
                // failure closes the channel and says why.
                guard let handshake else { return eventLoop.makeSucceededFuture(channel) }
                return handshake.futureResult.map { channel }.flatMapError { error in
                    channel.close(promise: nil)
                    return eventLoop.makeFailedFuture(error)
                }
            }
            .flatMapThrowing { channel in
                // A channel already closed has no handlers left. With TLS 1.3 a server that wants
                // a client certificate says so only after the client's handshake completed, and
                // closes: say that, not "handler not found".
                guard let handler = try? channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self) else {
                    throw tls == nil
                        ? RedisError(.connectionUnavailable, "Redis at \(endpoint) closed the connection as it opened")
                        : RedisError(.tlsFailure, "Redis at \(endpoint) closed the connection right after the TLS handshake (does it want a client certificate, LESSOR_REDIS_TLS_CERT_FILE, from a CA it trusts?)")
                }
                return RedisConnection(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }
        return connected.flatMap { connection in
            connection.handshake(configuration).map { connection }.flatMapErrorThrowing { error in
                connection.close()
                if let refusal = connection.handler.value.tlsFailure {
                    throw RedisError(.tlsFailure, "Redis at \(endpoint) refused the TLS client (does it want a client certificate, LESSOR_REDIS_TLS_CERT_FILE, from a CA it trusts?): \(refusal)")
                }
                // The caller's own command was never sent: a handshake that timed out or lost
                // its connection makes Redis unavailable, not the command's outcome unknown.
                guard let error = error as? RedisError, !error.isOutcomeUnknown else {
                    throw RedisError(.connectionUnavailable, "Redis at \(endpoint) did not complete the handshake: \(error)")
                }
                throw error
            }
        }
    }

    private func handshake(_ configuration: RedisConfiguration) -> EventLoopFuture<Void> {
        var handshake: [(RedisCommand, RedisError.Code, String)] = []
        if let password = configuration.password {
            let auth = configuration.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
            handshake.append((auth, .authenticationFailed, "Redis refused AUTH"))
        }
        if configuration.database != 0 {
            handshake.append((RedisCommand("SELECT", configuration.database), .invalidConfiguration, "Redis refused SELECT \(configuration.database)"))
        }
        if let name = configuration.clientName {
            handshake.append((RedisCommand("CLIENT", "SETNAME", name), .serverError, "Redis refused CLIENT SETNAME"))
        }
        // PING last: it is what reveals a server that wants a password we did not send.
        handshake.append((RedisCommand("PING"), .serverError, "Redis refused PING"))

        let steps = handshake
        let timeout = configuration.connectTimeout
        let replies = steps.map { step in send(step.0.encoded(), timeout: timeout) }
        return EventLoopFuture.whenAllComplete(replies, on: eventLoop).flatMapThrowing { results in
            for (result, step) in zip(results, steps) {
                switch result {
                case .failure(let error):
                    throw error
                case .success(.error(let message)):
                    if message.hasPrefix("NOAUTH") {
                        throw RedisError(.authenticationFailed, "Redis requires a password: put it in the URL (redis://:password@host). Redis said: \(message)")
                    }
                    throw RedisError(step.1, "\(step.2): \(message)")
                case .success:
                    continue
                }
            }
        }
    }
}

extension Array {
    /// Returns the elements and leaves the array empty, keeping its capacity for reuse.
    fileprivate mutating func take() -> [Element] {
        let taken = self
        removeAll(keepingCapacity: true)
        return taken
    }
}
