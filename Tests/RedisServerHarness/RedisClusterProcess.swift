import Foundation

/// A real Redis Cluster of three primaries on free 127.0.0.1 ports, formed with
/// `redis-cli --cluster create`, each node in its own temporary directory.
public final class RedisClusterProcess: Sendable {
    /// The primaries.
    public let nodes: [RedisServerProcess]

    private init(nodes: [RedisServerProcess]) {
        self.nodes = nodes
    }

    /// Starts three cluster-enabled servers and joins them into one cluster. A node can lose
    /// its port to another process between the probe and the bind; then the whole cluster is
    /// made again, up to three times.
    /// - Parameters:
    ///   - arguments: Extra `redis-server` options for every node.
    ///   - tls: Certificates for a cluster that speaks only TLS, its bus included.
    public static func start(_ arguments: [String] = [], tls: TestCertificates? = nil) async throws -> RedisClusterProcess {
        var lastError: (any Error)?
        for _ in 0..<3 {
            do {
                return try await startOnce(arguments, tls: tls)
            } catch {
                FileHandle.standardError.write(Data("harness: cluster start failed, trying again: \(error)\n".utf8))
                lastError = error
            }
        }
        throw lastError ?? HarnessError("the cluster did not start")
    }

    private static func startOnce(_ arguments: [String], tls: TestCertificates?) async throws -> RedisClusterProcess {
        var nodes: [RedisServerProcess] = []
        do {
            for _ in 0..<3 {
                // The bus port defaults to port + 10000, which overflows for high ephemeral ports.
                nodes.append(try await RedisServerProcess.start([
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                    "--cluster-port", String(try freeLoopbackPort()),
                ] + arguments, tls: tls))
            }
            let cluster = RedisClusterProcess(nodes: nodes)
            let log = nodes[0].directory.appendingPathComponent("cluster-create.log")
            let create = try ChildProcess(
                ["redis-cli"] + (tls?.cliArguments ?? []) + ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-yes"], output: log)
            let status = try await offCooperativePool { create.waitForExit(within: 60) }
            let created = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            guard status == 0, created.contains("All 16384 slots covered") else {
                let logs = nodes.map { "\($0.port): \($0.log.suffix(300))" }.joined(separator: "\n")
                throw HarnessError("redis-cli --cluster create failed (\(status.map(String.init) ?? "timeout")): \(created.suffix(800))\n\(logs)")
            }
            for _ in 0..<200 {
                var states: [String] = []
                for node in nodes { states.append(try await node.cli("CLUSTER", "INFO")) }
                if states.allSatisfy({ $0.contains("cluster_state:ok") }) { return cluster }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw HarnessError("the cluster did not reach cluster_state:ok within 10 s")
        } catch {
            for node in nodes { await node.remove() }
            throw error
        }
    }

    /// The node that serves `key`'s slot (asks the cluster, not our own slot function).
    public func owner(of key: String) async throws -> RedisServerProcess {
        for node in nodes where try await node.cli("GET", key).contains("MOVED") == false {
            return node
        }
        throw HarnessError("no node serves \(key)")
    }

    /// Stops every node and removes its directory.
    public func remove() async {
        for node in nodes { await node.remove() }
    }
}

/// Runs `body` with a fresh three-primary cluster, removed afterwards.
public func withRedisCluster<T>(
    _ arguments: [String] = [], tls: TestCertificates? = nil, _ body: (RedisClusterProcess) async throws -> T
) async throws -> T {
    try await using(try await RedisClusterProcess.start(arguments, tls: tls), removedBy: { await $0.remove() }, body)
}

extension RedisClusterProcess {
    /// The primary that owns `slot`, and every node's id, from `CLUSTER NODES`.
    public func owner(ofSlot slot: Int) async throws -> (node: RedisServerProcess, id: String) {
        let lines = try await nodes[0].cli("CLUSTER", "NODES").split(separator: "\n")
        for line in lines {
            let fields = line.split(separator: " ")
            guard fields.count >= 8 else { continue }
            let owns = fields[8...].contains { range in
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                return bounds.count == 1 ? bounds[0] == slot : bounds.count == 2 && (bounds[0]...bounds[1]).contains(slot)
            }
            guard owns, let port = fields[1].split(separator: "@").first?.split(separator: ":").last.flatMap({ Int($0) }),
                  let node = nodes.first(where: { $0.port == port })
            else { continue }
            return (node, String(fields[0]))
        }
        throw HarnessError("no node owns slot \(slot)")
    }

    /// Moves one hash slot to another primary the way `redis-cli --cluster reshard` does —
    /// `SETSLOT IMPORTING`/`MIGRATING`, `MIGRATE` in batches, then `SETSLOT NODE` everywhere —
    /// but in small batches with a pause between them, so clients see the slot half-moved.
    /// - Parameters:
    ///   - slot: The slot.
    ///   - target: The primary that will own it.
    ///   - batch: Keys per `MIGRATE`.
    ///   - pause: Wait between batches.
    /// - Returns: How many keys moved.
    @discardableResult
    public func migrate(slot: Int, to target: RedisServerProcess, batch: Int = 5, pause: Duration = .milliseconds(20)) async throws -> Int {
        let (source, sourceID) = try await owner(ofSlot: slot)
        guard source !== target else { throw HarnessError("slot \(slot) is already on the target") }
        let targetID = try await target.cli("CLUSTER", "MYID")
        try await expectOK(target.cli("CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID))
        try await expectOK(source.cli("CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID))
        var moved = 0
        while true {
            let keys = try await source.cli("CLUSTER", "GETKEYSINSLOT", String(slot), String(batch)).split(separator: "\n").map(String.init)
            if keys.isEmpty { break }
            try await expectOK(source.cli(["MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS"] + keys))
            moved += keys.count
            try await Task.sleep(for: pause)
        }
        for node in [target, source] + nodes.filter({ $0 !== target && $0 !== source }) {
            try await expectOK(node.cli("CLUSTER", "SETSLOT", String(slot), "NODE", targetID))
        }
        return moved
    }

    private func expectOK(_ reply: String) throws {
        guard reply == "OK" else { throw HarnessError("expected OK, got \(reply)") }
    }
}
