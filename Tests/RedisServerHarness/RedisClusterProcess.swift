import Foundation

/// A real Redis Cluster of three primaries on free 127.0.0.1 ports, formed with
/// `redis-cli --cluster create`, each node in its own temporary directory.
public final class RedisClusterProcess: Sendable {
    /// The primaries.
    public let nodes: [RedisServerProcess]

    private init(nodes: [RedisServerProcess]) {
        self.nodes = nodes
    }

    /// Starts three cluster-enabled servers and joins them into one cluster.
    public static func start() async throws -> RedisClusterProcess {
        var nodes: [RedisServerProcess] = []
        do {
            for _ in 0..<3 {
                // The bus port defaults to port + 10000, which overflows for high ephemeral ports.
                nodes.append(try await RedisServerProcess.start([
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                    "--cluster-port", String(try freeLoopbackPort()),
                ]))
            }
            let cluster = RedisClusterProcess(nodes: nodes)
            let log = nodes[0].directory.appendingPathComponent("cluster-create.log")
            let create = try ChildProcess(
                ["redis-cli", "--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-yes"], output: log)
            let status = try await offCooperativePool { create.waitForExit(within: 60) }
            let created = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            guard status == 0, created.contains("All 16384 slots covered") else {
                throw HarnessError("redis-cli --cluster create failed (\(status.map(String.init) ?? "timeout")): \(created.suffix(800))")
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
public func withRedisCluster<T>(_ body: (RedisClusterProcess) async throws -> T) async throws -> T {
    let cluster = try await RedisClusterProcess.start()
    do {
        let result = try await body(cluster)
        await cluster.remove()
        return result
    } catch {
        await cluster.remove()
        throw error
    }
}
