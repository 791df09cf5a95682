import Hummingbird
import LessorCore
import LessorRedis

/// Lessor's own admin routes of the `/api/v1` family: personal access tokens and
/// environments. Admin token only, except reading an environment, which a token for it may.
public struct AdminController: Sendable {
    public typealias Context = LessorRequestContext

    let environments: Environments
    let tokens: AccessTokens
    let authenticator: TokenAuthenticator
    let ids: IdentifierGenerator

    /// Creates the controller.
    public init(environments: Environments, tokens: AccessTokens, authenticator: TokenAuthenticator, ids: IdentifierGenerator) {
        self.environments = environments
        self.tokens = tokens
        self.authenticator = authenticator
        self.ids = ids
    }

    /// The token and environment routes, with the `/api/v1` family's error middleware.
    public var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.add(middleware: FamilyErrorMiddleware<WorkAPIError>())
        routes.post("api/v1/tokens", use: createToken)
        routes.delete("api/v1/tokens/:token_id", use: revokeToken)
        routes.post("api/v1/cloud/environments", use: createEnvironment)
        routes.get("api/v1/cloud/environments/:environment_id", use: getEnvironment)
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
        try principal.requireAdmin()
        for id in environmentIDs ?? [] {
            guard IdentifierKind.environment.isValid(id), try await environments.get(id: id) != nil else {
                throw RequestError.invalid("environment_ids names an unknown environment: \(id)", param: "environment_ids")
            }
        }
        let (token, secret) = try await tokens.create(name: name, environmentIDs: environmentIDs, lifetime: lifetime)
        return EditedResponse(status: .created, response: .created(token, secret: secret))
    }

    @Sendable func revokeToken(request: Request, context: Context) async throws -> TokenResponse {
        let principal = try await authenticator.principal(for: request)
        try principal.requireAdmin()
        let id = try context.parameters.require("token_id")
        guard IdentifierKind.token.isValid(id) else { throw RequestError.notFound("token \(id) not found") }
        try await tokens.revoke(id: id)
        return .revoked(id: id)
    }

    @Sendable func createEnvironment(request: Request, context: Context) async throws -> EditedResponse<EnvironmentResponse> {
        let principal = try await authenticator.principal(for: request)
        let body = try await JSONBody.read(request, context: context)
        let name = try body.string("name") ?? ""
        let description = try body.string("description") ?? ""
        var kind = EnvironmentKind.selfHosted
        if let config = try body.object("config") {
            switch config["type"] {
            case nil, .null?: break
            case .string(let text)?:
                guard let parsed = EnvironmentKind(rawValue: text) else {
                    throw RequestError.invalid("config.type must be self_hosted or cloud", param: "config.type")
                }
                kind = parsed
            default: throw RequestError.invalid("config.type must be self_hosted or cloud", param: "config.type")
            }
        }
        try principal.requireAdmin()
        let environment = try await environments.create(EnvironmentCreate(environmentID: ids.next(.environment), name: name, description: description, kind: kind))
        return EditedResponse(status: .created, response: EnvironmentResponse(environment: environment))
    }

    @Sendable func getEnvironment(request: Request, context: Context) async throws -> EnvironmentResponse {
        let principal = try await authenticator.principal(for: request)
        let id = try context.parameters.require("environment_id")
        guard principal.mayUse(environment: id) else { throw RequestError.forbidden("this token may not use environment \(id)") }
        guard IdentifierKind.environment.isValid(id), let environment = try await environments.get(id: id) else {
            throw RequestError.notFound("environment \(id) not found")
        }
        return EnvironmentResponse(environment: environment)
    }
}
