import Foundation
import HTTPTypes
import Hummingbird
import LessorCore
import LessorRedis
import Logging
import NIOCore

/// The one error type of OpenWork Den's `/v1/workers` routes, in Den's format:
/// `{"error": "<code>"}`, with every fault and its path in `details` for a 400. Every error
/// those routes throw becomes one of these here, and only here.
struct DenError: FamilyError, Equatable {
    var status: HTTPResponse.Status
    /// Den's `error`, e.g. `worker_not_found`.
    var code: String
    /// The faults of a 400.
    var details: [RequestError.Issue] = []
    /// Extra headers, e.g. `Retry-After` on 503.
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ code: String, details: [RequestError.Issue] = []) {
        self.status = status
        self.code = code
        self.details = details
    }

    /// Den's error for anything a route threw: Redis trouble a retry may cure is 503 with
    /// `Retry-After`; anything else unexpected is a bug: 500, logged, with no cause in the body.
    init(_ error: any Error, logger: Logger) {
        switch error {
        case let error as DenError:
            self = error
        case let error as RequestError:
            switch error {
            case .invalid(let message, let param, let issues):
                self.init(.badRequest, "invalid_request", details: issues.isEmpty ? [.init(message: message, path: param.map { [$0] } ?? [])] : issues)
            case .unauthenticated: self.init(.unauthorized, "unauthorized")
            case .forbidden: self.init(.forbidden, "forbidden")
            case .notFound: self.init(.notFound, "worker_not_found")
            case .tooLarge: self.init(.contentTooLarge, "request_too_large")
            case .idempotencyConflict: self.init(.conflict, "idempotency_conflict")
            }
        case let error as StoreError:
            switch error {
            case .refused(.workerNotFound): self.init(.notFound, "worker_not_found")
            case .refused(.wrongWorkerToken): self.init(.unauthorized, "unauthorized")
            case .refused(.idempotencyConflict): self.init(.conflict, "idempotency_conflict")
            case .replayed(let refusal):
                // Den's heartbeat records only its 200s; a replayed refusal would be a bug.
                logger.error("a replayed refusal on Den's routes", metadata: ["refusal": "\(refusal)"])
                self = .internalError
            case .refused(let refusal):
                logger.error("a refusal Den's routes cannot cause", metadata: ["refusal": "\(refusal)"])
                self = .internalError
            case .redis(let redisError): self.init(redisError, logger: logger)
            }
        case let error as RedisError:
            self.init(error, logger: logger)
        case let error as HTTPError where error.status.code < 500:
            switch error.status {
            case .contentTooLarge: self.init(.contentTooLarge, "request_too_large")
            case .notFound: self.init(.notFound, "worker_not_found")
            default: self.init(error.status, "invalid_request", details: [.init(message: error.body ?? error.status.reasonPhrase, path: [])])
            }
        case is NIOTooManyBytesError:
            self.init(.contentTooLarge, "request_too_large")
        default:
            logger.error("unexpected failure", metadata: ["error": "\(String(reflecting: error))"])
            self = .internalError
        }
    }

    private init(_ error: RedisError, logger: Logger) {
        if error.isTransient {
            logger.warning("redis unavailable", metadata: ["redis.error": "\(error)"])
            self.init(.serviceUnavailable, "unavailable")
            headers[.retryAfter] = "1"
        } else {
            logger.error("redis reply not understood", metadata: ["redis.error": "\(error)"])
            self = .internalError
        }
    }

    /// 500: a bug, whose cause is in the log.
    static let internalError = DenError(.internalServerError, "internal_error")

    /// Den's format (Den's bodies carry no request id; the header does).
    func encoded(requestID: String) -> (headers: HTTPFields, body: Data) {
        var body: [String: Any] = ["error": code]
        if status == .badRequest {
            body["details"] = details.map { ["message": $0.message, "path": $0.path] as [String: Any] }
        }
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return (headers, data)
    }
}
