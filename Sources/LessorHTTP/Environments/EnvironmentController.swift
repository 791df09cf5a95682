import Hummingbird
import LessorCore
import LessorRedis

/// The environment routes of one work API family (`/api/v1/cloud/environments`,
/// `/v1/environments`): create, update, archive and delete are admin only; retrieve and list
/// are open to a token for the environment (a token lists only the environments it may use).
struct EnvironmentController: Sendable {
    typealias Context = LessorRequestContext

    let family: WorkFamily
    let environments: Environments
    let authenticator: TokenAuthenticator
    /// Where new environment ids come from.
    let ids: IdentifierGenerator

    /// The environment routes, with the family's error middleware.
    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.add(middleware: family.errorMiddleware)
        let collection = routes.group(RouterPath(family.environmentsPath))
        collection.post(use: create)
        collection.get(use: list)
        collection.get(":environment_id", use: retrieve)
        collection.post(":environment_id", use: update)
        collection.delete(":environment_id", use: delete)
        collection.post(":environment_id/archive", use: archive)
        return routes
    }

    @Sendable func create(request: Request, context: Context) async throws -> EditedResponse<EnvironmentResponse> {
        let principal = try await authenticator.principal(for: request)
        let body = try await JSONBody.read(request, context: context)
        let name = try body.string("name") ?? ""
        let description = try body.string("description")
        let kind = try Self.kind(body) ?? .selfHosted
        let metadata = try body.metadata() ?? [:]
        var maxLapses: Int?
        if case .set(let value)? = try Self.maxLapses(body) { maxLapses = value }
        let idempotency = try await IdempotencyHeader.read(request, context: context, principal: principal.idempotencyScope, body: body.bytes)
        try principal.requireAdmin()
        let environment = try await environments.create(
            EnvironmentCreate(environmentID: ids.next(.environment), name: name, description: description, kind: kind, metadata: metadata, maxLapses: maxLapses),
            idempotency: idempotency)
        return environment.response(status: .created, EnvironmentResponse.init)
    }

    @Sendable func retrieve(request: Request, context: Context) async throws -> EnvironmentResponse {
        let principal = try await authenticator.principal(for: request)
        let id = try context.environment(usableBy: principal)
        guard let environment = try await environments.get(id: id) else { throw RequestError.notFound("environment \(id) not found") }
        return EnvironmentResponse(environment: environment)
    }

    @Sendable func list(request: Request, context: Context) async throws -> ListResponse<EnvironmentResponse> {
        let principal = try await authenticator.principal(for: request)
        let query = request.uri.queryParameters
        let limit = try QueryValues.pageLimit(request)
        var includeArchived = false
        if let text = query["include_archived"] {
            guard let value = Bool(String(text)) else { throw RequestError.invalid("include_archived must be true or false", param: "include_archived") }
            includeArchived = value
        }
        var after: String?
        if let page = query["page"] {
            guard let cursor = PageCursor(String(page), kind: .environment), !cursor.backwards else {
                throw RequestError.invalid("page is not a cursor this API returned", param: "page")
            }
            after = cursor.id
        }
        let page = try await environments.list(after: after, limit: limit, includeArchived: includeArchived) { principal.mayUse(environment: $0) }
        let next = page.hasMore ? page.environments.last.map { PageCursor(id: $0.id, backwards: false).text } : nil
        return ListResponse(
            data: page.environments.map(EnvironmentResponse.init), firstID: page.environments.first?.id, lastID: page.environments.last?.id,
            hasMore: page.hasMore, nextPage: next, withBounds: family.listsHaveBounds)
    }

    @Sendable func update(request: Request, context: Context) async throws -> EditedResponse<EnvironmentResponse> {
        let principal = try await authenticator.principal(for: request)
        let body = try await JSONBody.read(request, context: context)
        var update = EnvironmentUpdate(environmentID: "")
        update.name = try body.string("name")
        switch body.members["description"] {
        case nil: break
        case .null?: update.description = .clear
        case .string(let text)?: update.description = .set(text)
        default: throw RequestError.invalid("description must be a string or null", param: "description")
        }
        update.metadata = try body.metadataPatch()
        update.kind = try Self.kind(body)
        update.maxLapses = try Self.maxLapses(body)
        let idempotency = try await IdempotencyHeader.read(request, context: context, principal: principal.idempotencyScope, body: body.bytes)
        try principal.requireAdmin()
        update.environmentID = try context.environment(usableBy: principal)
        return try await environments.functions.call(update, idempotency: idempotency).response(EnvironmentResponse.init)
    }

    @Sendable func archive(request: Request, context: Context) async throws -> EditedResponse<EnvironmentResponse> {
        let principal = try await authenticator.principal(for: request)
        let idempotency = try await IdempotencyHeader.read(request, context: context, principal: principal.idempotencyScope)
        try principal.requireAdmin()
        let id = try context.environment(usableBy: principal)
        return try await environments.functions.call(EnvironmentArchive(environmentID: id), idempotency: idempotency).response(EnvironmentResponse.init)
    }

    @Sendable func delete(request: Request, context: Context) async throws -> EnvironmentDeletedResponse {
        let principal = try await authenticator.principal(for: request)
        try principal.requireAdmin()
        let id = try context.environment(usableBy: principal)
        try await environments.delete(id: id)
        return EnvironmentDeletedResponse(id: id)
    }

    // MARK: shared checks

    /// `max_lapses`: an integer 1–1000 sets it, null clears it (no limit), absent leaves it.
    private static func maxLapses(_ body: JSONBody) throws(RequestError) -> EnvironmentUpdate.Change<Int>? {
        switch body.members["max_lapses"] {
        case nil: return nil
        case .null?: return .clear
        case .number(let value)? where value.rounded() == value && (1...1000).contains(value): return .set(Int(value))
        default: throw .invalid("max_lapses must be an integer from 1 to 1000, or null", param: "max_lapses")
        }
    }

    /// `config.type`, if the body names one.
    private static func kind(_ body: JSONBody) throws -> EnvironmentKind? {
        guard let config = try body.object("config") else { return nil }
        switch config["type"] {
        case nil, .null?: return nil
        case .string(let text)?:
            guard let kind = EnvironmentKind(rawValue: text) else {
                throw RequestError.invalid("config.type must be self_hosted or cloud", param: "config.type")
            }
            return kind
        default: throw RequestError.invalid("config.type must be self_hosted or cloud", param: "config.type")
        }
    }
}
