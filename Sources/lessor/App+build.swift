import Hummingbird
import LessorCore
import LessorHTTP
import LessorRedis
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The composition root of one front node: the Redis client, the library calls, the reaper,
/// the wakeup subscription and the HTTP server, in one `ServiceGroup`.
/// - Parameters:
///   - configuration: The node's settings.
///   - metrics: The registry `MetricsSystem` was bootstrapped with, served at `/metrics`.
///   - logger: The node's logger.
/// - Returns: The group; `run()` serves until SIGTERM or SIGINT, then drains and returns.
/// - Throws: `RedisError` for Redis settings the client refuses.
func buildServiceGroup(configuration: LessorConfiguration, metrics: PrometheusCollectorRegistry, logger: Logger) throws -> ServiceGroup {
    let redis = try RedisClient(configuration: configuration.redis, logger: Logger(label: "lessor.redis"))
    let keys = KeySpace(namespace: configuration.namespace)
    let functions = LessorFunctions(redis: redis, keys: keys, wait: configuration.replicationWait)
    let reaper = LeaseReaper(functions: functions, logger: Logger(label: "lessor.reaper"))
    let wakeups = PollWakeups()
    let subscriber = RedisSubscriber(client: redis, pattern: keys.wakeupPattern, logger: Logger(label: "lessor.redis.subscriber")) { message in
        wakeups.notify(channel: message.channel)
    }
    let needed = RedisPermissions(namespace: configuration.namespace)
    let permissions = RedisPermissionCheck(
        redis: redis,
        commands: needed.functionCommands + needed.directCommands(for: configuration.redis, waitsForReplicas: configuration.replicationWait != nil),
        logger: Logger(label: "lessor.redis.permissions"))
    let drain = DrainState()
    let router = buildRouter(
        functions: functions,
        settings: RouteSettings(
            adminToken: configuration.adminToken, defaultLeaseTTL: configuration.defaultLeaseTTL,
            workerPresenceTTL: configuration.workerPresenceTTL),
        wakeups: wakeups, metrics: metrics, drain: drain)
    let server = Application(
        router: router,
        server: .lessor(limits: configuration.httpLimits),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "lessor"),
        logger: logger
    )
    // Services stop in reverse order: the drain service hears SIGTERM first and turns
    // /readyz to 503 for the drain delay; then the server stops accepting and finishes
    // in-flight requests (long polls included); then the reaper, the subscriber and Redis.
    // The permission check ends once it has passed (or stops the node when it fails).
    return ServiceGroup(configuration: .init(
        services: [
            .init(service: redis), .init(service: permissions, successTerminationBehavior: .ignore), .init(service: subscriber),
            .init(service: reaper), .init(service: server), .init(service: DrainService(state: drain, delay: configuration.drainDelay)),
        ],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
}
