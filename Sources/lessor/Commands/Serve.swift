import ArgumentParser
import Foundation
import LessorRedis
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `lessor serve`: one front node. Its options are the settings of
/// ``LessorConfiguration/settings``, each also read from its `LESSOR_*` variable; the flag wins.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one Lessor front node.",
        usage: "lessor serve [--<setting> <value>]...",
        discussion: """
            Every setting is a flag and a LESSOR_* environment variable (in brackets); a flag wins \
            over its variable. An unknown LESSOR_* variable or flag, or a value out of range, stops \
            start-up with exit status 64.

            SETTINGS:
            \(LessorConfiguration.helpText)
            """
    )

    /// The settings' flags with their values; parsed against the settings list, not by
    /// ArgumentParser, so that list is their only declaration.
    @Argument(parsing: .allUnrecognized, help: .hidden) var settings: [String] = []

    func run() async throws {
        let configuration: LessorConfiguration
        do {
            configuration = try LessorConfiguration(
                LessorConfiguration.values(environment: ProcessInfo.processInfo.environment, flags: settings))
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
        logger.info("lessor serve", metadata: [
            "http.address": "\(configuration.host):\(configuration.port)",
            "redis.endpoint": "\(configuration.redis.topologyDescription)",
            "redis.database": "\(configuration.redis.database)",
            "lessor.namespace": "\(configuration.namespace)",
        ])
        try await buildServiceGroup(configuration: configuration, metrics: metrics, logger: logger).run()
    }
}

/// `lessor settings`: the settings as docs/operations.md's markdown table.
struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "Print every setting of lessor serve as a markdown table (docs/operations.md's).")

    func run() {
        print(LessorConfiguration.markdownTable)
    }
}
