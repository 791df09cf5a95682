import Foundation
import LessorCore
import LessorRedis
import RedisServerHarness
import Testing

@Suite("Idempotency keys: the key, its scope, the sealed secret")
struct IdempotencyKeyTests {
    @Test func aKeyIsOneTo256PrintableASCIIBytes() {
        #expect(IdempotencyKey("a") != nil)
        #expect(IdempotencyKey("with space ~!") != nil)
        #expect(IdempotencyKey(String(repeating: "k", count: 256)) != nil)
        for bad in ["", String(repeating: "k", count: 257), "tab\t", "line\n", "é", "\u{7F}"] {
            #expect(IdempotencyKey(bad) == nil, "\(bad.debugDescription)")
        }
    }

    @Test func recordsAreScopedByPrincipalAndRequestsComparedPartByPart() throws {
        let key = try #require(IdempotencyKey("k"))
        let admin = Idempotency(key: key, principal: "admin", request: [Array("ab".utf8), Array("c".utf8)])
        #expect(admin.recordID.count == 32)
        #expect(admin.recordID == Idempotency(key: key, principal: "admin", request: []).recordID, "the record is the key's, whatever the request")
        #expect(admin.recordID != Idempotency(key: key, principal: "tok_1", request: []).recordID)
        #expect(admin.fingerprint == Idempotency(key: key, principal: "tok_1", request: [Array("ab".utf8), Array("c".utf8)]).fingerprint)
        #expect(admin.fingerprint != Idempotency(key: key, principal: "admin", request: [Array("a".utf8), Array("bc".utf8)]).fingerprint)
    }

    @Test func onlyTheSameKeyAndPrincipalOpenASealedSecret() throws {
        let key = try #require(IdempotencyKey("k"))
        let sealed = Idempotency(key: key, principal: "admin", request: []).seal("lsr_secret")
        #expect(!sealed.contains("lsr_secret"))
        #expect(Idempotency(key: key, principal: "admin", request: [[1]]).open(sealed) == "lsr_secret")
        #expect(Idempotency(key: key, principal: "tok_1", request: []).open(sealed) == nil)
        #expect(Idempotency(key: try #require(IdempotencyKey("k2")), principal: "admin", request: []).open(sealed) == nil)
    }
}

/// The records against a real redis-server and a real Redis Cluster: written by the same call
/// as the write (so on its slot: a cluster refuses a call whose keys span two), replayed, in
/// conflict, not written for what must run again, and a create that survives its node dying
/// between its steps.
@Suite("Idempotency records against a real redis-server and a real Redis Cluster", .timeLimit(.minutes(2)))
struct IdempotencyRecordTests {
    let ids = IdentifierGenerator()

    func idempotency(_ key: String, request: String = "r", principal: String = "admin") -> Idempotency {
        Idempotency(key: IdempotencyKey(key)!, principal: principal, request: [Array(request.utf8)])
    }

    @Test(arguments: RedisBackend.allCases) func aHeartbeatRunsOnceAndItsRetryIsTheFirstAnswer(_ backend: RedisBackend) async throws {
        try await withStore(backend) { server, functions, environments in
            let env = try await environments.create(EnvironmentCreate(environmentID: ids.next(.environment), name: "e", description: nil, kind: .selfHosted)).id
            let work = try await functions.call(WorkEnqueue(environmentID: env, workID: ids.next(.work), sessionID: "s", metadata: [:])).id
            _ = try await functions.call(WorkAck(environmentID: env, workID: work, workerID: "w", leaseTTL: .seconds(60)))
            let beat = WorkHeartbeat(environmentID: env, workID: work, workerID: "w", expected: ExpectedLastHeartbeat.none, ttl: .seconds(60), stopHandling: .refuse)
            let first = try await functions.call(beat, idempotency: idempotency("k"))
            #expect(!first.replayed)
            let retry = try await functions.call(beat, idempotency: idempotency("k"))
            #expect(retry.replayed)
            #expect(retry.value == first.value)
            #expect(try await functions.call(WorkGet(environmentID: env, workID: work)).latestHeartbeatAt == first.value.lastHeartbeat)

            let conflict = await refusal { () async throws(StoreError) in _ = try await functions.call(beat, idempotency: idempotency("k", request: "another")) }
            #expect(conflict == .idempotencyConflict)
            // Without the record the same call is a 412 now; the record's 412 is replayed as such.
            let refused = await refusal { () async throws(StoreError) in _ = try await functions.call(beat, idempotency: idempotency("k412")) }
            #expect(refused?.preconditionReason == .lastHeartbeatMismatch)
            do throws(StoreError) {
                _ = try await functions.call(beat, idempotency: idempotency("k412"))
                Issue.record("the recorded 412 was not replayed")
            } catch {
                guard case .replayed(.preconditionFailed(.lastHeartbeatMismatch, _)) = error else { Issue.record("\(error)"); return }
            }

            // What a record costs: a heartbeat's, whose reply is six short values.
            let record = KeySpace(namespace: "lessor").idempotencyRecord(beside: KeySpace(namespace: "lessor").environment(env), recordID: idempotency("k").recordID)
            let bytes = try #require(Int(try await server.cli("MEMORY", "USAGE", record).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(bytes < 400, "a heartbeat's record takes \(bytes) bytes")
            let ttl = try #require(Int(try await server.cli("PTTL", record).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(ttl > 86_000_000 && ttl <= 86_400_000)
        }
    }

    @Test func whatTheCallDecidesWithoutStateIsNotRecorded() async throws {
        try await withStore(.standalone) { server, functions, environments in
            let env = try await environments.create(EnvironmentCreate(environmentID: ids.next(.environment), name: "e", description: nil, kind: .selfHosted)).id
            let ack = WorkAck(environmentID: env, workID: ids.next(.work), workerID: "w", leaseTTL: .seconds(60))
            #expect(await refusal { () async throws(StoreError) in _ = try await functions.call(ack, idempotency: idempotency("k")) } == .workNotFound)
            #expect(try await server.cli("--scan", "--pattern", "*idem*").isEmpty)
        }
    }

    /// A node that reserved the id and died (before the registry, or before the create) leaves
    /// a reservation; the retry, on any node, mints another id but creates the reserved one.
    /// On a cluster, where the reservation and the environment are on two slots (of two nodes).
    @Test func aCreateWhoseNodeDiedBetweenItsStepsHappensOnce() async throws {
        try await withStore(.cluster) { _, functions, environments in
            let key = idempotency("create-1")
            let reservedID = ids.next(.environment)
            // The node that died: its reservation ran, nothing after it.
            #expect(try await functions.call(IdempotencyReservation(idempotency: key, id: reservedID)).id == reservedID)
            let call = EnvironmentCreate(environmentID: ids.next(.environment), name: "gpu", description: nil, kind: .selfHosted)
            let retried = try await environments.create(call, idempotency: key)
            #expect(retried.value.id == reservedID)
            #expect(!retried.replayed)
            let again = try await environments.create(EnvironmentCreate(environmentID: ids.next(.environment), name: "gpu", description: nil, kind: .selfHosted), idempotency: key)
            #expect(again.replayed)
            #expect(again.value == retried.value)
            #expect(try await environments.get(id: call.environmentID) == nil, "the retry's own id was never created")
            #expect(try await environments.ids() == [reservedID])
            let conflict = await refusal { () async throws(StoreError) in
                _ = try await environments.create(EnvironmentCreate(environmentID: ids.next(.environment), name: "cpu", description: nil, kind: .selfHosted),
                                                  idempotency: idempotency("create-1", request: "another"))
            }
            #expect(conflict == .idempotencyConflict)
        }
    }
}
