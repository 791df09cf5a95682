import LessorRedis
import Logging
import ServiceLifecycle

/// A Redis user that lacks a permission Lessor needs, found at start-up: the configuration
/// is wrong, and the node stops instead of failing requests one by one later.
public struct RedisPermissionError: Error, Sendable, CustomStringConvertible {
    /// The server that refused.
    public let endpoint: RedisEndpoint
    /// The commands refused, as Lessor sends them (keys and channels included), or Redis's
    /// own NOPERM message when it refused the check itself.
    public let denied: [String]

    public var description: String {
        "the Redis user of \(endpoint) lacks permissions Lessor needs: \(denied.joined(separator: "; ")). "
            + "Give it the rules `lessor redis-acl` prints (see docs/operations.md, \"Redis over TLS, as a least-privilege user\")"
    }
}

/// Checks once, when Redis first answers, that the node's Redis user may run every command
/// the node will send, on every primary (an ACL is per server): with the library
/// `lessor_acl_v1` (`lua/lessor_acl.lua`), which asks Redis's own `redis.acl_check_cmd` about
/// each command of ``RedisPermissions``, keys and channels included. A refusal, or credentials
/// Redis refuses, stops the node (``RedisPermissionError``, `authenticationFailed`); Redis
/// being away only postpones the check.
public struct RedisPermissionCheck: Service {
    let redis: RedisClient
    let commands: [[String]]
    let retryInterval: Duration
    let logger: Logger

    /// - Parameters:
    ///   - redis: The node's client.
    ///   - commands: What the node will send (``RedisPermissions``).
    ///   - retryInterval: How often to try again while Redis cannot be asked (default 1 s).
    ///   - logger: Where the outcome goes.
    public init(redis: RedisClient, commands: [[String]], retryInterval: Duration = .seconds(1), logger: Logger) {
        self.redis = redis
        self.commands = commands
        self.retryInterval = retryInterval
        self.logger = logger
    }

    /// Checks until it has checked every primary once, or graceful shutdown.
    /// - Throws: ``RedisPermissionError`` when a primary's user lacks a permission;
    ///   `RedisError` when Redis refuses the credentials (`authenticationFailed`) or wants
    ///   some (`NOAUTH`).
    public func run() async throws {
        try await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                do {
                    try await check()
                    logger.info("redis user has every permission lessor needs", metadata: ["redis.commands": "\(commands.count)"])
                    return
                } catch let error as RedisPermissionError {
                    logger.critical("redis user lacks permissions; stopping", metadata: ["redis.error": "\(error)"])
                    throw error
                } catch let error as RedisError
                    where error.code == .authenticationFailed || (error.code == .serverError && error.message.hasPrefix("NOAUTH")) {
                    // Wrong or missing credentials are a configuration error too; waiting will not cure them.
                    logger.critical("redis refused the credentials; stopping", metadata: ["redis.error": "\(error.message)"])
                    throw error
                } catch {
                    logger.debug("redis permission check waits for redis", metadata: ["redis.error": "\(error)"])
                    try? await Task.sleep(for: retryInterval)
                }
            }
        }
    }

    /// Checks every primary once.
    /// - Throws: ``RedisPermissionError`` for a refusal; `RedisError` when Redis cannot be asked.
    public func check() async throws {
        var refusal: RedisPermissionError?
        try await redis.forEachPrimary { node throws(RedisError) in
            guard refusal == nil else { return }
            let denied = try await denied(on: node)
            if !denied.isEmpty { refusal = RedisPermissionError(endpoint: node.endpoint, denied: denied) }
        }
        if let refusal { throw refusal }
    }

    /// The commands `node` refuses; a NOPERM for the check itself (no `FCALL`, or no
    /// `FUNCTION LOAD` where the library is missing) is returned as Redis words it.
    private func denied(on node: RedisNodeClient) async throws(RedisError) -> [String] {
        let library = LessorLibrary.permissionCheck
        let words = ["FCALL", library.name + "_denied", "0"] + commands.flatMap { [String($0.count)] + $0 }
        let call = RedisCommand(arguments: words.map { Array($0.utf8) })
        do {
            do {
                return try await node.send(call, as: [String].self)
            } catch where library.isMissing(error) {
                try await node.load(library)
                return try await node.send(call, as: [String].self)
            }
        } catch where error.code == .serverError && error.message.hasPrefix("NOPERM") {
            return [error.message]
        }
    }
}
