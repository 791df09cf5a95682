import Foundation
import LessorCore
import LessorRedis
import RedisServerHarness
import Testing

/// The lease logic itself: the Lua scripts of lua/, run by a real redis-server through the
/// typed calls. HTTP mapping is tested elsewhere; these pin down what Redis decides.
@Suite("Work lease scripts against a real redis-server and a real Redis Cluster", .timeLimit(.minutes(2)))
struct WorkLeaseScriptsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let ids = IdentifierGenerator()

    /// Runs `body` with a fresh Redis of `backend`, the calls, and one self-hosted environment.
    func withEnvironment(_ backend: RedisBackend, _ body: (any RedisDeployment, LessorFunctions, String) async throws -> Void) async throws {
        try await withRedis(backend) { server in
            let redis = try RedisClient(configuration: server.clientConfiguration)
            defer { redis.shutDown() }
            let work = LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor"))
            let environment = ids.next(.environment)
            _ = try await Environments(functions: work).create(EnvironmentCreate(environmentID: environment, name: "byoc", description: "", kind: .selfHosted))
            try await body(server, work, environment)
        }
    }

    func enqueue(_ work: LessorFunctions, _ environment: String, metadata: [String: String] = [:]) async throws -> WorkItem {
        try await work.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: ids.next(.session), metadata: metadata))
    }

    /// Every function `lua/lessor.lua` registers, by the Swift call that runs it: the library
    /// and the typed calls cannot drift apart.
    static let callFunctions: [String] = [
        EnvironmentCreate.function, EnvironmentUpdate.function, EnvironmentArchive.function, EnvironmentDelete.function, WorkEnqueue.function, WorkPoll.function, WorkAck.function, WorkHeartbeat.function,
        WorkStop.function, WorkGet.function, WorkMetadata.function, WorkList.function, WorkStats.function,
        WorkExpireLease.function, WorkReap.function, TokenCreate.function, TokenRevoke.function,
        WorkerCreate.function, WorkerGet.function, WorkerHeartbeat.function, Idempotent<WorkHeartbeat>.function, IdempotencyReservation.function,
    ]

    @Test func theLibraryIsEmbeddedByteForByteAndEveryFunctionHasItsCall() async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.repository.appendingPathComponent("lua").path)
        #expect(files.sorted() == ["lessor.lua", "lessor_acl.lua"], "the Lua has one home, and nothing generated sits beside it")
        let source = try String(contentsOf: Self.repository.appendingPathComponent("lua/lessor.lua"), encoding: .utf8)
        #expect(LessorLibrary.embedded.source == source)
        #expect(LessorLibrary.embedded.name == "lessor_v5")
        #expect(LessorLibrary.operations.sorted() == Self.callFunctions.sorted())
        #expect(source.components(separatedBy: "redis.register_function").count - 1 == Self.callFunctions.count)
        try await withRedisServer { server in
            let redis = try RedisClient(configuration: server.clientConfiguration)
            defer { redis.shutDown() }
            try await redis.load(LessorLibrary.embedded)
            try await redis.forEachPrimary { node throws(RedisError) in
                let loaded = try await LessorLibrary.embedded.loadedSource(on: node)
                #expect(loaded == source, "FUNCTION LIST WITHCODE shows the file byte for byte")
            }
        }
    }

    /// The least-privilege user's rules cover every command the library runs, and list none it does not.
    @Test func thePermissionsListEveryCommandTheFunctionsRun() throws {
        let source = try String(contentsOf: Self.repository.appendingPathComponent("lua/lessor.lua"), encoding: .utf8)
        let called = Set(source.matches(of: #/redis\.p?call\('([A-Za-z]+)'/#).map { String($0.output.1).uppercased() })
        let listed = Set(RedisPermissions(namespace: "lessor").functionCommands.map { $0[0] })
        #expect(called == listed)
    }

    /// The Lua builds no key name: every key a full life of items, tokens and workers leaves
    /// in Redis is one KeySpace names.
    @Test(arguments: RedisBackend.allCases) func everyKeyInRedisIsOneKeySpaceNames(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { server, work, environment in
            let keys = work.keys
            var named: Set<String> = Set(keys.environmentKeys(environment)) .union([keys.environments, keys.workers])
            for index in 0..<3 {
                let item = try await enqueue(work, environment)
                named.formUnion([keys.item(environment, item.id), keys.lease(environment, item.id)])
                _ = try await work.call(WorkPoll(environmentID: environment, workerID: "w"))
                _ = try await work.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w", leaseTTL: .seconds(index == 0 ? 1 : 60)))
                _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: "w", expected: nil, ttl: .seconds(index == 0 ? 1 : 60)))
                if index == 2 { _ = try await work.call(WorkStop(environmentID: environment, workID: item.id, force: true)) }
            }
            try await Task.sleep(for: .milliseconds(1_200))
            _ = try await work.call(WorkReap(environmentID: environment, batch: 10))
            _ = try await work.call(WorkStats(environmentID: environment))
            _ = try await work.call(WorkList(environmentID: environment, limit: 10))
            let (token, _) = try await AccessTokens(functions: work, ids: ids).create(name: "t", environmentIDs: nil, lifetime: nil)
            try await AccessTokens(functions: work, ids: ids).revoke(id: token.id)
            named.insert(keys.tokenID(token.id))
            let (worker, secret) = try await Workers(functions: work, ids: ids).create(name: "w", description: nil)
            _ = try await work.call(WorkerHeartbeat(workerID: worker.id, token: secret, heartbeat: ActivityHeartbeat(isActiveRecently: true), presenceTTL: .seconds(60)))
            named.formUnion([keys.worker(worker.id), keys.presence(worker.id)])
            let found = try await server.allKeys()
            let records = found.filter { $0.hasPrefix(keys.tokenRecordPrefix) }
            #expect(records.count == 1)
            #expect(found.subtracting(records).subtracting(named).isEmpty, "keys no KeySpace function names: \(found.subtracting(named).subtracting(records))")
        }
    }

    @Test(arguments: RedisBackend.allCases) func environmentsAreCheckedFirst(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, _ in
            let missing = ids.next(.environment)
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkPoll(environmentID: missing, workerID: nil, reclaimAfter: .milliseconds(5000))) } == .environmentNotFound)
            let cloud = ids.next(.environment)
            _ = try await Environments(functions: work).create(EnvironmentCreate(environmentID: cloud, name: "c", description: "", kind: .cloud))
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkGet(environmentID: cloud, workID: ids.next(.work))) } == .environmentNotSelfHosted(.cloud))
            #expect(try await Environments(functions: work).ids().contains(cloud))
            // The heartbeat reads the environment only when the item is missing: same answers.
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkHeartbeat(environmentID: missing, workID: ids.next(.work), workerID: nil, expected: nil, ttl: .seconds(60))) } == .environmentNotFound)
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkHeartbeat(environmentID: cloud, workID: ids.next(.work), workerID: nil, expected: nil, ttl: .seconds(60))) } == .environmentNotSelfHosted(.cloud))
        }
    }

    @Test(arguments: RedisBackend.allCases) func pollAckHeartbeatChain(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { server, work, environment in
            let created = try await enqueue(work, environment, metadata: ["team": "infra"])
            #expect(created.state == .queued)
            #expect(created.fencingToken == 0)
            #expect(created.metadata == ["team": "infra"])
            let delivered = try #require(try await work.call(WorkPoll(environmentID: environment, workerID: "w1", reclaimAfter: .milliseconds(5000))).item)
            #expect(delivered.id == created.id)
            #expect(delivered.state == .queued)
            #expect(try await work.call(WorkPoll(environmentID: environment, workerID: "w2", reclaimAfter: .milliseconds(5000))).item == nil)

            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: created.id, workerID: "w1", expected: nil, ttl: .seconds(60))) } == .conflict(.queued))
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkAck(environmentID: environment, workID: created.id, workerID: "w2", leaseTTL: .seconds(60))) } == .conflict(.deliveredToAnotherWorker))
            let acked = try await work.call(WorkAck(environmentID: environment, workID: created.id, workerID: "w1", leaseTTL: .seconds(60)))
            #expect(acked.state == .starting)
            #expect(acked.fencingToken == 1)
            #expect(acked.workerID == "w1")
            var retried = try await work.call(WorkAck(environmentID: environment, workID: created.id, workerID: "w1", leaseTTL: .seconds(60)))
            retried.leaseRemaining = acked.leaseRemaining
            #expect(retried == acked, "a retry by the same worker changes nothing")

            var last = try await work.call(WorkHeartbeat(environmentID: environment, workID: created.id, workerID: "w1", expected: ExpectedLastHeartbeat.none, ttl: .seconds(30)))
            #expect(last.state == .active)
            #expect(last.leaseExtended)
            #expect(last.fencingToken == 1)
            #expect(last.ttl == .seconds(30))
            let ttl = Int(try await server.cli("TTL", KeySpace(namespace: "lessor").lease(environment, created.id))) ?? 0
            #expect((29...30).contains(ttl))
            for _ in 0..<20 {
                let next = try await work.call(WorkHeartbeat(environmentID: environment, workID: created.id, workerID: "w1", expected: .at(last.lastHeartbeat!), ttl: .seconds(60)))
                #expect(next.lastHeartbeat! > last.lastHeartbeat!)
                last = next
            }
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: created.id, workerID: nil, expected: ExpectedLastHeartbeat.none, ttl: .seconds(60))) }?.preconditionReason == .lastHeartbeatMismatch)
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: created.id, workerID: "w2", expected: nil, ttl: .seconds(60))) }?.preconditionReason == .heldByAnotherWorker)
            // The same instant written with an offset matches.
            let instant = last.lastHeartbeat!
            let shifted = Timestamp(microseconds: instant.microseconds + 3_600_000_000).rfc3339.replacingOccurrences(of: "Z", with: "+01:00")
            _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: created.id, workerID: "w1", expected: .at(Timestamp(rfc3339: shifted)!), ttl: .seconds(60)))
            let item = try await work.call(WorkGet(environmentID: environment, workID: created.id))
            #expect(item.state == .active)
            #expect(item.startedAt != nil)
            #expect((item.leaseRemaining ?? .zero) > .seconds(50))
        }
    }

    @Test(arguments: RedisBackend.allCases) func aHeartbeatIsStrictlyLaterThanTheStoredOneEvenWhenTheClockIsBehind(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { server, work, environment in
            let created = try await enqueue(work, environment)
            _ = try await work.call(WorkAck(environmentID: environment, workID: created.id, workerID: "w", leaseTTL: .seconds(60)))
            // A stored heartbeat ahead of Redis's clock (a clock step back, a restored backup):
            // the next one is 1 µs after it, never equal or earlier.
            let key = KeySpace(namespace: "lessor").item(environment, created.id)
            try await server.cli("HSET", key, "state", "active", "latest_heartbeat_at", "2100-12-31T23:59:59.999999Z")
            let beat = try await work.call(WorkHeartbeat(environmentID: environment, workID: created.id, workerID: "w", expected: nil, ttl: .seconds(60)))
            #expect(beat.lastHeartbeat?.rfc3339 == "2101-01-01T00:00:00.000000Z")
            let next = try await work.call(WorkHeartbeat(environmentID: environment, workID: created.id, workerID: "w", expected: nil, ttl: .seconds(60)))
            #expect(next.lastHeartbeat?.rfc3339 == "2101-01-01T00:00:00.000001Z")
        }
    }

    @Test(arguments: RedisBackend.allCases) func sixteenConcurrentHeartbeatsWithOneExpectationLetExactlyOneThrough(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            let item = try await enqueue(work, environment)
            _ = try await work.call(WorkAck(environmentID: environment, workID: item.id, workerID: nil, leaseTTL: .seconds(60)))
            let first = try await work.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: nil, expected: ExpectedLastHeartbeat.none, ttl: .seconds(60)))
            let expected = ExpectedLastHeartbeat.at(first.lastHeartbeat!)
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        (try? await work.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: nil, expected: expected, ttl: .seconds(60)))) != nil
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(outcomes.filter { !$0 }.count == 15)
        }
    }

    @Test(arguments: RedisBackend.allCases) func aLapsedLeaseIsRequeuedAheadOfFreshWorkAndFencedOff(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { server, work, environment in
            let leased = try await enqueue(work, environment)
            let fresh = try await enqueue(work, environment)
            _ = try await work.call(WorkPoll(environmentID: environment, workerID: "old", reclaimAfter: .milliseconds(5000)))
            _ = try await work.call(WorkAck(environmentID: environment, workID: leased.id, workerID: "old", leaseTTL: .seconds(1)))
            let beat = try await work.call(WorkHeartbeat(environmentID: environment, workID: leased.id, workerID: "old", expected: ExpectedLastHeartbeat.none, ttl: .seconds(1)))
            try await Task.sleep(for: .milliseconds(1300))
            // Lapsed but not reaped yet: the holder may still revive it.
            let revived = try await work.call(WorkHeartbeat(environmentID: environment, workID: leased.id, workerID: "old", expected: .at(beat.lastHeartbeat!), ttl: .seconds(1)))
            #expect(!revived.leaseExtended)
            try await Task.sleep(for: .milliseconds(1300))
            let reaped = try await work.call(WorkReap(environmentID: environment, batch: 100))
            #expect(reaped.reaped == 1)
            let requeued = try await work.call(WorkGet(environmentID: environment, workID: leased.id))
            #expect(requeued.state == .queued)
            #expect(requeued.workerID == nil)
            #expect(requeued.latestHeartbeatAt == nil)
            #expect(requeued.acknowledgedAt == nil)
            #expect(requeued.leaseExpiresAt == nil)
            #expect(requeued.fencingToken == 1)
            #expect(try await server.cli("EXISTS", KeySpace(namespace: "lessor").lease(environment, leased.id)) == "0")

            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: leased.id, workerID: "old", expected: .at(revived.lastHeartbeat!), ttl: .seconds(60))) } == .conflict(.queued))
            let redelivered = try await work.call(WorkPoll(environmentID: environment, workerID: "new", reclaimAfter: .milliseconds(5000))).item
            #expect(redelivered?.id == leased.id, "redelivered before the never-delivered \(fresh.id)")
            let taken = try await work.call(WorkAck(environmentID: environment, workID: leased.id, workerID: "new", leaseTTL: .seconds(60)))
            #expect(taken.fencingToken == 2)
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: leased.id, workerID: "old", expected: .at(revived.lastHeartbeat!), ttl: .seconds(60))) }?.preconditionReason == .heldByAnotherWorker)
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: leased.id, workerID: nil, expected: .at(revived.lastHeartbeat!), ttl: .seconds(60))) }?.preconditionReason == .lastHeartbeatMismatch)
        }
    }

    /// The `deadlines` index holds a lower bound of each lease's deadline: a steady heartbeat
    /// does not touch it (one Redis call fewer per heartbeat), one that shortens the lease
    /// moves it earlier, and the reaper re-scores a live lease whose recorded deadline passed.
    @Test(arguments: RedisBackend.allCases) func theDeadlineIndexIsALowerBoundTheReaperCorrects(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { server, work, environment in
            let keys = KeySpace(namespace: "lessor")
            let deadlines = "lessor:{\(environment)}:deadlines"
            func redisMilliseconds() async throws -> Int {
                let time = try await server.cli("TIME").split(separator: "\n").compactMap { Int($0) }
                return time[0] * 1000 + time[1] / 1000
            }
            func recordedDeadline(_ id: String) async throws -> Int { Int(try await server.cli("ZSCORE", deadlines, id)) ?? -1 }
            let item = try await enqueue(work, environment)
            _ = try await work.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w", leaseTTL: .seconds(60)))
            let acked = try await recordedDeadline(item.id)
            #expect(abs(acked - (try await redisMilliseconds() + 60_000)) < 1_000)

            _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: "w", expected: nil, ttl: .seconds(120)))
            #expect(try await recordedDeadline(item.id) == acked, "a longer lease leaves the lower bound alone")
            #expect((119...120).contains(Int(try await server.cli("TTL", keys.lease(environment, item.id))) ?? 0))

            _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: "w", expected: nil, ttl: .seconds(2)))
            let shortened = try await recordedDeadline(item.id)
            #expect(abs(shortened - (try await redisMilliseconds() + 2_000)) < 1_000, "a shorter lease moves the deadline earlier")
            _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: "w", expected: nil, ttl: .seconds(60)))
            #expect(try await recordedDeadline(item.id) == shortened)

            try await Task.sleep(for: .milliseconds(2_300))
            let sweep = try await work.call(WorkReap(environmentID: environment, batch: 100))
            #expect(sweep.reaped == 0, "the lease key lives: nothing lapsed")
            #expect(try await work.call(WorkGet(environmentID: environment, workID: item.id)).state == .active)
            let corrected = try await recordedDeadline(item.id)
            let pttl = Int(try await server.cli("PTTL", keys.lease(environment, item.id))) ?? 0
            #expect(abs(corrected - (try await redisMilliseconds() + pttl)) < 1_000, "re-scored from the lease key")
        }
    }

    @Test(arguments: RedisBackend.allCases) func unacknowledgedDeliveriesAreReclaimedAfterTheWindow(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            let item = try await enqueue(work, environment)
            _ = try await work.call(WorkPoll(environmentID: environment, workerID: "a", reclaimAfter: .milliseconds(5000)))
            #expect(try await work.call(WorkPoll(environmentID: environment, workerID: "b", reclaimAfter: .milliseconds(5000))).item == nil)
            let stats = try await work.call(WorkStats(environmentID: environment))
            #expect(stats.depth == 0)
            #expect(stats.pending == 1)
            #expect(stats.workersPolling == 2)
            #expect(stats.oldestQueuedAt == item.createdAt)
            let reclaimed = try await work.call(WorkPoll(environmentID: environment, workerID: "b", reclaimAfter: .milliseconds(0))).item
            #expect(reclaimed?.id == item.id)
            _ = try await work.call(WorkAck(environmentID: environment, workID: item.id, workerID: "b", leaseTTL: .seconds(60)))
            let after = try await work.call(WorkStats(environmentID: environment))
            #expect(after.depth == 0 && after.pending == 0 && after.oldestQueuedAt == nil)
        }
    }

    @Test(arguments: RedisBackend.allCases) func gracefulAndForcedStops(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { server, work, environment in
            let queued = try await enqueue(work, environment)
            #expect(try await work.call(WorkStop(environmentID: environment, workID: queued.id, force: false)).state == .stopped)
            let active = try await enqueue(work, environment)
            _ = try await work.call(WorkAck(environmentID: environment, workID: active.id, workerID: "w", leaseTTL: .seconds(60)))
            let stopping = try await work.call(WorkStop(environmentID: environment, workID: active.id, force: false))
            #expect(stopping.state == .stopping)
            #expect(stopping.stopRequestedAt != nil)
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkAck(environmentID: environment, workID: active.id, workerID: "w", leaseTTL: .seconds(60))) } == .conflict(.stopping))
            // A stopping item still heartbeats; its lease is kept until it stops.
            #expect(try await work.call(WorkHeartbeat(environmentID: environment, workID: active.id, workerID: "w", expected: nil, ttl: .seconds(60))).state == .stopping)
            let stopped = try await work.call(WorkStop(environmentID: environment, workID: active.id, force: false))
            #expect(stopped.state == .stopped)
            #expect(stopped.stoppedAt != nil)
            #expect(try await server.cli("EXISTS", KeySpace(namespace: "lessor").lease(environment, active.id)) == "0")
            #expect(try await work.call(WorkStop(environmentID: environment, workID: active.id, force: true)) == stopped)
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkHeartbeat(environmentID: environment, workID: active.id, workerID: "w", expected: nil, ttl: .seconds(60))) } == .conflict(.stopped))
            let forced = try await enqueue(work, environment)
            _ = try await work.call(WorkAck(environmentID: environment, workID: forced.id, workerID: "w", leaseTTL: .seconds(60)))
            #expect(try await work.call(WorkStop(environmentID: environment, workID: forced.id, force: true)).state == .stopped)
            let ttl = Int(try await server.cli("TTL", KeySpace(namespace: "lessor").item(environment, forced.id))) ?? 0
            #expect(ttl > 6 * 86_400, "stopped items expire after the retention period")
        }
    }

    @Test(arguments: RedisBackend.allCases) func aStoppingItemWhoseLeaseLapsesStops(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            let item = try await enqueue(work, environment)
            _ = try await work.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w", leaseTTL: .seconds(1)))
            _ = try await work.call(WorkStop(environmentID: environment, workID: item.id, force: false))
            try await Task.sleep(for: .milliseconds(1300))
            _ = try await work.call(WorkReap(environmentID: environment, batch: 10))
            #expect(try await work.call(WorkGet(environmentID: environment, workID: item.id)).state == .stopped)
        }
    }

    @Test(arguments: RedisBackend.allCases) func listingPagesInIDOrder(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            var created: [String] = []
            for _ in 0..<5 { created.append(try await enqueue(work, environment).id) }
            let first = try await work.call(WorkList(environmentID: environment, limit: 2, boundary: .after(nil)))
            #expect(first.items.map(\.id) == Array(created[0..<2]))
            #expect(first.hasMore)
            let second = try await work.call(WorkList(environmentID: environment, limit: 2, boundary: .after(created[1])))
            #expect(second.items.map(\.id) == Array(created[2..<4]))
            let last = try await work.call(WorkList(environmentID: environment, limit: 2, boundary: .after(created[3])))
            #expect(last.items.map(\.id) == [created[4]])
            #expect(!last.hasMore)
            let before = try await work.call(WorkList(environmentID: environment, limit: 2, boundary: .before(created[4])))
            #expect(before.items.map(\.id) == Array(created[2..<4]))
            #expect(before.hasMore)
            let all = try await work.call(WorkList(environmentID: environment, limit: 100, boundary: .after(nil)))
            #expect(all.items.map(\.id) == created)
            #expect(!all.hasMore)
        }
    }

    @Test(arguments: RedisBackend.allCases) func metadataMergePatch(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            let item = try await enqueue(work, environment, metadata: ["keep": "1", "gone": "2", "change": "3"])
            let patched = try await work.call(WorkMetadata(environmentID: environment, workID: item.id, patch: ["gone": nil, "change": "new \"quoted\" / ünï", "added": ""]))
            #expect(patched.metadata == ["keep": "1", "change": "new \"quoted\" / ünï", "added": ""])
            let emptied = try await work.call(WorkMetadata(environmentID: environment, workID: item.id, patch: ["keep": nil, "change": nil, "added": nil]))
            #expect(emptied.metadata.isEmpty)
            #expect(await refusal { () async throws(StoreError) in _ = try await work.call(WorkMetadata(environmentID: environment, workID: ids.next(.work), patch: [:])) } == .workNotFound)
        }
    }
}

