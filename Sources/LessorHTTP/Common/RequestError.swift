import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// What a route finds wrong with a request before any Redis call: the faults every API family
/// shares. Routes throw these; each family's error type renders them in its own format.
public enum RequestError: Error, Sendable, Equatable {
    /// 400: malformed parameters or body. `issues` lists every fault with its path (Den reports
    /// them all); empty means the one named by `message` and `param`.
    case invalid(message: String, param: String? = nil, issues: [Issue] = [])
    /// 401: no usable credentials.
    case unauthenticated(String)
    /// 403: valid credentials, not for this route or environment.
    case forbidden(String)
    /// 404: what the path names does not exist (or its id is malformed).
    case notFound(String)
    /// 413: a body over the route's limit.
    case tooLarge
    /// 409: the idempotency key (carried, for the message) was used for another request.
    case idempotencyConflict(key: String)

    /// One fault of a request body, with its JSON path.
    public struct Issue: Sendable, Equatable {
        public var message: String
        public var path: [String]

        public init(message: String, path: [String]) {
            self.message = message
            self.path = path
        }
    }

    /// 400 for one parameter.
    public static func invalid(_ message: String, param: String? = nil) -> RequestError {
        .invalid(message: message, param: param, issues: [])
    }
}

/// An API family's error type: built from any error in one place per family, rendered in the
/// family's own format (with the request's id where the format has one). Its family's
/// ``FamilyErrorMiddleware`` renders it; as an `HTTPResponseError` it renders itself too,
/// should it ever escape that middleware.
protocol FamilyError: HTTPResponseError, Sendable {
    /// The family's error for anything a route threw, logging what the client must not see.
    init(_ error: any Error, logger: Logger)
    /// The response's headers and body in the family's format, with the request id of the
    /// request it answers (also for answers written below the router, ``HTTPRefusal``).
    func encoded(requestID: String) -> (headers: HTTPFields, body: Data)
}

extension FamilyError {
    /// The response, with the request id of the request it answers.
    func response(requestID: String) -> Response {
        let (headers, body) = encoded(requestID: requestID)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response(requestID: (context as? LessorRequestContext)?.requestID ?? RequestIDMiddleware.requestID(from: request.headers[.requestID]))
    }
}
