import Foundation
import LessorRedis

/// Every Redis command a front node sends, as the least-privilege Redis user must allow it:
/// the commands Lessor sends itself and the ones its Lua functions run, with keys and channels
/// shaped as Lessor uses them. One list makes docs/operations.md's `ACL SETUSER` line
/// (`lessor redis-acl`), the start-up check (``RedisPermissionCheck``) and the test harness's
/// user, so the three cannot drift apart; a test holds it to every `redis.call` in
/// `lua/lessor.lua`.
public struct RedisPermissions: Sendable {
    /// Whose keys: every key starts with `<namespace>:`.
    public let namespace: String

    public init(namespace: String) {
        self.namespace = namespace
    }

    /// A key under the namespace, for the commands' sample arguments.
    private var key: String { "\(namespace):{acl-check}:key" }

    /// The wakeup channel pattern a node subscribes to, and publishes under (from Lua).
    private var wakeupPattern: String { KeySpace(namespace: namespace).wakeupPattern }

    /// What the functions of `lua/lessor.lua` call, through `redis.call`.
    public var functionCommands: [[String]] {
        [
            ["TIME"], ["EXISTS", key], ["DEL", key], ["GET", key], ["SET", key, "v", "PX", "1000"],
            ["EXPIRE", key, "60"], ["PEXPIRE", key, "1000", "GT"], ["PTTL", key], ["PEXPIRETIME", key],
            ["HGET", key, "f"], ["HMGET", key, "f"], ["HGETALL", key], ["HSET", key, "f", "v"], ["HDEL", key, "f"],
            ["HEXISTS", key, "f"], ["HINCRBY", key, "f", "1"],
            ["ZADD", key, "1", "m"], ["ZREM", key, "m"], ["ZCARD", key], ["ZCOUNT", key, "0", "1"], ["ZRANGE", key, "0", "-1"],
            ["ZRANGEBYSCORE", key, "0", "1"], ["ZRANGEBYLEX", key, "-", "+"], ["ZREVRANGEBYLEX", key, "+", "-"],
            ["ZREMRANGEBYSCORE", key, "0", "1"],
            ["PUBLISH", "\(namespace):{acl-check}:wakeup", "1"],
        ]
    }

    /// What a node sends itself on a connection to `configuration`'s Redis: the handshake,
    /// loading and calling the libraries, the wakeup subscription, the few plain reads and
    /// writes outside the functions, and what its topology needs. `AUTH` is never refused.
    /// - Parameters:
    ///   - configuration: The node's Redis settings (database, topology).
    ///   - waitsForReplicas: Whether every call is followed by `WAIT`.
    public func directCommands(for configuration: RedisConfiguration, waitsForReplicas: Bool) -> [[String]] {
        var commands: [[String]] = [
            ["PING"], ["CLIENT", "SETNAME", "lessor"], ["FUNCTION", "LIST"], ["FUNCTION", "LOAD", "REPLACE", "x"], ["FCALL", "f", "0"],
            ["PSUBSCRIBE", wakeupPattern],
            ["SCAN", "0"], ["GET", key], ["HGET", key, "f"], ["HGETALL", key], ["SMEMBERS", key], ["SADD", key, "m"], ["SREM", key, "m"],
            // The status page's reads (StatusReader).
            ["TIME"], ["ZCARD", key], ["ZRANGE", key, "-10", "-1"], ["ZRANGEBYSCORE", key, "-inf", "(1", "LIMIT", "0", "10"],
        ]
        if configuration.database != 0 { commands.append(["SELECT", String(configuration.database)]) }
        if waitsForReplicas { commands.append(["WAIT", "1", "1000"]) }
        switch configuration.topology {
        case .standalone: break
        case .cluster: commands += [["CLUSTER", "SLOTS"], ["ASKING"]]
        case .sentinel: commands.append(["ROLE"])
        }
        return commands
    }

    /// The ACL rules of a user that may do what a front node does on any topology, with any
    /// settings, and nothing else: its keys, its channel pattern (`PSUBSCRIBE` needs that
    /// literal pattern allowed; a broader one such as `&lessor:*` is not enough), and its
    /// commands. Put `reset on >password` before them.
    public var aclRules: [String] {
        var everything = RedisConfiguration()
        everything.database = 1
        everything.topology = .cluster(seeds: [])
        var commands = functionCommands + directCommands(for: everything, waitsForReplicas: true)
        everything.topology = .sentinel(sentinels: [], masterName: "m")
        commands += directCommands(for: everything, waitsForReplicas: true)
        var names: [String] = []
        for command in commands {
            let name = Self.aclName(command)
            if !names.contains(name) { names.append(name) }
        }
        return ["~\(namespace):*", "&\(wakeupPattern)", "-@all"] + names.map { "+" + $0 }
    }

    /// The command as ACL rules name it: lower case, with its subcommand for container
    /// commands (`client|setname`).
    static func aclName(_ command: [String]) -> String {
        let name = command[0].lowercased()
        guard ["client", "function", "cluster"].contains(name), command.count > 1 else { return name }
        return name + "|" + command[1].lowercased()
    }

    /// The `ACL SETUSER` line for a user named `user`, with a placeholder password.
    public func setUserLine(user: String = "lessor", password: String = "CHANGE-ME") -> String {
        (["ACL", "SETUSER", user, "reset", "on", ">\(password)"] + aclRules).map { word in
            // Quoted for a shell where it holds more than letters, digits, `+`, `-`, `_` and `@`
            // (`>`, `|`, `*` and `&` all mean something there).
            word.allSatisfy { $0.isLetter || $0.isNumber || "+-_@".contains($0) } ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}
