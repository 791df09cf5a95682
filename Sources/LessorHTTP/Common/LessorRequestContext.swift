import Hummingbird

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
}
