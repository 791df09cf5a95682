import HTTPTypes
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization

/// The connections one node holds, shared by every event loop, against
/// ``HTTPLimits/maxConnections``; `lessor_http_connections` shows the count.
final class ConnectionCount: Sendable {
    private let count = Atomic<Int>(0)
    private let maximum: Int
    private let gauge = Gauge(label: "lessor_http_connections")

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Counts a new connection.
    /// - Returns: False when it is one over the maximum (it is counted all the same, until closed).
    func open() -> Bool {
        let now = count.add(1, ordering: .relaxed).newValue
        gauge.record(now)
        return now <= maximum
    }

    /// Counts a connection gone.
    func close() {
        gauge.record(count.subtract(1, ordering: .relaxed).newValue)
    }
}

/// The first handler of every HTTP connection, on its raw bytes, so that no client can hold a
/// node by being slow or large: a request must arrive whole within the read timeout of its
/// first byte, its head may not outgrow ``HTTPLimits/maxHeaderBytes``, bytes that are not
/// HTTP get a 400, and a connection over the node's maximum gets a 503 for its first request.
/// Each refusal is written here, straight to the socket, in the API family's format
/// (``HTTPRefusal``), then the connection closes. ``RequestProgressHandler``, behind the
/// HTTP decoder, tells it where each request's head and end are.
///
/// An idle keep-alive connection (no request under way) is not its concern: Hummingbird's
/// idle timeout closes it.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is in its current request.
    private enum Progress {
        /// Between requests.
        case idle
        /// Bytes of a request arrived; its head is not decoded yet. `headBytes` counts them.
        case head(headBytes: Int)
        /// The head is decoded (`path`); the body, or its end, is on its way. `answered`: the
        /// route already responded (it did not wait for the body).
        case body(path: Substring, answered: Bool)
    }

    private let limits: HTTPLimits
    private let connections: ConnectionCount
    private var context: ChannelHandlerContext?
    private var counted = false
    private var admitted = true
    private var refused = false
    private var progress = Progress.idle
    /// The request line as far as it arrived (at most 2 KiB), for the path of a refusal.
    private var requestLine: [UInt8] = []
    private var deadline: Scheduled<Void>?
    /// When the current request's first byte arrived.
    private var requestStarted = NIODeadline.uptimeNanoseconds(0)

    /// The request line may add this much to ``HTTPLimits/maxHeaderBytes`` (the decoder's own
    /// limit counts header names and values only).
    static let requestLineAllowance = 8 * 1024

    init(limits: HTTPLimits, connections: ConnectionCount) {
        self.limits = limits
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { opened(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        opened(context: context)
        context.fireChannelActive()
    }

    private func opened(context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        admitted = connections.open()
        if !admitted {
            // Refused at its first request; one that sends none is closed at the read timeout.
            startDeadline(context: context, from: .now())
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            connections.close()
            counted = false
        }
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }  // what a refused client still sends is dropped
        let buffer = unwrapInboundIn(data)
        if case .idle = progress {
            progress = .head(headBytes: 0)
            requestStarted = .now()
            requestLine.removeAll(keepingCapacity: true)
        }
        if case .head(let headBytes) = progress {
            if requestLine.count < 2048, !requestLine.contains(UInt8(ascii: "\n")) {
                requestLine += buffer.readableBytesView.prefix(2048 - requestLine.count)
            }
            guard admitted else { return refuse(.tooManyConnections) }
            // Only what arrived before this read counts: this one may carry the head's end and
            // a body, which the limit is not about. So a head is held to the limit plus one read.
            guard headBytes <= limits.maxHeaderBytes + Self.requestLineAllowance else { return refuse(.headerTooLarge) }
            progress = .head(headBytes: headBytes + buffer.readableBytes)
        }
        context.fireChannelRead(data)
    }

    /// The read timeout runs only for a request still incomplete when a read ends: almost every
    /// request arrives in one read and is decoded within it, and a timer scheduled and
    /// cancelled per request cost a heartbeat 4 % of its CPU.
    func channelReadComplete(context: ChannelHandlerContext) {
        if !refused, deadline == nil {
            if case .idle = progress {} else { startDeadline(context: context, from: requestStarted) }
        }
        context.fireChannelReadComplete()
    }

    /// ``RequestProgressHandler`` decoded a request's head.
    func headDecoded(path: String?) {
        progress = .body(path: Substring(path ?? ""), answered: false)
    }

    /// ``RequestProgressHandler`` saw a response end go out.
    func responseSent() {
        if case .body(let path, _) = progress { progress = .body(path: path, answered: true) }
    }

    /// ``RequestProgressHandler`` decoded a request's end: it arrived in time.
    func endDecoded() {
        deadline?.cancel()
        deadline = nil
        progress = .idle
    }

    /// Answers `refusal` in the request's family format, and closes the connection.
    func refuse(_ refusal: HTTPRefusal) {
        guard !refused, let context else { return }
        refused = true
        deadline?.cancel()
        refusal.count()
        let path: Substring?
        switch progress {
        case .body(_, answered: true):
            // The request has its answer; a second one would answer nothing the client asked.
            context.close(promise: nil)
            return
        case .body(let decoded, answered: false): path = decoded
        case .idle, .head: path = rawPath
        }
        let written = context.writeAndFlush(wrapOutboundOut(refusal.response(path: path, limits: limits)))
        // Closing at once could reset the connection while the client is still sending, and a
        // reset may destroy the answer before the client reads it: end the output, drop what
        // still arrives, and close a second later.
        written.assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { context.close(promise: nil) }
        }
    }

    /// The path of the request line as far as it arrived, or nil.
    private var rawPath: Substring? {
        let line = requestLine.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
        let words = line.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        guard words.count >= 2 else { return nil }
        return Substring(decoding: words[1], as: UTF8.self)
    }

    private func startDeadline(context: ChannelHandlerContext, from start: NIODeadline) {
        deadline?.cancel()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(deadline: start + TimeAmount(limits.readTimeout)) { [self] in
            if admitted { refuse(.readTimeout) } else { context.close(promise: nil) }
        }
    }
}

/// Sits behind the HTTP decoder and tells the connection's ``ConnectionGuard`` where each
/// request's head and end are, and when its response has gone out; a request the decoder cannot parse becomes the guard's 400
/// (or 431 for a head over the limit) instead of a silently closed connection.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var connectionGuard: ConnectionGuard?

    func handlerAdded(context: ChannelHandlerContext) {
        connectionGuard = try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            connectionGuard?.headDecoded(path: head.path)
        case .body:
            break
        case .end:
            connectionGuard?.endDecoded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { connectionGuard?.responseSent() }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Parse errors, and a head that HTTP types refuse (it fires instead of the head part).
        guard let connectionGuard, error is HTTPParserError || error is HTTP1TypeConversionError else {
            context.fireErrorCaught(error)
            return
        }
        connectionGuard.refuse(error as? HTTPParserError == .headerOverflow ? .headerTooLarge : .malformed)
    }
}
