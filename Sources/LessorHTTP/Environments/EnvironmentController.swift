import Hummingbird
import LessorCore
import LessorRedis

/// Lessor's own environment routes (`/api/v1/cloud/environments`): creating is admin only,
/// reading is open to a token for the environment; in the `/api/v1` family's envelope.
struct EnvironmentController: Sendable {
    typealias Context = LessorRequestContext

    let environments: Environments
    let authenticator: TokenAuthenticator
    /// Where new environment ids come from.
    let ids: IdentifierGenerator

    /// The environment routes, with the `/api/v1` family's error middleware.
    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.add(middleware: FamilyErrorMiddleware<WorkAPIError>())
        routes.post("api/v1/cloud/environments", use: createEnvironment)
        routes.get("api/v1/cloud/environments/:environment_id", use: getEnvironment)
        return routes
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
