import ArgumentParser
import Foundation
import LessorCore
import LessorRedis

/// Where the SRE commands find Redis: a few of `lessor serve`'s settings, by the same flags
/// and variables (their names and help come from ``LessorConfiguration/settings``).
struct RedisOptions: ParsableArguments {
    @Option(name: .customLong("redis-url"), help: help("LESSOR_REDIS_URL")) var redisURL: String?
    @Option(name: .customLong("redis-cluster"), help: help("LESSOR_REDIS_CLUSTER")) var redisCluster: String?
    @Option(name: .customLong("redis-sentinels"), help: help("LESSOR_REDIS_SENTINELS")) var redisSentinels: String?
    @Option(name: .customLong("redis-master-name"), help: help("LESSOR_REDIS_MASTER_NAME")) var redisMasterName: String?
    @Option(name: .customLong("namespace"), help: help("LESSOR_NAMESPACE")) var namespace: String?

    /// The resolved configuration (flags over `LESSOR_*` variables).
    func configuration() throws -> LessorConfiguration {
        let given = [
            ("--redis-url", redisURL), ("--redis-cluster", redisCluster), ("--redis-sentinels", redisSentinels),
            ("--redis-master-name", redisMasterName), ("--namespace", namespace),
        ]
        do {
            let flags = given.flatMap { flag, value in value.map { [flag, $0] } ?? [] }
            return try LessorConfiguration(LessorConfiguration.values(environment: ProcessInfo.processInfo.environment, flags: flags))
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Runs `body` with the library calls over a Redis client that is shut down afterwards;
    /// failures exit 1 with a message.
    func withRedis(_ body: (LessorFunctions, LessorConfiguration) async throws -> Void) async throws {
        let configuration = try configuration()
        var redisConfiguration = configuration.redis
        redisConfiguration.poolSize = 1
        let redis = try RedisClient(configuration: redisConfiguration)
        defer { redis.shutDown() }
        do {
            let functions = LessorFunctions(redis: redis, keys: KeySpace(namespace: configuration.namespace), wait: configuration.replicationWait)
            try await body(functions, configuration)
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("lessor: \(Self.describe(error))\n".utf8))
            throw ExitCode.failure
        }
    }

    /// The CLI's one line for any failure (the CLI's counterpart of an API family's error type).
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as RedisError: return error.message
        case let error as StoreError:
            switch error {
            case .redis(let redisError): return redisError.message
            case .refused(.environmentNotFound): return "no such environment"
            case .refused(.environmentNotSelfHosted(let kind)): return "the environment is \(kind.rawValue), not self_hosted"
            case .refused(.workNotFound): return "no such work item"
            case .refused(.environmentArchived): return "the environment is archived"
            case .refused(.invalidConfigTypeChange(let kind)): return "the environment's type cannot change (it is \(kind.rawValue))"
            case .refused(.conflict(.liveLeases)): return "the environment holds live leases"
            case .refused(.conflict(let reason)): return "the work item holds no lease (\(reason.rawValue))"
            case .refused(.preconditionFailed(let reason, _)): return "precondition failed (\(reason.rawValue))"
            case .refused(.tokenNotFound): return "no such token"
            case .refused(.workerNotFound): return "no such worker"
            case .refused(.wrongWorkerToken): return "not that worker's token"
            case .refused(.idempotencyConflict), .replayed:
                // The commands send no idempotency keys.
                return "an idempotency record answered: \(error)"
            }
        default: return "\(error)"
        }
    }
}

/// The help line of a setting, with its variable.
func help(_ variable: String) -> ArgumentHelp {
    let setting = LessorConfiguration.setting(variable)
    return ArgumentHelp("\(setting?.meaning ?? "") (default \(setting?.defaultValue ?? "none")) [\(variable)]")
}

struct EnvironmentCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env", abstract: "Manage environments.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an environment and print its id.")
        @OptionGroup var redis: RedisOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "Its name.") var name: String
        @Option(help: "Its description.") var description: String = ""
        @Option(help: "self_hosted (serves the work API) or cloud.") var type: String = "self_hosted"

        func run() async throws {
            guard let kind = EnvironmentKind(rawValue: type) else { throw ValidationError("--type must be self_hosted or cloud") }
            try await redis.withRedis { functions, _ in
                let environment = try await Environments(functions: functions).create(
                    EnvironmentCreate(environmentID: IdentifierGenerator().next(.environment), name: name, description: description, kind: kind))
                output.print(OutputOptions.Object(fields: [
                    ("id", .string(environment.id)), ("type", "environment"), ("name", .string(environment.name)),
                    ("description", OutputOptions.Value(environment.description)), ("config_type", .string(environment.kind.rawValue)),
                    ("created_at", .string(environment.createdAt.rfc3339)),
                ], bare: environment.id), created: true)
            }
        }
    }
}

