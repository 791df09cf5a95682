import Foundation
import HTTPTypes
import Hummingbird
import LessorCore
import LessorRedis

/// OpenWork "Den" workers: the registry (admin) and the activity heartbeat, with Den's own
/// error bodies. On the heartbeat the check order is 404 (id invalid or unknown) → 401 (not
/// that worker's token) → 400 (body), as Den does.
struct WorkerController: Sendable {
    typealias Context = LessorRequestContext

    /// The largest `openSessionCount` (JavaScript's `Number.MAX_SAFE_INTEGER`).
    static let maximumSessionCount: Double = 9_007_199_254_740_991

    let workers: Workers
    let authenticator: TokenAuthenticator
    /// A worker's presence lease, renewed by each activity heartbeat.
    let presenceTTL: Duration

    private var functions: LessorFunctions { workers.functions }

    /// The Den routes, with Den's error middleware.
    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.add(middleware: FamilyErrorMiddleware<DenError>())
        routes.post("v1/workers", use: create)
        routes.get("v1/workers", use: list)
        routes.get("v1/workers/:worker_id", use: get)
        routes.post("v1/workers/:worker_id/activity-heartbeat", use: heartbeat)
        return routes
    }

    @Sendable func create(request: Request, context: Context) async throws -> EditedResponse<CreatedWorkerResponse> {
        let principal = try await authenticator.principal(for: request)
        let body = try await JSONBody.read(request, context: context, required: true)
        guard let name = try body.string("name"), !name.isEmpty, name.utf8.count <= 256 else {
            throw RequestError.invalid("name must be a string of 1 to 256 bytes", param: "name")
        }
        let description = try body.string("description")
        let idempotency = try await IdempotencyHeader.read(request, context: context, principal: principal.idempotencyScope, body: body.bytes)
        try principal.requireAdmin()
        let created = try await workers.create(name: name, description: description, idempotency: idempotency)
        return Replayable(value: created.value, replayed: created.replayed).response(status: .created) { CreatedWorkerResponse(worker: $0, token: created.secret) }
    }

    @Sendable func get(request: Request, context: Context) async throws -> WorkerResponse {
        let principal = try await authenticator.principal(for: request)
        try principal.requireAdmin()
        let id = try context.parameters.require("worker_id")
        guard WorkerID.isValid(id) else { throw RequestError.notFound("worker not found") }
        return WorkerResponse(worker: try await functions.call(WorkerGet(workerID: id)))
    }

    @Sendable func list(request: Request, context: Context) async throws -> WorkerListResponse {
        let principal = try await authenticator.principal(for: request)
        var limit = 50
        if let text = request.uri.queryParameters["limit"] {
            guard let value = QueryValues.digits(text), value >= 1 else {
                throw RequestError.invalid("limit must be a positive integer", param: "limit")
            }
            limit = min(value, 200)
        }
        try principal.requireAdmin()
        return WorkerListResponse(data: try await workers.list(limit: limit).map(WorkerResponse.init))
    }

    @Sendable func heartbeat(request: Request, context: Context) async throws -> EditedResponse<HeartbeatAcknowledgement> {
        let id = try context.parameters.require("worker_id")
        guard WorkerID.isValid(id) else { throw RequestError.notFound("worker not found") }
        let token = Self.token(request)
        let parsed: (heartbeat: ActivityHeartbeat, body: Data)
        let idempotency: Idempotency?
        do {
            parsed = try await Self.parse(request, context: context)
            // Scoped to the presented token: a record answers only the worker that wrote it.
            idempotency = try await IdempotencyHeader.read(
                request, context: context, principal: "worker:" + AccessTokens.digest(of: token ?? ""), body: parsed.body)
        } catch {
            // Den's order: an unknown worker or a wrong token wins over a bad body.
            if case .invalid = error { try await workers.authenticate(id: id, token: token) }
            throw error
        }
        let heartbeat = parsed.heartbeat
        let result = try await functions.call(
            WorkerHeartbeat(workerID: id, token: token, heartbeat: heartbeat, presenceTTL: presenceTTL), idempotency: idempotency)
        return result.response { result in
            HeartbeatAcknowledgement(
                workerID: id, isActiveRecently: heartbeat.isActiveRecently, openSessionCount: heartbeat.openSessionCount,
                lastHeartbeatAt: result.lastHeartbeatAt, lastActiveAt: result.lastActiveAt)
        }
    }

    /// The activity token: `Authorization: Bearer` or `x-den-worker-heartbeat-token`.
    static func token(_ request: Request) -> String? {
        if let header = request.headers[.authorization], let secret = TokenAuthenticator.bearerSecret(header) {
            return secret
        }
        return request.headers[HTTPField.Name("x-den-worker-heartbeat-token")!]
    }

    /// Validates the body as the seed does, reporting every fault with its path.
    /// - Returns: The heartbeat, and the body as sent (what an idempotency key's record compares).
    static func parse(_ request: Request, context: Context) async throws(RequestError) -> (heartbeat: ActivityHeartbeat, body: Data) {
        let body: JSONBody
        do {
            body = try await JSONBody.read(request, context: context, required: true)
        } catch .invalid {
            throw .invalid(message: "Expected object, received invalid JSON", issues: [.init(message: "Expected object, received invalid JSON", path: [])])
        }
        var issues: [RequestError.Issue] = []
        var active = false
        switch body.members["isActiveRecently"] {
        case .bool(let value)?: active = value
        case nil: issues.append(.init(message: "Required", path: ["isActiveRecently"]))
        case let other?: issues.append(.init(message: "Expected boolean, received \(other.kind)", path: ["isActiveRecently"]))
        }
        func instant(_ name: String, nullable: Bool) -> Timestamp? {
            switch body.members[name] {
            case nil: return nil
            case .null? where nullable: return nil
            case .string(let text)?:
                if let instant = Timestamp(denUTC: text) { return instant }
                issues.append(.init(message: "Invalid datetime", path: [name]))
            case let other?: issues.append(.init(message: "Expected string, received \(other.kind)", path: [name]))
            }
            return nil
        }
        let sentAt = instant("sentAt", nullable: false)
        let lastActivityAt = instant("lastActivityAt", nullable: true)
        var count: Int64?
        switch body.members["openSessionCount"] {
        case nil: break
        case .number(let value)?:
            if value != value.rounded(.towardZero) {
                issues.append(.init(message: "Expected integer, received float", path: ["openSessionCount"]))
            } else if value < 0 {
                issues.append(.init(message: "Number must be greater than or equal to 0", path: ["openSessionCount"]))
            } else if value > maximumSessionCount {
                issues.append(.init(message: "Number must be less than or equal to 9007199254740991", path: ["openSessionCount"]))
            } else {
                count = Int64(value)
            }
        case let other?: issues.append(.init(message: "Expected number, received \(other.kind)", path: ["openSessionCount"]))
        }
        if let first = issues.first {
            throw .invalid(message: first.message, param: first.path.first, issues: issues)
        }
        return (ActivityHeartbeat(isActiveRecently: active, sentAt: sentAt, lastActivityAt: lastActivityAt, openSessionCount: count), body.bytes)
    }
}

