import LessorRedis
import RedisServerHarness
import Testing

/// A client for a test cluster, seeded with one node only: it must learn the rest.
func makeClusterClient(_ cluster: RedisClusterProcess, seed: Int = 0) throws -> RedisClient {
    var configuration = RedisConfiguration()
    configuration.topology = .cluster(seeds: [RedisEndpoint(host: "127.0.0.1", port: cluster.nodes[seed].port)])
    configuration.poolSize = 2
    configuration.reconnectBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))
    return try RedisClient(configuration: configuration)
}

@Suite("Redis client against a real three-primary Redis Cluster", .timeLimit(.minutes(2)))
struct ClusterClientTests {
    @Test func routesEveryKeyToItsSlotsOwnerFromOneSeed() async throws {
        try await withRedisCluster { cluster in
            let redis = try makeClusterClient(cluster, seed: 2)
            defer { redis.shutDown() }
            let keys = (0..<200).map { "key-\($0)" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for key in keys { group.addTask { try await redis.send(RedisCommand("SET", key: key, key)) } }
                try await group.waitForAll()
            }
            for key in keys { #expect(try await redis.send(RedisCommand("GET", key: key), as: String.self) == key) }
            // Every node holds some of them: the keys really were spread, not all sent to the seed.
            for node in cluster.nodes { #expect(Int(try await node.cli("DBSIZE")) ?? 0 > 20) }
            var primaries: [RedisEndpoint] = []
            try await redis.forEachPrimary { node throws(RedisError) in primaries.append(node.endpoint) }
            #expect(Set(primaries.map(\.port)) == Set(cluster.nodes.map(\.port)))
            #expect(await redis.ping())
        }
    }

    @Test func scriptsAreLoadedOnEachNodeOnDemand() async throws {
        try await withRedisCluster { cluster in
            let redis = try makeClusterClient(cluster)
            defer { redis.shutDown() }
            let script = RedisScript(source: "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])")
            for tag in 0..<30 {
                let key = "{t\(tag)}:k"
                #expect(try await redis.evaluate(script, keys: [key], arguments: ["v\(tag)"]) == .bulkString(Array("v\(tag)".utf8)))
            }
            for node in cluster.nodes { #expect(try await node.cli("SCRIPT", "EXISTS", script.sha1) == "1") }
            // After a flush on one node, the next call there loads the script again by itself.
            for node in cluster.nodes { try await node.cli("SCRIPT", "FLUSH") }
            #expect(try await redis.evaluate(script, keys: ["{t1}:k"], arguments: ["again"]) == .bulkString(Array("again".utf8)))
        }
    }

    @Test func aStaleSlotMapIsCorrectedByMovedAndAskIsFollowedMidMigration() async throws {
        try await withRedisCluster { cluster in
            let redis = try makeClusterClient(cluster)
            defer { redis.shutDown() }
            let key = "{moving}:a"
            let slot = HashSlot.of(key)
            try await redis.send(RedisCommand("SET", key: key, "1"))
            try await redis.send(RedisCommand("SET", key: "{moving}:b", "2"))
            let (source, _) = try await cluster.owner(ofSlot: slot)
            let target = try #require(cluster.nodes.first { $0 !== source })
            let targetID = try await target.cli("CLUSTER", "MYID")
            let sourceID = try await source.cli("CLUSTER", "MYID")
            #expect(try await target.cli("CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID) == "OK")
            #expect(try await source.cli("CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID) == "OK")
            #expect(try await source.cli("MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS", key) == "OK")
            // Half-moved: the source answers ASK for the key it no longer has.
            #expect(try await redis.send(RedisCommand("GET", key: key), as: String.self) == "1")
            #expect(try await redis.send(RedisCommand("GET", key: "{moving}:b"), as: String.self) == "2")
            // A script is refused on both sides while its slot is half-moved (the slot guard),
            // and runs once the migration ends.
            let script = RedisScript(source: "return redis.call('INCR', KEYS[1])")
            async let counted = redis.evaluate(script, keys: ["{moving}:b"])
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await source.cli("MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS", "{moving}:b") == "OK")
            for node in cluster.nodes { #expect(try await node.cli("CLUSTER", "SETSLOT", String(slot), "NODE", targetID) == "OK") }
            #expect(try await counted == .integer(3))
            // The client's map still names the source: MOVED corrects it.
            #expect(try await redis.send(RedisCommand("INCR", key: key), as: Int.self) == 2)
            #expect(try await target.cli("GET", key) == "2")
        }
    }

    @Test func aNodeThatGoesAwayFailsItsSlotsFastAndOthersServe() async throws {
        // With full coverage required (Redis's default) the whole cluster refuses once the
        // node times out; without it, the others go on serving their slots.
        try await withRedisCluster(["--cluster-require-full-coverage", "no"]) { cluster in
            var configuration = RedisConfiguration()
            configuration.topology = .cluster(seeds: cluster.nodes.map { RedisEndpoint(host: "127.0.0.1", port: $0.port) })
            configuration.commandTimeout = .milliseconds(500)
            configuration.reconnectBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(100))
            let redis = try RedisClient(configuration: configuration)
            defer { redis.shutDown() }
            let keys = (0..<30).map { "gone-\($0)" }
            for key in keys { try await redis.send(RedisCommand("SET", key: key, "v")) }
            let victim = cluster.nodes[1]
            await victim.stop()
            let clock = ContinuousClock()
            var failed = 0
            for key in keys {
                let started = clock.now
                do throws(RedisError) {
                    #expect(try await redis.send(RedisCommand("GET", key: key), as: String.self) == "v")
                } catch {
                    failed += 1
                    #expect(error.code == .connectionUnavailable || error.isOutcomeUnknown || error.message.hasPrefix("CLUSTERDOWN"), "\(error)")
                    #expect(clock.now - started < .seconds(2), "a dead node's slots fail within the command timeout")
                }
            }
            #expect(failed > 0 && failed < keys.count, "the dead node's keys fail, the others are served")
            try await victim.restart()
            for _ in 0..<200 {
                var states: [String] = []
                for node in cluster.nodes { states.append(try await node.cli("CLUSTER", "INFO")) }
                if states.allSatisfy({ $0.contains("cluster_state:ok") }) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            // The node is back (empty: the test servers keep nothing on disk) and serves again.
            for key in keys { _ = try await redis.send(RedisCommand("GET", key: key), as: String?.self) }
        }
    }
}