struct TokenCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Manage personal access tokens.", subcommands: [Create.self, Revoke.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print its secret (shown once; --output json adds its id and scope).")
        @OptionGroup var redis: RedisOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "Its name.") var name: String = ""
        @Option(name: .customLong("env"), help: "An environment it may use (repeat for several; none = every environment).") var environments: [String] = []
        @Option(name: .customLong("expires-in-seconds"), help: "Its lifetime (default: none).") var expiresIn: Int?

        func run() async throws {
            if let expiresIn, expiresIn < 1 { throw ValidationError("--expires-in-seconds must be positive") }
            try await redis.withRedis { functions, _ in
                for id in environments where try await Environments(functions: functions).get(id: id) == nil {
                    throw ValidationError("no such environment: \(id)")
                }
                let tokens = AccessTokens(functions: functions, ids: IdentifierGenerator())
                let (token, secret) = try await tokens.create(
                    name: name, environmentIDs: environments.isEmpty ? nil : environments, lifetime: expiresIn.map { .seconds($0) })
                output.print(OutputOptions.Object(fields: [
                    ("id", .string(token.id)), ("token", .string(secret)), ("name", .string(token.name)),
                    ("environment_ids", .ids(token.environmentIDs)), ("expires_at", OutputOptions.Value(token.expiresAt?.rfc3339, absent: "never")),
                ], bare: secret), created: true)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token (refused everywhere within 2 s).")
        @OptionGroup var redis: RedisOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The token id (tok_...).") var id: String

        func run() async throws {
            try await redis.withRedis { functions, _ in
                try await AccessTokens(functions: functions, ids: IdentifierGenerator()).revoke(id: id)
                output.print(OutputOptions.Object(fields: [("id", .string(id)), ("revoked", .bool(true))], bare: id))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var redis: RedisOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await redis.withRedis { functions, _ in
                let tokens = try await AccessTokens(functions: functions, ids: IdentifierGenerator()).all()
                output.print(list: tokens.map { token in
                    OutputOptions.Object(fields: [
                        ("id", .string(token.id)), ("status", .string(token.revoked ? "revoked" : "active")),
                        ("environment_ids", .ids(token.environmentIDs)),
                        ("expires_at", OutputOptions.Value(token.expiresAt?.rfc3339, absent: "never")), ("name", .string(token.name)),
                    ], bare: token.id)
                }, columns: ["id", "status", "environment_ids", "expires_at", "name"])
            }
        }
    }
}

struct WorkerCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Manage Den workers.", subcommands: [Register.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a worker and print its activity token (shown once; --output json adds its id).")
        @OptionGroup var redis: RedisOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "Its name.") var name: String
        @Option(help: "Its description.") var description: String?

        func run() async throws {
            try await redis.withRedis { functions, _ in
                let (worker, token) = try await Workers(functions: functions, ids: IdentifierGenerator()).create(name: name, description: description)
                output.print(OutputOptions.Object(fields: [
                    ("id", .string(worker.id)), ("name", .string(worker.name)), ("activity_token", .string(token)),
                ], bare: token), created: true)
            }
        }
    }
}

struct WorkCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "work", abstract: "Inspect work items.", subcommands: [Inspect.self])

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a work item's state, holder, remaining lease and fencing token.")
        @OptionGroup var redis: RedisOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The environment id (env_...).") var environment: String
        @Argument(help: "The work id (work_...).") var work: String

        func run() async throws {
            try await redis.withRedis { functions, _ in
                output.print(itemObject(try await functions.call(WorkGet(environmentID: environment, workID: work))))
            }
        }
    }
}

struct LeaseCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lease", abstract: "Act on leases.", subcommands: [Expire.self])

    struct Expire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a work item's lease now, as if it had lapsed: it is requeued (or stopped when stopping).")
        @OptionGroup var redis: RedisOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The environment id (env_...).") var environment: String
        @Argument(help: "The work id (work_...).") var work: String

        func run() async throws {
            try await redis.withRedis { functions, _ in
                output.print(itemObject(try await functions.call(WorkExpireLease(environmentID: environment, workID: work))))
            }
        }
    }
}

/// What `work inspect` and `lease expire` print of an item.
func itemObject(_ item: WorkItem) -> OutputOptions.Object {
    OutputOptions.Object(fields: [
        ("id", .string(item.id)), ("environment", .string(item.environmentID)), ("state", .string(item.state.rawValue)),
        ("holder", OutputOptions.Value(item.workerID)), ("fencing_token", .number(item.fencingToken)),
        ("lease_remaining_ms", OutputOptions.Value(item.leaseRemaining.map { Int($0 / .milliseconds(1)) })),
        ("lease_expires_at", OutputOptions.Value(item.leaseExpiresAt?.rfc3339)),
        ("latest_heartbeat_at", OutputOptions.Value(item.latestHeartbeatAt?.rfc3339)),
        ("acknowledged_at", OutputOptions.Value(item.acknowledgedAt?.rfc3339)), ("created_at", .string(item.createdAt.rfc3339)),
    ], bare: item.id)
}
