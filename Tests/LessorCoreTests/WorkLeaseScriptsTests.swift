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
    func withEnvironment(_ backend: RedisBackend, _ body: (any RedisDeployment, WorkLeaseScripts, String) async throws -> Void) async throws {
        try await withRedis(backend) { server in
            let redis = try RedisClient(configuration: try LessorConfiguration(server.lessorSettings).redis)
            defer { redis.shutDown() }
            let work = WorkLeaseScripts(redis: redis, keys: KeySpace(namespace: "lessor"))
            let environment = ids.next(.environment)
            _ = try await work.createEnvironment(id: environment, name: "byoc", description: "", kind: .selfHosted)
            try await body(server, work, environment)
        }
    }

    func enqueue(_ work: WorkLeaseScripts, _ environment: String, metadata: [String: String] = [:]) async throws -> WorkItem {
        try await work.enqueue(environmentID: environment, workID: ids.next(.work), dataType: "session", sessionID: ids.next(.session), metadata: metadata)
    }

    func refusal(_ body: () async throws(WorkError) -> Void) async -> WorkRefusal? {
        do throws(WorkError) {
            try await body()
            return nil
        } catch {
            if case .refused(let refusal) = error { return refusal }
            Issue.record("not a refusal: \(error)")
            return nil
        }
    }

    @Test func luaScriptsAreAssembledAndEmbeddedByteForByte() async throws {
        let check = try ChildProcess(["bash", Self.repository.appendingPathComponent("lua/assemble.sh").path, "--check"])
        #expect(try await offCooperativePool { check.waitForExit(within: 30) } == 0, "lua/*.lua are stale: run bash lua/assemble.sh")
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.repository.appendingPathComponent("lua").path)
            .filter { $0.hasSuffix(".lua") }
        #expect(Set(files.map { String($0.dropLast(4)) }) == Set(LuaScripts.embedded.all.keys))
        try await withRedisServer { server in
            for file in files {
                let source = try String(contentsOf: Self.repository.appendingPathComponent("lua/\(file)"), encoding: .utf8)
                let embedded = try #require(LuaScripts.embedded.all[String(file.dropLast(4))])
                #expect(embedded.source == source)
                #expect(try await server.cli("SCRIPT", "LOAD", source) == embedded.sha1, "\(file)")
            }
        }
    }

    @Test(arguments: RedisBackend.allCases) func environmentsAreCheckedFirst(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, _ in
            let missing = ids.next(.environment)
            #expect(await refusal { () async throws(WorkError) in _ = try await work.poll(environmentID: missing, workerID: nil, reclaimMilliseconds: 5000) } == .environmentNotFound)
            let cloud = ids.next(.environment)
            _ = try await work.createEnvironment(id: cloud, name: "c", description: "", kind: .cloud)
            #expect(await refusal { () async throws(WorkError) in _ = try await work.get(environmentID: cloud, workID: ids.next(.work)) } == .environmentNotSelfHosted("cloud"))
            #expect(try await work.environmentIDs().contains(cloud))
            // The heartbeat reads the environment only when the item is missing: same answers.
            #expect(await refusal { () async throws(WorkError) in _ = try await work.heartbeat(environmentID: missing, workID: ids.next(.work), workerID: nil, expected: nil, ttlSeconds: 60) } == .environmentNotFound)
            #expect(await refusal { () async throws(WorkError) in _ = try await work.heartbeat(environmentID: cloud, workID: ids.next(.work), workerID: nil, expected: nil, ttlSeconds: 60) } == .environmentNotSelfHosted("cloud"))
        }
    }

    @Test(arguments: RedisBackend.allCases) func pollAckHeartbeatChain(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { server, work, environment in
            let created = try await enqueue(work, environment, metadata: ["team": "infra"])
            #expect(created.state == .queued)
            #expect(created.fencingToken == 0)
            #expect(created.metadata == ["team": "infra"])
            let delivered = try #require(try await work.poll(environmentID: environment, workerID: "w1", reclaimMilliseconds: 5000))
            #expect(delivered.id == created.id)
            #expect(delivered.state == .queued)
            #expect(try await work.poll(environmentID: environment, workerID: "w2", reclaimMilliseconds: 5000) == nil)

            #expect(await refusal { () async throws(WorkError) in _ = try await work.heartbeat(environmentID: environment, workID: created.id, workerID: "w1", expected: nil, ttlSeconds: 60) } == .conflict("queued"))
            #expect(await refusal { () async throws(WorkError) in _ = try await work.ack(environmentID: environment, workID: created.id, workerID: "w2", ttlSeconds: 60) } == .conflict("delivered_to_another_worker"))
            let acked = try await work.ack(environmentID: environment, workID: created.id, workerID: "w1", ttlSeconds: 60)
            #expect(acked.state == .starting)
            #expect(acked.fencingToken == 1)
            #expect(acked.workerID == "w1")
            var retried = try await work.ack(environmentID: environment, workID: created.id, workerID: "w1", ttlSeconds: 60)
            retried.leaseRemainingMilliseconds = acked.leaseRemainingMilliseconds
            #expect(retried == acked, "a retry by the same worker changes nothing")

            var last = try await work.heartbeat(environmentID: environment, workID: created.id, workerID: "w1", expected: ExpectedLastHeartbeat.none, ttlSeconds: 30)
            #expect(last.state == .active)
            #expect(last.leaseExtended)
            #expect(last.fencingToken == 1)
            #expect(last.ttlSeconds == 30)
            let ttl = Int(try await server.cli("TTL", KeySpace(namespace: "lessor").lease(environment, created.id))) ?? 0
            #expect((29...30).contains(ttl))
            for _ in 0..<20 {
                let next = try await work.heartbeat(environmentID: environment, workID: created.id, workerID: "w1", expected: .at(Timestamp(rfc3339: last.lastHeartbeat)!), ttlSeconds: 60)
                #expect(Timestamp(rfc3339: next.lastHeartbeat)! > Timestamp(rfc3339: last.lastHeartbeat)!)
                last = next
            }
            #expect(await refusal { () async throws(WorkError) in _ = try await work.heartbeat(environmentID: environment, workID: created.id, workerID: nil, expected: ExpectedLastHeartbeat.none, ttlSeconds: 60) } == .preconditionFailed("last_heartbeat_mismatch"))
            #expect(await refusal { () async throws(WorkError) in _ = try await work.heartbeat(environmentID: environment, workID: created.id, workerID: "w2", expected: nil, ttlSeconds: 60) } == .preconditionFailed("held_by_another_worker"))
            // The same instant written with an offset matches.
            let instant = Timestamp(rfc3339: last.lastHeartbeat)!
            let shifted = Timestamp(microseconds: instant.microseconds + 3_600_000_000).rfc3339.replacingOccurrences(of: "Z", with: "+01:00")
            _ = try await work.heartbeat(environmentID: environment, workID: created.id, workerID: "w1", expected: .at(Timestamp(rfc3339: shifted)!), ttlSeconds: 60)
            let item = try await work.get(environmentID: environment, workID: created.id)
            #expect(item.state == .active)
            #expect(item.startedAt != nil)
            #expect(item.leaseRemainingMilliseconds > 50_000)
        }
    }

    @Test(arguments: RedisBackend.allCases) func aHeartbeatIsStrictlyLaterThanTheStoredOneEvenWhenTheClockIsBehind(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { server, work, environment in
            let created = try await enqueue(work, environment)
            _ = try await work.ack(environmentID: environment, workID: created.id, workerID: "w", ttlSeconds: 60)
            // A stored heartbeat ahead of Redis's clock (a clock step back, a restored backup):
            // the next one is 1 µs after it, never equal or earlier.
            let key = KeySpace(namespace: "lessor").item(environment, created.id)
            try await server.cli("HSET", key, "state", "active", "latest_heartbeat_at", "2100-12-31T23:59:59.999999Z")
            let beat = try await work.heartbeat(environmentID: environment, workID: created.id, workerID: "w", expected: nil, ttlSeconds: 60)
            #expect(beat.lastHeartbeat == "2101-01-01T00:00:00.000000Z")
            let next = try await work.heartbeat(environmentID: environment, workID: created.id, workerID: "w", expected: nil, ttlSeconds: 60)
            #expect(next.lastHeartbeat == "2101-01-01T00:00:00.000001Z")
        }
    }

    @Test(arguments: RedisBackend.allCases) func sixteenConcurrentHeartbeatsWithOneExpectationLetExactlyOneThrough(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            let item = try await enqueue(work, environment)
            _ = try await work.ack(environmentID: environment, workID: item.id, workerID: nil, ttlSeconds: 60)
            let first = try await work.heartbeat(environmentID: environment, workID: item.id, workerID: nil, expected: ExpectedLastHeartbeat.none, ttlSeconds: 60)
            let expected = ExpectedLastHeartbeat.at(Timestamp(rfc3339: first.lastHeartbeat)!)
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        (try? await work.heartbeat(environmentID: environment, workID: item.id, workerID: nil, expected: expected, ttlSeconds: 60)) != nil
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
            _ = try await work.poll(environmentID: environment, workerID: "old", reclaimMilliseconds: 5000)
            _ = try await work.ack(environmentID: environment, workID: leased.id, workerID: "old", ttlSeconds: 1)
            let beat = try await work.heartbeat(environmentID: environment, workID: leased.id, workerID: "old", expected: ExpectedLastHeartbeat.none, ttlSeconds: 1)
            try await Task.sleep(for: .milliseconds(1300))
            // Lapsed but not reaped yet: the holder may still revive it.
            let revived = try await work.heartbeat(environmentID: environment, workID: leased.id, workerID: "old", expected: .at(Timestamp(rfc3339: beat.lastHeartbeat)!), ttlSeconds: 1)
            #expect(!revived.leaseExtended)
            try await Task.sleep(for: .milliseconds(1300))
            let reaped = try await work.reap(environmentID: environment, batch: 100)
            #expect(reaped.reaped == 1)
            let requeued = try await work.get(environmentID: environment, workID: leased.id)
            #expect(requeued.state == .queued)
            #expect(requeued.workerID == nil)
            #expect(requeued.latestHeartbeatAt == nil)
            #expect(requeued.acknowledgedAt == nil)
            #expect(requeued.leaseExpiresAt == nil)
            #expect(requeued.fencingToken == 1)
            #expect(try await server.cli("EXISTS", KeySpace(namespace: "lessor").lease(environment, leased.id)) == "0")

            #expect(await refusal { () async throws(WorkError) in _ = try await work.heartbeat(environmentID: environment, workID: leased.id, workerID: "old", expected: .at(Timestamp(rfc3339: revived.lastHeartbeat)!), ttlSeconds: 60) } == .conflict("queued"))
            let redelivered = try await work.poll(environmentID: environment, workerID: "new", reclaimMilliseconds: 5000)
            #expect(redelivered?.id == leased.id, "redelivered before the never-delivered \(fresh.id)")
            let taken = try await work.ack(environmentID: environment, workID: leased.id, workerID: "new", ttlSeconds: 60)
            #expect(taken.fencingToken == 2)
            #expect(await refusal { () async throws(WorkError) in _ = try await work.heartbeat(environmentID: environment, workID: leased.id, workerID: "old", expected: .at(Timestamp(rfc3339: revived.lastHeartbeat)!), ttlSeconds: 60) } == .preconditionFailed("held_by_another_worker"))
            #expect(await refusal { () async throws(WorkError) in _ = try await work.heartbeat(environmentID: environment, workID: leased.id, workerID: nil, expected: .at(Timestamp(rfc3339: revived.lastHeartbeat)!), ttlSeconds: 60) } == .preconditionFailed("last_heartbeat_mismatch"))
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
            _ = try await work.ack(environmentID: environment, workID: item.id, workerID: "w", ttlSeconds: 60)
            let acked = try await recordedDeadline(item.id)
            #expect(abs(acked - (try await redisMilliseconds() + 60_000)) < 1_000)

            _ = try await work.heartbeat(environmentID: environment, workID: item.id, workerID: "w", expected: nil, ttlSeconds: 120)
            #expect(try await recordedDeadline(item.id) == acked, "a longer lease leaves the lower bound alone")
            #expect((119...120).contains(Int(try await server.cli("TTL", keys.lease(environment, item.id))) ?? 0))

            _ = try await work.heartbeat(environmentID: environment, workID: item.id, workerID: "w", expected: nil, ttlSeconds: 2)
            let shortened = try await recordedDeadline(item.id)
            #expect(abs(shortened - (try await redisMilliseconds() + 2_000)) < 1_000, "a shorter lease moves the deadline earlier")
            _ = try await work.heartbeat(environmentID: environment, workID: item.id, workerID: "w", expected: nil, ttlSeconds: 60)
            #expect(try await recordedDeadline(item.id) == shortened)

            try await Task.sleep(for: .milliseconds(2_300))
            let sweep = try await work.reap(environmentID: environment, batch: 100)
            #expect(sweep.reaped == 0, "the lease key lives: nothing lapsed")
            #expect(try await work.get(environmentID: environment, workID: item.id).state == .active)
            let corrected = try await recordedDeadline(item.id)
            let pttl = Int(try await server.cli("PTTL", keys.lease(environment, item.id))) ?? 0
            #expect(abs(corrected - (try await redisMilliseconds() + pttl)) < 1_000, "re-scored from the lease key")
        }
    }

    @Test(arguments: RedisBackend.allCases) func unacknowledgedDeliveriesAreReclaimedAfterTheWindow(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            let item = try await enqueue(work, environment)
            _ = try await work.poll(environmentID: environment, workerID: "a", reclaimMilliseconds: 5000)
            #expect(try await work.poll(environmentID: environment, workerID: "b", reclaimMilliseconds: 5000) == nil)
            let stats = try await work.stats(environmentID: environment)
            #expect(stats.depth == 0)
            #expect(stats.pending == 1)
            #expect(stats.workersPolling == 2)
            #expect(stats.oldestQueuedAt == item.createdAt)
            let reclaimed = try await work.poll(environmentID: environment, workerID: "b", reclaimMilliseconds: 0)
            #expect(reclaimed?.id == item.id)
            _ = try await work.ack(environmentID: environment, workID: item.id, workerID: "b", ttlSeconds: 60)
            let after = try await work.stats(environmentID: environment)
            #expect(after.depth == 0 && after.pending == 0 && after.oldestQueuedAt == nil)
        }
    }

    @Test(arguments: RedisBackend.allCases) func gracefulAndForcedStops(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { server, work, environment in
            let queued = try await enqueue(work, environment)
            #expect(try await work.stop(environmentID: environment, workID: queued.id, force: false).state == .stopped)
            let active = try await enqueue(work, environment)
            _ = try await work.ack(environmentID: environment, workID: active.id, workerID: "w", ttlSeconds: 60)
            let stopping = try await work.stop(environmentID: environment, workID: active.id, force: false)
            #expect(stopping.state == .stopping)
            #expect(stopping.stopRequestedAt != nil)
            #expect(await refusal { () async throws(WorkError) in _ = try await work.ack(environmentID: environment, workID: active.id, workerID: "w", ttlSeconds: 60) } == .conflict("stopping"))
            // A stopping item still heartbeats; its lease is kept until it stops.
            #expect(try await work.heartbeat(environmentID: environment, workID: active.id, workerID: "w", expected: nil, ttlSeconds: 60).state == .stopping)
            let stopped = try await work.stop(environmentID: environment, workID: active.id, force: false)
            #expect(stopped.state == .stopped)
            #expect(stopped.stoppedAt != nil)
            #expect(try await server.cli("EXISTS", KeySpace(namespace: "lessor").lease(environment, active.id)) == "0")
            #expect(try await work.stop(environmentID: environment, workID: active.id, force: true) == stopped)
            #expect(await refusal { () async throws(WorkError) in _ = try await work.heartbeat(environmentID: environment, workID: active.id, workerID: "w", expected: nil, ttlSeconds: 60) } == .conflict("stopped"))
            let forced = try await enqueue(work, environment)
            _ = try await work.ack(environmentID: environment, workID: forced.id, workerID: "w", ttlSeconds: 60)
            #expect(try await work.stop(environmentID: environment, workID: forced.id, force: true).state == .stopped)
            let ttl = Int(try await server.cli("TTL", KeySpace(namespace: "lessor").item(environment, forced.id))) ?? 0
            #expect(ttl > 6 * 86_400, "stopped items expire after the retention period")
        }
    }

    @Test(arguments: RedisBackend.allCases) func aStoppingItemWhoseLeaseLapsesStops(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            let item = try await enqueue(work, environment)
            _ = try await work.ack(environmentID: environment, workID: item.id, workerID: "w", ttlSeconds: 1)
            _ = try await work.stop(environmentID: environment, workID: item.id, force: false)
            try await Task.sleep(for: .milliseconds(1300))
            _ = try await work.reap(environmentID: environment, batch: 10)
            #expect(try await work.get(environmentID: environment, workID: item.id).state == .stopped)
        }
    }

    @Test(arguments: RedisBackend.allCases) func listingPagesInIDOrder(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            var created: [String] = []
            for _ in 0..<5 { created.append(try await enqueue(work, environment).id) }
            let first = try await work.list(environmentID: environment, limit: 2, after: nil, before: nil)
            #expect(first.items.map(\.id) == Array(created[0..<2]))
            #expect(first.hasMore)
            let second = try await work.list(environmentID: environment, limit: 2, after: created[1], before: nil)
            #expect(second.items.map(\.id) == Array(created[2..<4]))
            let last = try await work.list(environmentID: environment, limit: 2, after: created[3], before: nil)
            #expect(last.items.map(\.id) == [created[4]])
            #expect(!last.hasMore)
            let before = try await work.list(environmentID: environment, limit: 2, after: nil, before: created[4])
            #expect(before.items.map(\.id) == Array(created[2..<4]))
            #expect(before.hasMore)
            let all = try await work.list(environmentID: environment, limit: 100, after: nil, before: nil)
            #expect(all.items.map(\.id) == created)
            #expect(!all.hasMore)
        }
    }

    @Test(arguments: RedisBackend.allCases) func metadataMergePatch(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend) { _, work, environment in
            let item = try await enqueue(work, environment, metadata: ["keep": "1", "gone": "2", "change": "3"])
            let patched = try await work.patchMetadata(environmentID: environment, workID: item.id, patch: ["gone": nil, "change": "new \"quoted\" / ünï", "added": ""])
            #expect(patched.metadata == ["keep": "1", "change": "new \"quoted\" / ünï", "added": ""])
            let emptied = try await work.patchMetadata(environmentID: environment, workID: item.id, patch: ["keep": nil, "change": nil, "added": nil])
            #expect(emptied.metadata.isEmpty)
            #expect(await refusal { () async throws(WorkError) in _ = try await work.patchMetadata(environmentID: environment, workID: ids.next(.work), patch: [:]) } == .workNotFound)
        }
    }
}