extension JSONValue {
    /// The JavaScript-style name of the value's type, for Den's messages.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// `POST /v1/workers`.
struct CreatedWorkerResponse: ResponseEncodable {
    let worker: Worker
    let token: String

    private enum CodingKeys: String, CodingKey { case id, name, description, createdAt, tokens }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(worker.id, forKey: .id)
        try container.encode(worker.name, forKey: .name)
        try container.encode(worker.description, forKey: .description)
        try container.encode(worker.createdAt, forKey: .createdAt)
        try container.encode(["activity": token], forKey: .tokens)
    }
}

/// `GET /v1/workers/{id}`.
struct WorkerResponse: ResponseEncodable {
    let worker: Worker

    private enum CodingKeys: String, CodingKey {
        case id, name, description, lastHeartbeatAt, lastActiveAt, isActiveRecently, openSessionCount, online, createdAt, updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(worker.id, forKey: .id)
        try container.encode(worker.name, forKey: .name)
        try container.encode(worker.description, forKey: .description)
        try container.encode(worker.lastHeartbeatAt, forKey: .lastHeartbeatAt)
        try container.encode(worker.lastActiveAt, forKey: .lastActiveAt)
        try container.encode(worker.isActiveRecently, forKey: .isActiveRecently)
        try container.encode(worker.openSessionCount, forKey: .openSessionCount)
        try container.encode(worker.online, forKey: .online)
        try container.encode(worker.createdAt, forKey: .createdAt)
        try container.encode(worker.updatedAt, forKey: .updatedAt)
    }
}

/// `GET /v1/workers`.
struct WorkerListResponse: ResponseEncodable {
    let data: [WorkerResponse]
}

/// The heartbeat's 200.
struct HeartbeatAcknowledgement: ResponseEncodable {
    let workerID: String
    let isActiveRecently: Bool
    let openSessionCount: Int64?
    let lastHeartbeatAt: Timestamp
    let lastActiveAt: Timestamp?

    private enum CodingKeys: String, CodingKey {
        case ok, workerId, isActiveRecently, openSessionCount, lastHeartbeatAt, lastActiveAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(true, forKey: .ok)
        try container.encode(workerID, forKey: .workerId)
        try container.encode(isActiveRecently, forKey: .isActiveRecently)
        try container.encode(openSessionCount, forKey: .openSessionCount)
        try container.encode(lastHeartbeatAt, forKey: .lastHeartbeatAt)
        try container.encode(lastActiveAt, forKey: .lastActiveAt)
    }
}
