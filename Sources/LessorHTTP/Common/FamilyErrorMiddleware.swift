import Hummingbird

/// Renders every error the routes of one API family throw in that family's format. Added to
/// the family's `RouteCollection` before its routes, so the envelope follows from where a
/// route is declared, never from the URL's text.
struct FamilyErrorMiddleware<Family: FamilyError>: RouterMiddleware {
    typealias Context = LessorRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Family(error, logger: context.logger).response(requestID: context.requestID)
        }
    }
}
