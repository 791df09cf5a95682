import Hummingbird
import LessorCore

/// Renders every error the routes of one API family throw in that family's format. Added to
/// the family's `RouteCollection` before its routes, so the envelope follows from where a
/// route is declared, never from the URL's text.
struct FamilyErrorMiddleware<Family: FamilyError>: RouterMiddleware {
    typealias Context = LessorRequestContext

    /// What the family changes in an error before it is rendered (the Anthropic family's 503 type).
    var adjust: @Sendable (inout Family) -> Void = { _ in }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var familyError = Family(Self.naming(error, request: request), logger: context.logger)
            adjust(&familyError)
            return familyError.response(requestID: context.requestID)
        }
    }

    /// An idempotency conflict with the key it is about: Redis never sees the key, the request does.
    private static func naming(_ error: any Error, request: Request) -> any Error {
        guard case StoreError.refused(.idempotencyConflict)? = error as? StoreError else { return error }
        return RequestError.idempotencyConflict(key: IdempotencyHeader.text(request.headers) ?? "")
    }
}
