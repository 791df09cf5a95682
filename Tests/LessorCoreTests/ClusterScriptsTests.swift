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

    @Test func theSlotGuardSharesTheHashTagAndSlot() {
        let keys = KeySpace(namespace: "lessor")
        let guardKey = keys.slotGuard(for: "lessor:{env_0123}:env")
        #expect(guardKey == "lessor:{env_0123}:slot-guard")
        #expect(guardKey.map { HashSlot.of($0) } == HashSlot.of("lessor:{env_0123}:env"))
        #expect(keys.slotGuard(for: "lessor:workers") == nil)
        #expect(keys.slotGuard(for: "a{}b") == nil)
    }

    @Test func everyKeyOneCallTouchesSharesItsSlot() {
        let ids = IdentifierGenerator()
        for namespace in ["lessor", "staging.lessor-1"] {
            let keys = KeySpace(namespace: namespace)
            let environment = ids.next(.environment)
            let work = ids.next(.work)
            // What the work functions declare, the prefixes they reach indexed items through,
            // the wakeup channel and the slot guard.
            let workKeys = WorkGet(environmentID: environment, workID: work).keys(keys) + WorkHeartbeat(
                environmentID: environment, workID: work, workerID: nil, expected: nil, ttl: .seconds(60)).keys(keys)
                + keys.environmentArguments(environment).map { $0 + work } + [keys.slotGuard(for: keys.environment(environment))!]
            #expect(Set(workKeys.map(HashSlot.of)).count == 1, "\(workKeys)")
            #expect(keys.heartbeatKeys(environment, work) == [
                keys.environment(environment), keys.item(environment, work), keys.lease(environment, work), keys.deadlines(environment),
            ])
            let worker = WorkerID.next(ids)
            #expect(HashSlot.of(keys.worker(worker)) == HashSlot.of(keys.presence(worker)))
            #expect(HashSlot.of(keys.tokenRecord(digest: AccessTokens.digest(of: "s"))) == HashSlot.of(keys.tokenID(ids.next(.token))))
        }
    }
}
