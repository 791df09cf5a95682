import Hummingbird
import LessorCore

/// The request context of every route: the request id and, once authenticated, who is calling.
public struct LessorRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The `x-request-id` this request answers with (set by ``RequestIDMiddleware``).
    public var requestID = ""
    /// Who the bearer token belongs to (set by the routes that need one).
    public var principal: Principal?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Request bodies over 64 KiB are refused with 413.
    public var maxUploadSize: Int { 64 * 1024 }

    /// JSON with keys in the documented order (``OrderedJSONEncoder``).
    public var responseEncoder: OrderedJSONEncoder { OrderedJSONEncoder() }
}

extension LessorRequestContext {
    /// The route's `environment_id` once the principal may use it (403), with a malformed id
    /// answered like an unknown one (404).
    /// - Throws: ``RequestError``.
    func environment(usableBy principal: Principal) throws -> String {
        let id = try parameters.require("environment_id")
        guard principal.mayUse(environment: id) else { throw RequestError.forbidden("this token may not use environment \(id)") }
        guard IdentifierKind.environment.isValid(id) else { throw RequestError.notFound("environment \(id) not found") }
        return id
    }
}
