import Foundation
import HTTPTypes
import Hummingbird
import LessorRedis
import Logging

/// Gives every response an `x-request-id` and turns every error into the API family's own
/// error body: nothing falls through to a bare 500, and no Redis error text or stack trace
/// ever reaches a client.
public struct APIErrorMiddleware: RouterMiddleware {
    public typealias Context = LessorRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let requestID = Self.requestID(from: request.headers[.requestID])
        context.requestID = requestID
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let apiError = Self.apiError(for: error, logger: context.logger)
            let body = APIFamily.of(path: request.uri.path) == .den ? apiError.denBody() : apiError.qoderBody(requestID: requestID)
            var headers = apiError.headers
            headers[.contentType] = "application/json; charset=utf-8"
            response = Response(status: apiError.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        response.headers[.requestID] = requestID
        return response
    }

    /// The client-facing error for anything a handler threw.
    static func apiError(for error: any Error, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as RedisError:
            logger.error("redis failure", metadata: ["redis.error": "\(error)"])
            return .unavailable("the lease store is unavailable; retry shortly")
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound("no such route")
            case .methodNotAllowed: return APIError(.methodNotAllowed, "invalid_request_error", "method not allowed for this route")
            case .contentTooLarge: return .tooLarge
            case let status where status.code < 500: return APIError(status, "invalid_request_error", error.body ?? status.reasonPhrase)
            default:
                logger.error("http failure", metadata: ["error": "\(error)"])
                return .internalError
            }
        default:
            logger.error("unexpected failure", metadata: ["error": "\(String(reflecting: error))"])
            return .internalError
        }
    }

    /// The id a response carries for a request's `x-request-id` header value: the header when
    /// it is 1–128 printable ASCII characters, else a new lowercase UUID.
    public static func requestID(from header: String?) -> String {
        if let header, (1...128).contains(header.utf8.count), header.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) {
            return header
        }
        return UUID().uuidString.lowercased()
    }
}

extension HTTPField.Name {
    /// `x-request-id`: echoed when the client sends a usable one, minted otherwise.
    public static let requestID = Self("x-request-id")!
}
