import Foundation
import HTTPTypes
import Hummingbird
import LessorCore
import NIOCore

/// `Idempotency-Key` (or `X-Idempotency-Key`) on a POST: read, validated, and scoped to the
/// principal and the request, so the route can run its call through an idempotency record.
enum IdempotencyHeader {
    static let name = HTTPField.Name("Idempotency-Key")!
    static let alternativeName = HTTPField.Name("X-Idempotency-Key")!
    /// `Idempotent-Replayed: true` marks an answer that a record gave instead of a run.
    static let replayed = HTTPField.Name("Idempotent-Replayed")!

    /// The key as sent, for messages; nil when the request has none.
    static func text(_ headers: HTTPFields) -> String? {
        headers[name] ?? headers[alternativeName]
    }

    /// The request's idempotency, or nil when it sends no key.
    /// - Parameters:
    ///   - request: The request.
    ///   - context: Its context (the body limit).
    ///   - principal: Who sent it: `admin`, a token id, or a Den worker's token digest.
    ///   - workerID: The family's worker header, which is part of what makes the request this one.
    ///   - body: The body, when the route has read it; else it is read here (only with a key).
    /// - Throws: ``RequestError`` 400 for a key that is not 1–256 printable ASCII bytes, or two
    ///   headers that disagree; 413 for a body over the limit.
    static func read(
        _ request: Request, context: some RequestContext, principal: String, workerID: String? = nil, body: Data? = nil
    ) async throws(RequestError) -> Idempotency? {
        let values = request.headers[values: name] + request.headers[values: alternativeName]
        guard let text = values.first else { return nil }
        guard values.allSatisfy({ $0 == text }) else {
            throw .invalid("Idempotency-Key and X-Idempotency-Key must not differ", param: name.rawName)
        }
        guard let key = IdempotencyKey(text) else {
            throw .invalid("Idempotency-Key must be 1 to 256 printable ASCII characters", param: name.rawName)
        }
        var bytes = body
        if bytes == nil {
            var request = request
            do {
                bytes = Data(try await request.collectBody(upTo: context.maxUploadSize).readableBytesView)
            } catch is NIOTooManyBytesError {
                throw .tooLarge
            } catch {
                throw .invalid("the request body could not be read")
            }
        }
        // "The same request": method, route with its ids, parameters (in any order), worker header, body.
        let query = (request.uri.query ?? "").split(separator: "&").sorted().joined(separator: "&")
        return Idempotency(key: key, principal: principal, request: [
            Array(request.method.rawValue.utf8), Array(request.uri.path.utf8), Array(query.utf8),
            Array((workerID ?? "").utf8), Array(bytes ?? Data()),
        ])
    }
}

extension Principal {
    /// The scope of this principal's idempotency keys: `admin`, or the token's id.
    var idempotencyScope: String {
        switch self {
        case .admin: return "admin"
        case .token(let id, _): return id
        }
    }
}

extension Replayable {
    /// The route's response: `Idempotent-Replayed: true` when a record answered.
    func response<Body: ResponseGenerator>(status: HTTPResponse.Status = .ok, _ body: (Value) -> Body) -> EditedResponse<Body> {
        EditedResponse(status: status, headers: replayed ? [IdempotencyHeader.replayed: "true"] : [:], response: body(value))
    }
}
