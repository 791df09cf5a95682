import Hummingbird
import LessorCore
import LessorRedis
import Logging
import Prometheus
import ServiceLifecycle

/// Builds the HTTP application of one front node.
/// - Parameters:
///   - configuration: The node's settings.
///   - redis: The Redis client; it runs as a service of the application and stops after the server.
///   - logger: The application's logger.
///   - metrics: The registry `MetricsSystem` was bootstrapped with, served at `/metrics`.
///   - drain: Turns `/readyz` to 503 when graceful shutdown begins (see ``DrainService``).
/// - Returns: An application to run in a `ServiceGroup` after which a ``DrainService`` is listed.
public func buildApplication(
    configuration: LessorConfiguration,
    redis: RedisClient,
    metrics: PrometheusCollectorRegistry,
    drain: DrainState,
    logger: Logger
) -> some ApplicationProtocol & Service {
    let keys = KeySpace(namespace: configuration.namespace)
    let reaper = LeaseReaper(functions: LessorFunctions(redis: redis, keys: keys), logger: Logger(label: "lessor.reaper"))
    let wakeups = PollWakeups()
    let subscriber = RedisSubscriber(client: redis, pattern: keys.wakeupPattern) { message in
        wakeups.notify(channel: message.channel)
    }
    // Services stop in reverse order: the server drains first (long polls included), then
    // the reaper and the wakeup subscription, Redis last.
    return Application(
        router: buildRouter(configuration: configuration, redis: redis, wakeups: wakeups, metrics: metrics, drain: drain),
        server: .http1(configuration: .init(idleTimeout: .seconds(75))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "lessor"),
        services: [redis, subscriber, reaper],
        logger: logger
    )
}

/// The responder of every route (the router, with a fast path for the heartbeat), shared by
/// the server and the router tests.
/// - Parameters:
///   - configuration: The node's settings (namespace, admin token, default TTL).
///   - redis: The Redis client the routes use.
///   - wakeups: What wakes long polls (fed by a ``RedisSubscriber``).
///   - metrics: The registry served at `/metrics`.
///   - drain: The draining flag `/readyz` reads.
/// - Returns: The router with the heartbeat's fast path (see ``LessorRouter``).
public func buildRouter(
    configuration: LessorConfiguration,
    redis: RedisClient,
    wakeups: PollWakeups = PollWakeups(),
    metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    drain: DrainState = DrainState()
) -> LessorRouter {
    let functions = LessorFunctions(redis: redis, keys: KeySpace(namespace: configuration.namespace))
    let ids = IdentifierGenerator()
    let tokens = AccessTokens(functions: functions, ids: ids)
    let authenticator = TokenAuthenticator(adminToken: configuration.adminToken, tokens: tokens)
    let router = Router(context: LessorRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: AccessMiddleware())
    router.addRoutes(MetricsController(registry: metrics).endpoints)
    router.addRoutes(OpenAPIController().endpoints)
    router.addRoutes(HealthController(redis: redis, library: LessorLibrary.embedded, drain: drain).endpoints)
    router.addRoutes(AdminController(environments: Environments(functions: functions), tokens: tokens, authenticator: authenticator, ids: ids).endpoints)
    let workController = WorkController(
        functions: functions, authenticator: authenticator, ids: ids, wakeups: wakeups, defaultTTL: configuration.defaultLeaseTTL)
    router.addRoutes(workController.endpoints)
    router.addRoutes(
        WorkerController(
            workers: Workers(functions: functions, ids: ids), authenticator: authenticator, presenceTTL: configuration.workerPresenceTTL
        ).endpoints)
    return LessorRouter(router: router, heartbeat: workController.heartbeat)
}
