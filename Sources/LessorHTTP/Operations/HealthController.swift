import Hummingbird
import LessorRedis
import Logging

/// `/healthz` (the process serves) and `/readyz` (Redis answers and holds the library).
public struct HealthController<Context: RequestContext>: Sendable {
    /// The body of both routes.
    struct Status: ResponseEncodable {
        let status: String
    }

    let redis: RedisClient
    let library: RedisFunctionLibrary?
    let drain: DrainState
    let logger = Logger(label: "lessor.health")

    /// Creates the controller.
    /// - Parameters:
    ///   - redis: The client whose answers decide readiness.
    ///   - library: The function library every primary must hold, byte for byte, for the node to be ready.
    ///   - drain: Set when graceful shutdown begins: the node is no longer ready.
    public init(redis: RedisClient, library: RedisFunctionLibrary? = nil, drain: DrainState = DrainState()) {
        self.redis = redis
        self.library = library
        self.drain = drain
    }

    /// The routes, unauthenticated.
    public var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("healthz", use: health)
        routes.get("readyz", use: ready)
        return routes
    }

    @Sendable func health(request: Request, context: Context) async throws -> EditedResponse<Status> {
        EditedResponse(status: .ok, response: Status(status: "ok"))
    }

    /// 200 while Redis answers and every primary holds the library (a missing or different
    /// one, on a new node or after `FUNCTION FLUSH`, is loaded here), else 503 with `Retry-After`.
    @Sendable func ready(request: Request, context: Context) async throws -> EditedResponse<Status> {
        if drain.isDraining {
            return EditedResponse(status: .serviceUnavailable, headers: [.retryAfter: "1"], response: Status(status: "draining"))
        }
        if await libraryLoaded() {
            return EditedResponse(status: .ok, response: Status(status: "ok"))
        }
        return EditedResponse(status: .serviceUnavailable, headers: [.retryAfter: "1"], response: Status(status: "unavailable"))
    }

    private func libraryLoaded() async -> Bool {
        guard let library else { return await redis.ping() }
        // Every primary: on a cluster, any of them may be asked to run any function next.
        do {
            try await redis.forEachPrimary { node throws(RedisError) in
                let loaded = try await library.loadedSource(on: node)
                guard loaded != library.source else { return }
                if loaded != nil {
                    // Same library name, other code: a release changed lua/lessor.lua without a new version.
                    logger.warning("replacing a function library that differs from this build's", metadata: [
                        "redis.node": "\(node.endpoint)", "redis.library": "\(library.name)",
                    ])
                }
                try await node.load(library)
            }
            return true
        } catch {
            return false
        }
    }
}
