import Hummingbird
import LessorCore
import LessorRedis
import Logging

/// Builds the HTTP application of one front node.
/// - Parameters:
///   - configuration: The node's settings.
///   - redis: The Redis client; it runs as a service of the application and stops after the server.
///   - logger: The application's logger.
/// - Returns: An application ready to `runService()`.
public func buildApplication(
    configuration: LessorConfiguration,
    redis: RedisClient,
    logger: Logger
) -> some ApplicationProtocol {
    let router = buildRouter(redis: redis)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "lessor"),
        services: [redis],
        logger: logger
    )
}

/// The router of every route, shared by the server and the router tests.
/// - Parameter redis: The Redis client the routes use.
/// - Returns: The router.
public func buildRouter(redis: RedisClient) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.addRoutes(HealthController(redis: redis).endpoints)
    return router
}
