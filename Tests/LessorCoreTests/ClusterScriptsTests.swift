import LessorCore
import LessorRedis
import RedisServerHarness
import Testing

/// Every script runs unchanged on a real Redis Cluster: all keys one call touches share its
/// hash tag, so the node that owns the tag's slot runs the whole script (a node refuses a
/// script that reaches a key of another slot). The cluster-routing client is the next step
/// of issue #6; here each call is sent to the owning node directly.
@Suite("Scripts on a real three-primary Redis Cluster", .timeLimit(.minutes(2)))
struct ClusterScriptsTests {
    @Test func ourSlotFunctionAgreesWithRedis() async throws {
        try await withRedisCluster { cluster in
            let ids = IdentifierGenerator()
            let keys = KeySpace(namespace: "lessor")
            for key in [keys.environment(ids.next(.environment)), keys.worker(WorkerID.next(ids)), keys.tokenRecord(digest: "ab"), "plain", "{}x", "a{b}c"] {
                let slot = try await cluster.nodes[0].cli("CLUSTER", "KEYSLOT", key)
                #expect(slot == String(HashSlot.of(key)), "\(key)")
            }
        }
    }

    @Test func theWorkLeaseScriptsRunOnTheOwningNode() async throws {
        try await withRedisCluster { cluster in
            let ids = IdentifierGenerator()
            let keys = KeySpace(namespace: "lessor")
            let environment = ids.next(.environment)
            let owner = try await cluster.owner(of: keys.environment(environment))
            let redis = try RedisClient(configuration: try RedisConfiguration(url: owner.url))
            defer { redis.shutDown() }
            try await redis.evaluate(LuaScripts.embedded.environmentCreate, keys: [keys.environment(environment)], arguments: ["c", "", "self_hosted"])
            let work = WorkLeaseScripts(redis: redis, keys: keys)
            let item = try await work.enqueue(environmentID: environment, workID: ids.next(.work), dataType: "session", sessionID: "s", metadata: ["k": "v"])
            #expect(try await work.poll(environmentID: environment, workerID: "w", reclaimMilliseconds: 5000)?.id == item.id)
            _ = try await work.ack(environmentID: environment, workID: item.id, workerID: "w", ttlSeconds: 60)
            let beat = try await work.heartbeat(environmentID: environment, workID: item.id, workerID: "w", expected: ExpectedLastHeartbeat.none, ttlSeconds: 30)
            #expect(beat.state == .active)
            _ = try await work.patchMetadata(environmentID: environment, workID: item.id, patch: ["k": nil])
            #expect(try await work.list(environmentID: environment, limit: 10, after: nil, before: nil).items.count == 1)
            #expect(try await work.stats(environmentID: environment).depth == 0)
            #expect(try await work.expireLease(environmentID: environment, workID: item.id).state == .queued)
            _ = try await work.reap(environmentID: environment, batch: 10)
            #expect(try await work.stop(environmentID: environment, workID: item.id, force: true).state == .stopped)
        }
    }

    @Test func theWorkerAndTokenScriptsRunOnTheirOwningNodes() async throws {
        try await withRedisCluster { cluster in
            let ids = IdentifierGenerator()
            let keys = KeySpace(namespace: "lessor")
            let worker = WorkerID.next(ids)
            let workerNode = try await cluster.owner(of: keys.worker(worker))
            let redis = try RedisClient(configuration: try RedisConfiguration(url: workerNode.url))
            defer { redis.shutDown() }
            let digest = AccessTokens.digest(of: "secret")
            try await redis.evaluate(LuaScripts.embedded.workerCreate, keys: [keys.worker(worker)], arguments: [worker, "w", "", digest])
            let workers = Workers(redis: redis, keys: keys, ids: ids, presenceTTL: .seconds(90))
            let result = try await workers.heartbeat(id: worker, token: "secret", ActivityHeartbeat(isActiveRecently: true, openSessionCount: 2))
            #expect(result.lastActiveAt != nil)
            #expect(try await workers.get(id: worker)?.online == true)

            let tokenNode = try await cluster.owner(of: keys.tokenRecord(digest: digest))
            let tokenRedis = try RedisClient(configuration: try RedisConfiguration(url: tokenNode.url))
            defer { tokenRedis.shutDown() }
            let tokens = AccessTokens(redis: tokenRedis, keys: keys, ids: ids)
            let (token, secret) = try await tokens.create(name: "t", environmentIDs: nil, lifetimeSeconds: 60)
            #expect(try await tokens.record(digest: AccessTokens.digest(of: secret))?.id == token.id)
            #expect(try await tokens.revoke(id: token.id))
        }
    }
}
