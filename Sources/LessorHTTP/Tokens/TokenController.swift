import Hummingbird
import LessorCore
import LessorRedis

/// Lessor's own personal access token routes (`/api/v1/tokens`, admin token only), in the
/// `/api/v1` family's envelope.
struct TokenController: Sendable {
    typealias Context = LessorRequestContext

    /// Where the environments a token names are checked.
    let environments: Environments
    let tokens: AccessTokens
    let authenticator: TokenAuthenticator

    /// The token routes, with the `/api/v1` family's error middleware.
    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.add(middleware: FamilyErrorMiddleware<WorkAPIError>())
        routes.post("api/v1/tokens", use: createToken)
        routes.delete("api/v1/tokens/:token_id", use: revokeToken)
        return routes
    }

    @Sendable func createToken(request: Request, context: Context) async throws -> EditedResponse<TokenResponse> {
        let principal = try await authenticator.principal(for: request)
        let body = try await JSONBody.read(request, context: context)
        let name = try body.string("name") ?? ""
        var environmentIDs: [String]?
        switch body.members["environment_ids"] {
        case nil, .null?: environmentIDs = nil
        case .array(let values)?:
            environmentIDs = try values.map { value in
                guard case .string(let id) = value else { throw RequestError.invalid("environment_ids must be an array of environment ids", param: "environment_ids") }
                return id
            }
        default: throw RequestError.invalid("environment_ids must be an array of environment ids or null", param: "environment_ids")
        }
        var lifetime: Duration?
        switch body.members["expires_in_seconds"] {
        case nil, .null?: lifetime = nil
        case .number(let seconds)? where seconds >= 1 && seconds <= 10 * 365 * 86_400 && seconds == seconds.rounded(): lifetime = .seconds(Int(seconds))
        default: throw RequestError.invalid("expires_in_seconds must be a positive integer (at most ten years)", param: "expires_in_seconds")
        }
        let idempotency = try await IdempotencyHeader.read(request, context: context, principal: principal.idempotencyScope, body: body.bytes)
        try principal.requireAdmin()
        for id in environmentIDs ?? [] {
            guard IdentifierKind.environment.isValid(id), try await environments.get(id: id) != nil else {
                throw RequestError.invalid("environment_ids names an unknown environment: \(id)", param: "environment_ids")
            }
        }
        let created = try await tokens.create(name: name, environmentIDs: environmentIDs, lifetime: lifetime, idempotency: idempotency)
        return Replayable(value: created.value, replayed: created.replayed).response(status: .created) { .created($0, secret: created.secret) }
    }

    @Sendable func revokeToken(request: Request, context: Context) async throws -> TokenResponse {
        let principal = try await authenticator.principal(for: request)
        try principal.requireAdmin()
        let id = try context.parameters.require("token_id")
        guard IdentifierKind.token.isValid(id) else { throw RequestError.notFound("token \(id) not found") }
        try await tokens.revoke(id: id)
        return .revoked(id: id)
    }
}
