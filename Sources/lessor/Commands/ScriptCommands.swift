import ArgumentParser
import Foundation
import LessorCore
import LessorRedis

/// `lessor scripts`: the Lua library as Redis runs it, for SREs.
struct ScriptCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scripts", abstract: "Show, load and call the lessor_v5 Redis Functions library.",
        subcommands: [Show.self, Load.self, Command.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the library this binary loads, byte for byte (lua/lessor.lua).",
            discussion: "Compare with what a server runs: redis-cli FUNCTION LIST LIBRARYNAME lessor_v5 WITHCODE")

        func run() async throws {
            FileHandle.standardOutput.write(Data(LessorLibrary.embedded.source.utf8))
        }
    }

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load the library into every primary (FUNCTION LOAD REPLACE); front nodes also do this by themselves.")
        @OptionGroup var redis: RedisOptions

        func run() async throws {
            try await redis.withRedis { functions, _ in
                try await functions.redis.load(LessorLibrary.embedded)
                print(LessorLibrary.embedded.name)
            }
        }
    }

    struct Command: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the redis-cli command that calls one function, its keys and key prefixes filled in.",
            discussion: """
                The keys come from the same code the server uses; append the function's own ARGV \
                (its header in `lessor scripts show` lists them) after `--`. Example:
                  lessor scripts command work_get --env env_X --work work_Y -- work_Y
                """)
        @Option(help: "Redis key prefix (default lessor) [LESSOR_NAMESPACE]") var namespace: String = ProcessInfo.processInfo.environment["LESSOR_NAMESPACE"] ?? "lessor"
        @Argument(help: "The operation, e.g. work_heartbeat (the function's name without lessor_v5_).") var operation: String
        @Option(help: "The environment id (env_...), for environment and work functions.") var env: String?
        @Option(help: "The work id (work_...), for functions that name one item.") var work: String?
        @Option(help: "The worker id (wrk_...), for worker functions.") var worker: String?
        @Argument(parsing: .postTerminator, help: "The function's own arguments.") var arguments: [String] = []

        func run() async throws {
            let keys = KeySpace(namespace: namespace)
            let (declared, leading) = try keysAndLeadingArguments(keys)
            let words = ["redis-cli", "FCALL", LessorLibrary.functionName(operation), String(declared.count)] + declared + leading + arguments
            print(words.map(Self.quoted).joined(separator: " "))
        }

        private func keysAndLeadingArguments(_ keys: KeySpace) throws -> ([String], [String]) {
            guard LessorLibrary.operations.contains(operation) else {
                throw ValidationError("no such operation: \(operation); the library has \(LessorLibrary.operations.joined(separator: ", "))")
            }
            func required(_ value: String?, _ flag: String) throws -> String {
                guard let value else { throw ValidationError("\(operation) needs \(flag)") }
                return value
            }
            switch operation {
            case EnvironmentCreate.function, EnvironmentUpdate.function, EnvironmentArchive.function:
                return ([keys.environment(try required(env, "--env"))], [])
            case WorkHeartbeat.function:
                let call = WorkHeartbeat(environmentID: try required(env, "--env"), workID: try required(work, "--work"), workerID: nil, expected: nil, ttl: .seconds(60))
                return (call.keys(keys), [])
            case WorkerCreate.function:
                return ([keys.worker(try required(worker, "--worker"))], [])
            case WorkerGet.function, WorkerHeartbeat.function:
                let id = try required(worker, "--worker")
                return ([keys.worker(id), keys.presence(id)], [])
            case TokenCreate.function, TokenRevoke.function:
                throw ValidationError("token functions take the SHA-256 of a secret; their headers in `lessor scripts show` name the keys")
            case let name where name.hasPrefix("work_") || name == EnvironmentDelete.function:
                let environment = try required(env, "--env")
                var declared = keys.environmentKeys(environment)
                if let work { declared += [keys.item(environment, work), keys.lease(environment, work)] }
                return (declared, keys.environmentArguments(environment))
            default:
                throw ValidationError("\(operation) is not an environment, work or worker function")
            }
        }

        /// Single-quoted for a POSIX shell (keys hold braces and colons).
        static func quoted(_ word: String) -> String {
            guard word.contains(where: { !($0.isLetter || $0.isNumber || "_-.:/".contains($0)) }) || word.isEmpty else { return word }
            return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
    }
}

/// `lessor redis-acl`: the least-privilege Redis user's `ACL SETUSER` line.
struct RedisACLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-acl",
        abstract: "Print the ACL SETUSER line of a Redis user that may do what lessor serve does, and nothing else.",
        discussion: """
            Its keys (<namespace>:*), its wakeup channel pattern and only the commands Lessor sends, on \
            any topology. Run it with redis-cli on every server (an ACL is per server; a cluster's nodes and \
            a sentinel group's replicas each need it), then put the user in LESSOR_REDIS_URL. lessor serve \
            checks these permissions on every primary when it first reaches Redis and stops, naming what \
            is missing, if one is refused.
            """)

    @Option(help: "The key prefix, as LESSOR_NAMESPACE.") var namespace = "lessor"
    @Option(help: "The user's name.") var user = "lessor"
    @Option(help: "The password to set (the default is a placeholder to replace).") var password = "CHANGE-ME"

    func run() {
        print("redis-cli " + RedisPermissions(namespace: namespace).setUserLine(user: user, password: password))
    }
}
