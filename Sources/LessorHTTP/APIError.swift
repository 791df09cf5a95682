import Foundation
import HTTPTypes
import Hummingbird

/// The two API families, each with its own error body.
public enum APIFamily: Sendable {
    /// `/api/v1/...`: `{"type":"error","request_id":...,"error":{"type","message","param"?}}`.
    case qoder
    /// `/v1/workers/...`: `{"error":"..."}`, with `details` for 400.
    case den

    /// The family a request path belongs to.
    public static func of(path: String) -> APIFamily {
        path.hasPrefix("/v1/workers") ? .den : .qoder
    }
}

/// An error the client sees: a status, a stable type, a message and, when one parameter is at
/// fault, its name. Rendered in the family's own format by ``APIErrorMiddleware``.
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    /// The Qoder `error.type`, e.g. `invalid_request_error`.
    public var type: String
    public var message: String
    public var param: String?
    /// Extra headers, e.g. `Retry-After` on 503.
    public var headers: HTTPFields = [:]
    /// Den's 400 `details`: every fault with its path; empty means one, from `message` and `param`.
    public var details: [DenIssue] = []

    /// One fault of a Den request body.
    public struct DenIssue: Sendable, Equatable {
        public var message: String
        public var path: [String]

        public init(message: String, path: [String]) {
            self.message = message
            self.path = path
        }
    }

    public init(_ status: HTTPResponse.Status, _ type: String, _ message: String, param: String? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.param = param
    }

    public static func invalidRequest(_ message: String, param: String? = nil) -> APIError {
        APIError(.badRequest, "invalid_request_error", message, param: param)
    }
    public static func authentication(_ message: String) -> APIError {
        APIError(.unauthorized, "authentication_error", message)
    }
    public static func permission(_ message: String) -> APIError {
        APIError(.forbidden, "permission_error", message)
    }
    public static func notFound(_ message: String) -> APIError {
        APIError(.notFound, "not_found_error", message)
    }
    public static func conflict(_ message: String) -> APIError {
        APIError(.conflict, "invalid_request_error", message)
    }
    public static func preconditionFailed(_ message: String) -> APIError {
        APIError(.preconditionFailed, "precondition_failed_error", message)
    }
    public static let tooLarge = APIError(.contentTooLarge, "request_too_large", "request bodies are limited to 64 KiB")
    public static func unavailable(_ message: String) -> APIError {
        var error = APIError(.serviceUnavailable, "unavailable_error", message)
        error.headers[.retryAfter] = "1"
        return error
    }
    public static let internalError = APIError(.internalServerError, "api_error", "internal error")

    /// The response body in the Qoder envelope.
    func qoderBody(requestID: String) -> Data {
        var error: [String: String] = ["type": type, "message": message]
        if let param { error["param"] = param }
        let body: [String: Any] = ["type": "error", "request_id": requestID, "error": error]
        return (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
    }

    /// The response body in Den's format.
    func denBody() -> Data {
        let code: String
        switch status {
        case .badRequest: code = "invalid_request"
        case .unauthorized: code = "unauthorized"
        case .forbidden: code = "forbidden"
        case .notFound: code = "worker_not_found"
        case .contentTooLarge: code = "request_too_large"
        case .serviceUnavailable: code = "unavailable"
        default: code = "internal_error"
        }
        var body: [String: Any] = ["error": code]
        if status == .badRequest {
            let issues = details.isEmpty ? [DenIssue(message: message, path: param.map { [$0] } ?? [])] : details
            body["details"] = issues.map { ["message": $0.message, "path": $0.path] as [String: Any] }
        }
        return (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
    }
}
