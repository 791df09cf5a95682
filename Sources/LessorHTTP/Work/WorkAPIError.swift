import Foundation
import HTTPTypes
import Hummingbird
import LessorCore
import LessorRedis
import Logging
import Metrics
import NIOCore

/// The one error type of the work API's envelope, shared by both families (``WorkFamily``) and
/// Lessor's admin routes: a status, a stable `error.type`, a message, when one parameter is at
/// fault its name, and, where a cause has a code the Anthropic SDK branches on,
/// `error.details`. Every error any of their routes throws becomes one of these here, and only
/// here.
struct WorkAPIError: FamilyError, Equatable {
    /// `error.details`: a stable `error_code`, with what the code documents.
    enum Details: Sendable, Equatable {
        /// `{"error_code": code}`.
        case code(String)
        /// `{"error_code": "heartbeat_precondition_failed", "current_state": {...}}`: the lease as the server holds it.
        case heartbeatPreconditionFailed(LeaseState)
    }

    var status: HTTPResponse.Status
    /// The envelope's `error.type`, e.g. `invalid_request_error`.
    var type: String
    var message: String
    var param: String?
    var details: Details?
    /// Extra headers, e.g. `Retry-After` on 503.
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ type: String, _ message: String, param: String? = nil, details: Details? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.details = details
    }

    /// `lessor_work_refusals_total{status}`: the 409s and 412s the Lua functions decided.
    private static let conflicts = Counter(label: "lessor_work_refusals_total", dimensions: [("status", "409")])
    private static let failedPreconditions = Counter(label: "lessor_work_refusals_total", dimensions: [("status", "412")])

    /// The family's error for anything a route threw. Redis trouble that a retry may cure is
    /// 503 with `Retry-After`; anything else unexpected is a bug: 500, with the cause logged
    /// and none in the body.
    init(_ error: any Error, logger: Logger) {
        switch error {
        case let error as WorkAPIError:
            self = error
        case let error as RequestError:
            self.init(error)
        case let error as ParameterError:
            self.init(.badRequest, "invalid_request_error", error.message, param: error.parameter)
        case let error as StoreError:
            switch error {
            case .refused(let refusal): self.init(refusal)
            case .replayed(let refusal):
                self.init(refusal)
                headers[IdempotencyHeader.replayed] = "true"
            case .redis(let redisError): self.init(redisError, logger: logger)
            }
        case let error as RedisError:
            self.init(error, logger: logger)
        case let error as HTTPError:
            switch error.status {
            case .notFound: self.init(.notFound, "not_found_error", "no such route")
            case .methodNotAllowed: self.init(.methodNotAllowed, "invalid_request_error", "method not allowed for this route")
            case .contentTooLarge: self.init(RequestError.tooLarge)
            case let status where status.code < 500: self.init(status, "invalid_request_error", error.body ?? status.reasonPhrase)
            default:
                logger.error("http failure", metadata: ["error": "\(error)"])
                self = .internalError
            }
        case is NIOTooManyBytesError:
            self.init(RequestError.tooLarge)
        default:
            logger.error("unexpected failure", metadata: ["error": "\(String(reflecting: error))"])
            self = .internalError
        }
    }

    private init(_ error: RequestError) {
        switch error {
        case .invalid(let message, let param, _): self.init(.badRequest, "invalid_request_error", message, param: param)
        case .unauthenticated(let message): self.init(.unauthorized, "authentication_error", message)
        case .forbidden(let message): self.init(.forbidden, "permission_error", message)
        case .notFound(let message): self.init(.notFound, "not_found_error", message)
        case .tooLarge: self.init(.contentTooLarge, "request_too_large", "request bodies are limited to 64 KiB")
        case .idempotencyConflict(let key): self = Self.idempotencyConflict(key: key)
        }
    }

    private init(_ refusal: Refusal) {
        switch refusal {
        case .environmentNotFound: self.init(.notFound, "not_found_error", "environment not found")
        case .environmentNotSelfHosted(let kind):
            self.init(.badRequest, "invalid_request_error", "the work API needs a self_hosted environment; this one is \(kind.rawValue)")
        case .environmentArchived:
            self.init(.badRequest, "invalid_request_error", "the environment is archived: it takes no new work and no updates",
                      details: .code("environment_archived"))
        case .invalidConfigTypeChange(let kind):
            self.init(.badRequest, "invalid_request_error", "config.type cannot change after creation; this environment is \(kind.rawValue)",
                      param: "config.type", details: .code("invalid_config_type_change"))
        case .workNotFound: self.init(.notFound, "not_found_error", "work item not found")
        case .conflict(.liveLeases):
            self.init(.conflict, "conflict_error", "the environment holds live leases; stop its work items (or let the leases lapse) first")
        case .conflict(let reason):
            Self.conflicts.increment()
            self.init(.conflict, "invalid_request_error", "the work item cannot do that now (\(reason.rawValue.replacingOccurrences(of: "_", with: " ")))")
        case .preconditionFailed(let reason, let current):
            Self.failedPreconditions.increment()
            self.init(.preconditionFailed, "precondition_failed_error", "precondition failed: \(reason.rawValue.replacingOccurrences(of: "_", with: " "))",
                      details: .heartbeatPreconditionFailed(current))
        case .tokenNotFound: self.init(.notFound, "not_found_error", "token not found")
        case .idempotencyConflict:
            // FamilyErrorMiddleware names the key; this is the same answer without it.
            self = Self.idempotencyConflict(key: nil)
        case .workerNotFound, .wrongWorkerToken:
            // Den's refusals never reach this family's routes.
            self = .internalError
        }
    }

    private init(_ error: RedisError, logger: Logger) {
        if error.isTransient {
            logger.warning("redis unavailable", metadata: ["redis.error": "\(error)"])
            self.init(.serviceUnavailable, "unavailable_error", "the lease store is unavailable; retry shortly")
            headers[.retryAfter] = "1"
        } else {
            logger.error("redis reply not understood", metadata: ["redis.error": "\(error)"])
            self = .internalError
        }
    }

    /// 409 `conflict_error`: the key's record is of another request.
    private static func idempotencyConflict(key: String?) -> WorkAPIError {
        let named = key.map { "Idempotency-Key \"\($0)\"" } ?? "this Idempotency-Key"
        return WorkAPIError(
            .conflict, "conflict_error",
            "\(named) was already used with a different request (another body, route, work item or parameters); send a new key for a new request",
            param: IdempotencyHeader.name.rawName)
    }

    /// 500: a bug, whose cause is in the log.
    static let internalError = WorkAPIError(.internalServerError, "api_error", "internal error")

    /// The envelope: `{"type":"error","request_id":...,"error":{"type","message","param"?,"details"?}}`.
    /// A 4xx carries `x-should-retry: false`: none of them is cured by sending the same request
    /// again (the Anthropic SDK would otherwise retry 408, 409 and 429 by itself).
    func encoded(requestID: String) -> (headers: HTTPFields, body: Data) {
        // In the documented order: type, request_id, error { type, message, param, details }.
        var body = Array(#"{"type":"error","request_id":"#.utf8) + OrderedJSONEncoder.quoted(requestID)
        body += Array(#","error":{"type":"#.utf8) + OrderedJSONEncoder.quoted(type)
        body += Array(#","message":"#.utf8) + OrderedJSONEncoder.quoted(message)
        if let param { body += Array(#","param":"#.utf8) + OrderedJSONEncoder.quoted(param) }
        if let details, let json = try? JSONSerialization.data(withJSONObject: details.json, options: [.sortedKeys]) {
            body += Array(#","details":"#.utf8) + Array(json)
        }
        body += Array("}}".utf8)
        let data = Data(body)
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        if (400..<500).contains(status.code) { headers[.shouldRetry] = "false" }
        return (headers, data)
    }
}

extension WorkAPIError.Details {
    /// The `error.details` object.
    var json: [String: Any] {
        switch self {
        case .code(let code):
            return ["error_code": code]
        case .heartbeatPreconditionFailed(let lease):
            // ttl_seconds: what is left of the lease, in whole seconds rounded up (0: none is live).
            let remaining = lease.remaining.map { Int(($0 + .nanoseconds(999_999_999)).components.seconds) } ?? 0
            let state: [String: Any] = [
                "last_heartbeat": lease.lastHeartbeat.map { $0.rfc3339 as Any } ?? NSNull(),
                "lease_extended": false, "state": lease.state.rawValue, "ttl_seconds": remaining,
            ]
            return ["error_code": "heartbeat_precondition_failed", "current_state": state]
        }
    }
}

extension HTTPField.Name {
    /// `x-should-retry`: the Anthropic SDK obeys it over its own retry rules.
    static let shouldRetry = Self("x-should-retry")!
}
