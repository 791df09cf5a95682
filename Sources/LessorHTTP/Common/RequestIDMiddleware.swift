import Foundation
import HTTPTypes
import Hummingbird

/// The outermost middleware: gives every request its `x-request-id` (in the context, for
/// error bodies and logs, and on the response, also as `request-id`, the header the Anthropic
/// SDK reads), and answers what no family's route answered
/// (an unmatched path or method) in the `/api/v1` family's envelope, Lessor's default.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = LessorRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let requestID = Self.requestID(from: request.headers[.requestID])
        context.requestID = requestID
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any FamilyError {
            response = error.response(requestID: requestID)
        } catch {
            response = WorkAPIError(error, logger: context.logger).response(requestID: requestID)
        }
        response.headers[.requestID] = requestID
        response.headers[.anthropicRequestID] = requestID
        return response
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
    /// `request-id`: the same id, where the Anthropic SDK reads it (`err.request_id`).
    public static let anthropicRequestID = Self("request-id")!
}
