import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore

/// A request refused below the router, by ``ConnectionGuard``: it took too long to arrive, its
/// head is too large, it is not HTTP, or it came on a connection over the node's limit. The
/// answer is in the format of the family its path belongs to, as far as the path arrived, and
/// the connection closes after it.
enum HTTPRefusal: String, Sendable, CaseIterable {
    /// 408: the request's head and body did not arrive within the read timeout.
    case readTimeout = "read_timeout"
    /// 431: the request line and headers are larger than allowed.
    case headerTooLarge = "header_too_large"
    /// 400: bytes that do not parse as an HTTP/1.1 request.
    case malformed
    /// 503: the node already holds its maximum of connections.
    case tooManyConnections = "too_many_connections"

    /// `lessor_http_refusals_total{reason}`, one counter per reason.
    private static let counters = Dictionary(uniqueKeysWithValues: allCases.map {
        ($0, Counter(label: "lessor_http_refusals_total", dimensions: [("reason", $0.rawValue)]))
    })

    /// Counts one refusal of this kind.
    func count() { Self.counters[self]?.increment() }

    /// The whole HTTP/1.1 response, closing the connection.
    /// - Parameters:
    ///   - path: The request's path as far as it is known (it picks the error format).
    ///   - limits: The limits the message quotes.
    /// - Returns: The bytes to write.
    func response(path: Substring?, limits: HTTPLimits) -> ByteBuffer {
        let requestID = UUID().uuidString.lowercased()
        let error = familyError(path: path ?? "", limits: limits)
        var (headers, body) = error.encoded(requestID: requestID)
        headers[.requestID] = requestID
        headers[.connection] = "close"
        headers[.contentLength] = String(body.count)
        if self == .tooManyConnections { headers[.retryAfter] = "1" }
        var text = "HTTP/1.1 \(error.status.code) \(error.status.reasonPhrase)\r\n"
        for field in headers { text += "\(field.name.rawName): \(field.value)\r\n" }
        text += "\r\n"
        var buffer = ByteBuffer(string: text)
        buffer.writeBytes(body)
        return buffer
    }

    /// The refusal as the error of the family `path` belongs to: Den's for `/v1/workers`, the
    /// work API's envelope for the rest (with the Anthropic family's 503 type under `/v1/`).
    private func familyError(path: Substring, limits: HTTPLimits) -> any FamilyError {
        if path.hasPrefix("/v1/workers") {
            switch self {
            case .readTimeout: return DenError(.requestTimeout, "request_timeout")
            case .headerTooLarge: return DenError(.requestHeaderFieldsTooLarge, "request_too_large")
            case .malformed: return DenError(.badRequest, "invalid_request", details: [.init(message: "malformed HTTP request", path: [])])
            case .tooManyConnections: return DenError(.serviceUnavailable, "unavailable")
            }
        }
        switch self {
        case .readTimeout:
            let seconds = Double(limits.readTimeout.components.seconds) + Double(limits.readTimeout.components.attoseconds) / 1e18
            return WorkAPIError(.requestTimeout, "timeout_error", "the request's head and body must arrive within \(seconds) s of its first byte")
        case .headerTooLarge:
            return WorkAPIError(.requestHeaderFieldsTooLarge, "request_too_large", "the request line and headers are limited to \(limits.maxHeaderBytes) bytes")
        case .malformed:
            return WorkAPIError(.badRequest, "invalid_request_error", "malformed HTTP request")
        case .tooManyConnections:
            let type = path.hasPrefix("/v1/") ? WorkFamily.anthropic.unavailableErrorType : WorkFamily.qoder.unavailableErrorType
            return WorkAPIError(.serviceUnavailable, type, "this node holds its maximum of connections; retry shortly")
        }
    }
}
