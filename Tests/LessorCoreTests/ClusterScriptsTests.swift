import LessorCore
import LessorRedis
import RedisServerHarness
import Testing

/// Cross-slot calls are impossible by construction: every key one script call declares or
/// derives carries the same hash tag. The contract suites run every script on a real
/// cluster too, where a node refuses a script that reaches a key of another slot.
@Suite("Keys and slots on a real three-primary Redis Cluster", .timeLimit(.minutes(2)))
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

    @Test func everyKeyOneCallTouchesSharesItsSlot() {
        let ids = IdentifierGenerator()
        for namespace in ["lessor", "staging.lessor-1"] {
            let keys = KeySpace(namespace: namespace)
            let environment = ids.next(.environment)
            let work = ids.next(.work)
            // The work scripts declare the environment's key and derive the rest from its prefix.
            let prefix = String(keys.environment(environment).dropLast("env".count))
            let workKeys = [keys.environment(environment), keys.item(environment, work), keys.lease(environment, work)]
                + ["queue", "delivered", "available", "deadlines", "items", "pollers", "stopped", "wakeup", "slot-guard"].map { prefix + $0 }
            #expect(Set(workKeys.map(HashSlot.of)).count == 1, "\(workKeys)")
            let worker = WorkerID.next(ids)
            #expect(HashSlot.of(keys.worker(worker)) == HashSlot.of(keys.presence(worker)))
            #expect(HashSlot.of(keys.tokenRecord(digest: AccessTokens.digest(of: "s"))) == HashSlot.of(keys.tokenID(ids.next(.token))))
        }
    }
}
