import Foundation
import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    /// `x-request-id`: echoed when the client sends a usable one, minted otherwise.
    public static let requestID = Self("x-request-id")!
}

/// Gives every response an `x-request-id`: the request's own when it is 1–128 printable
/// ASCII characters, else a new UUID. Errors thrown further in get it too.
public struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = Self.requestID(from: request.headers[.requestID])
        do {
            var response = try await next(request, context)
            response.headers[.requestID] = id
            return response
        } catch let error as any HTTPResponseError {
            var response = try error.response(from: request, context: context)
            response.headers[.requestID] = id
            return response
        }
    }

    /// The id a response carries for a request's `x-request-id` header value.
    /// - Parameter header: The header's value, if any.
    /// - Returns: The header when usable, else a new lowercase UUID.
    public static func requestID(from header: String?) -> String {
        if let header, (1...128).contains(header.utf8.count), header.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            return header
        }
        return UUID().uuidString.lowercased()
    }
}
