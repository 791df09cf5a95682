import ArgumentParser
import Foundation
import Hummingbird
import LessorCore
import LessorHTTP
import LessorRedis
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `lessor serve`: one front node. Every option also reads its `LESSOR_*` variable; the flag wins.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one Lessor front node.",
        discussion: "Every option may also be given as its LESSOR_* environment variable (shown in brackets); a flag wins over its variable."
    )

    @Option(name: .customLong("redis-url"), help: help("LESSOR_REDIS_URL")) var redisURL: String?
    @Option(name: .customLong("redis-pool-size"), help: help("LESSOR_REDIS_POOL_SIZE")) var redisPoolSize: String?
    @Option(name: .customLong("redis-connect-timeout-ms"), help: help("LESSOR_REDIS_CONNECT_TIMEOUT_MS")) var redisConnectTimeout: String?
    @Option(name: .customLong("redis-command-timeout-ms"), help: help("LESSOR_REDIS_COMMAND_TIMEOUT_MS")) var redisCommandTimeout: String?
    @Option(name: .customLong("redis-cluster"), help: help("LESSOR_REDIS_CLUSTER")) var redisCluster: String?
    @Option(name: .customLong("redis-sentinels"), help: help("LESSOR_REDIS_SENTINELS")) var redisSentinels: String?
    @Option(name: .customLong("redis-master-name"), help: help("LESSOR_REDIS_MASTER_NAME")) var redisMasterName: String?
    @Option(name: .customLong("redis-wait-replicas"), help: help("LESSOR_REDIS_WAIT_REPLICAS")) var redisWaitReplicas: String?
    @Option(name: .customLong("namespace"), help: help("LESSOR_NAMESPACE")) var namespace: String?
    @Option(name: .customLong("host"), help: help("LESSOR_HOST")) var host: String?
    @Option(name: .customLong("port"), help: help("LESSOR_PORT")) var port: String?
    @Option(name: .customLong("admin-token"), help: help("LESSOR_ADMIN_TOKEN")) var adminToken: String?
    @Option(name: .customLong("default-ttl-seconds"), help: help("LESSOR_DEFAULT_TTL_SECONDS")) var defaultTTLSeconds: String?
    @Option(name: .customLong("worker-ttl-seconds"), help: help("LESSOR_WORKER_TTL_SECONDS")) var workerTTLSeconds: String?
    @Option(name: .customLong("log-format"), help: help("LESSOR_LOG_FORMAT")) var logFormat: String?
    @Option(name: .customLong("log-level"), help: help("LESSOR_LOG_LEVEL")) var logLevel: String?
    @Option(name: .customLong("drain-delay-ms"), help: help("LESSOR_DRAIN_DELAY_MS")) var drainDelay: String?

    /// The flags given, by the variable they stand for.
    private var flags: [String: String?] {
        [
            "LESSOR_REDIS_URL": redisURL, "LESSOR_REDIS_POOL_SIZE": redisPoolSize,
            "LESSOR_REDIS_CONNECT_TIMEOUT_MS": redisConnectTimeout, "LESSOR_REDIS_COMMAND_TIMEOUT_MS": redisCommandTimeout,
            "LESSOR_REDIS_CLUSTER": redisCluster, "LESSOR_REDIS_SENTINELS": redisSentinels,
            "LESSOR_REDIS_MASTER_NAME": redisMasterName, "LESSOR_REDIS_WAIT_REPLICAS": redisWaitReplicas,
            "LESSOR_NAMESPACE": namespace, "LESSOR_HOST": host, "LESSOR_PORT": port, "LESSOR_ADMIN_TOKEN": adminToken,
            "LESSOR_DEFAULT_TTL_SECONDS": defaultTTLSeconds, "LESSOR_WORKER_TTL_SECONDS": workerTTLSeconds,
            "LESSOR_LOG_FORMAT": logFormat, "LESSOR_LOG_LEVEL": logLevel, "LESSOR_DRAIN_DELAY_MS": drainDelay,
        ]
    }

    func run() async throws {
        var values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("LESSOR_") }
        for case let (variable, value?) in flags { values[variable] = value }
        let configuration: LessorConfiguration
        do {
            configuration = try LessorConfiguration(values)
        } catch {
            throw ValidationError(error.description)
        }

        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = switch configuration.logFormat {
            case .json: JSONLogHandler(label: label)
            case .text: StreamLogHandler.standardError(label: label)
            }
            handler.logLevel = level
            return handler
        }
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        let logger = Logger(label: "lessor")
        let redis = try RedisClient(configuration: configuration.redis, logger: Logger(label: "lessor.redis"))
        logger.info("lessor serve", metadata: [
            "http.address": "\(configuration.host):\(configuration.port)",
            "redis.endpoint": "\(configuration.redis.topologyDescription)",
            "redis.database": "\(configuration.redis.database)",
            "lessor.namespace": "\(configuration.namespace)",
        ])
        let drain = DrainState()
        let app = buildApplication(configuration: configuration, redis: redis, metrics: metrics, drain: drain, logger: logger)
        // Services stop in reverse order: the drain service hears SIGTERM first and turns
        // /readyz to 503 for the drain delay; then the server stops accepting and finishes
        // in-flight requests; then the reaper, the subscriber and Redis stop.
        let group = ServiceGroup(configuration: .init(
            services: [app, DrainService(state: drain, delay: configuration.drainDelay)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

/// The help line of a setting, with its variable.
func help(_ variable: String) -> ArgumentHelp {
    let setting = LessorConfiguration.settings.first { $0.variable == variable }
    return ArgumentHelp("\(setting?.help ?? "") [\(variable)]")
}
