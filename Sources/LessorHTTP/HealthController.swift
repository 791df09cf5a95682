import Hummingbird
import LessorRedis

/// `/healthz` (the process serves) and `/readyz` (Redis answers through the pool).
public struct HealthController<Context: RequestContext>: Sendable {
    /// The body of both routes.
    struct Status: ResponseEncodable {
        let status: String
    }

    let redis: RedisClient
    let scripts: [RedisScript]
    let drain: DrainState

    /// Creates the controller.
    /// - Parameters:
    ///   - redis: The client whose answers decide readiness.
    ///   - scripts: Scripts that must be in Redis's script cache for the node to be ready.
    ///   - drain: Set when graceful shutdown begins: the node is no longer ready.
    public init(redis: RedisClient, scripts: [RedisScript] = [], drain: DrainState = DrainState()) {
        self.redis = redis
        self.scripts = scripts
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

    /// 200 while Redis answers and holds every script (missing ones, after a Redis restart or
    /// failover, are loaded here), else 503 with `Retry-After`.
    @Sendable func ready(request: Request, context: Context) async throws -> EditedResponse<Status> {
        if drain.isDraining {
            return EditedResponse(status: .serviceUnavailable, headers: [.retryAfter: "1"], response: Status(status: "draining"))
        }
        if await scriptsLoaded() {
            return EditedResponse(status: .ok, response: Status(status: "ok"))
        }
        return EditedResponse(status: .serviceUnavailable, headers: [.retryAfter: "1"], response: Status(status: "unavailable"))
    }

    private func scriptsLoaded() async -> Bool {
        guard !scripts.isEmpty else { return await redis.ping() }
        // Every primary: on a cluster, any of them may be asked to run any script next.
        let scripts = self.scripts
        do {
            try await redis.forEachPrimary { node throws(RedisError) in
                let exists = RedisCommand(arguments: [Array("SCRIPT".utf8), Array("EXISTS".utf8)] + scripts.map { Array($0.sha1.utf8) })
                let present = try await node.send(exists, as: [Int].self)
                for (script, loaded) in zip(scripts, present) where loaded == 0 { try await node.load(script) }
            }
            return true
        } catch {
            return false
        }
    }
}
