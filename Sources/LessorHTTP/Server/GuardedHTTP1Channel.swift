import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1.1 child channel with a ``ConnectionGuard`` in front of its decoder
/// and a ``RequestProgressHandler`` behind it: the server `lessor serve` runs.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    private let http1: HTTP1Channel
    private let limits: HTTPLimits
    private let connections: ConnectionCount

    init(responder: @escaping HTTPChannelHandler.Responder, limits: HTTPLimits) {
        let decoder = HTTP1Channel.Configuration.DecoderConfiguration(
            maxHeaderFieldSize: limits.maxHeaderBytes, maxHeaderListSize: limits.maxHeaderBytes, maxHeaderFieldCount: 1000)
        self.http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(
                additionalChannelHandlers: [RequestProgressHandler()], idleTimeout: TimeAmount(limits.idleTimeout),
                httpDecoderConfiguration: decoder))
        self.limits = limits
        self.connections = ConnectionCount(maximum: limits.maxConnections)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(limits: limits, connections: connections), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// An HTTP/1.1 server whose connections are held to `limits` (see ``HTTPLimits``).
    /// - Parameter limits: The read and idle timeouts, the head size and the connection limit.
    /// - Returns: The builder for `Application(router:server:)`.
    public static func lessor(limits: HTTPLimits) -> HTTPServerBuilder {
        .init { responder in GuardedHTTP1Channel(responder: responder, limits: limits) }
    }
}
