import Hummingbird
import LessorCore
import LessorRedis
import Prometheus

/// What the routes need of a front node's settings.
public struct RouteSettings: Sendable {
    /// The admin bearer token; nil: admin routes refuse everyone.
    public var adminToken: String?
    /// The lease an ack grants and a heartbeat without `desired_ttl_seconds` renews.
    public var defaultLeaseTTL: Duration
    /// A Den worker's presence lease.
    public var workerPresenceTTL: Duration

    public init(adminToken: String? = nil, defaultLeaseTTL: Duration = .seconds(60), workerPresenceTTL: Duration = .seconds(90)) {
        self.adminToken = adminToken
        self.defaultLeaseTTL = defaultLeaseTTL
        self.workerPresenceTTL = workerPresenceTTL
    }
}

/// The responder of every route (the router, with a fast path for the heartbeat), shared by
/// the server and the router tests.
/// - Parameters:
///   - functions: The library calls (and through them the Redis client).
///   - settings: The admin token and the default TTLs.
///   - wakeups: What wakes long polls (fed by a `RedisSubscriber`).
///   - metrics: The registry served at `/metrics`.
///   - drain: The draining flag `/readyz` reads.
/// - Returns: The router with the heartbeat's fast path (see ``LessorRouter``).
public func buildRouter(
    functions: LessorFunctions,
    settings: RouteSettings,
    wakeups: PollWakeups = PollWakeups(),
    metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    drain: DrainState = DrainState()
) -> LessorRouter {
    let ids = IdentifierGenerator()
    let tokens = AccessTokens(functions: functions, ids: ids)
    let authenticator = TokenAuthenticator(adminToken: settings.adminToken, tokens: tokens)
    let router = Router(context: LessorRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: AccessMiddleware())
    router.addRoutes(MetricsController(registry: metrics).endpoints)
    router.addRoutes(OpenAPIController().endpoints)
    router.addRoutes(HealthController(redis: functions.redis, library: LessorLibrary.embedded, drain: drain).endpoints)
    let environments = Environments(functions: functions)
    router.addRoutes(TokenController(environments: environments, tokens: tokens, authenticator: authenticator).endpoints)
    var heartbeats: [LessorRouter.Heartbeat] = []
    for family in [WorkFamily.qoder, .anthropic] {
        router.addRoutes(EnvironmentController(family: family, environments: environments, authenticator: authenticator, ids: ids).endpoints)
        let work = WorkController(
            family: family, functions: functions, authenticator: authenticator, ids: ids, wakeups: wakeups, defaultTTL: settings.defaultLeaseTTL)
        router.addRoutes(work.endpoints)
        heartbeats.append(LessorRouter.Heartbeat(family: family, handler: work.heartbeat))
    }
    router.addRoutes(
        WorkerController(
            workers: Workers(functions: functions, ids: ids), authenticator: authenticator, presenceTTL: settings.workerPresenceTTL
        ).endpoints)
    router.addRoutes(
        StatusController(reader: StatusReader(functions: functions), authenticator: authenticator, session: StatusSession(adminToken: settings.adminToken))
            .endpoints)
    return LessorRouter(router: router, heartbeats: heartbeats)
}
