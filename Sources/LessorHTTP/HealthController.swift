import Hummingbird
import LessorRedis

/// `/healthz` (the process serves) and `/readyz` (Redis answers through the pool).
public struct HealthController<Context: RequestContext>: Sendable {
    /// The body of both routes.
    struct Status: ResponseEncodable {
        let status: String
    }

    let redis: RedisClient

    /// Creates the controller.
    /// - Parameter redis: The client whose `PING` decides readiness.
    public init(redis: RedisClient) {
        self.redis = redis
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

    /// 200 while Redis answers `PING` within the command timeout, else 503 with `Retry-After`.
    @Sendable func ready(request: Request, context: Context) async throws -> EditedResponse<Status> {
        if await redis.ping() {
            return EditedResponse(status: .ok, response: Status(status: "ok"))
        }
        return EditedResponse(status: .serviceUnavailable, headers: [.retryAfter: "1"], response: Status(status: "unavailable"))
    }
}
