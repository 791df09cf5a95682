import Foundation
import LessorCore
import LessorRedis
import RedisServerHarness
import Testing

/// Deliveries and lapses are counted, an environment's `max_lapses` turns an item that keeps
/// lapsing into a dead letter, and every stopped item says why it stopped — decided by the
/// library, against a real redis-server and a real Redis Cluster.
@Suite("Redeliveries counted and capped", .timeLimit(.minutes(2)))
struct RedeliveryTests {
    let ids = IdentifierGenerator()

    func withEnvironment(_ backend: RedisBackend, maxLapses: Int?, _ body: (LessorFunctions, String) async throws -> Void) async throws {
        try await withRedis(backend) { server in
            let redis = try RedisClient(configuration: server.clientConfiguration)
            defer { redis.shutDown() }
            let functions = LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor"))
            let environment = ids.next(.environment)
            let created = try await Environments(functions: functions).create(
                EnvironmentCreate(environmentID: environment, name: "e", description: nil, kind: .selfHosted, maxLapses: maxLapses))
            #expect(created.maxLapses == maxLapses)
            try await body(functions, environment)
        }
    }

    @Test(arguments: RedisBackend.allCases) func anItemThatLapsesMaxLapsesTimesIsStoppedNotRequeued(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend, maxLapses: 2) { functions, environment in
            let item = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            #expect((item.deliveryCount, item.lapseCount, item.stopReason) == (0, 0, nil))
            _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w1", leaseTTL: .seconds(60)))
            let first = try await functions.call(WorkExpireLease(environmentID: environment, workID: item.id))
            #expect((first.state, first.deliveryCount, first.lapseCount) == (.queued, 1, 1))
            _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w2", leaseTTL: .seconds(1)))
            try await Task.sleep(for: .milliseconds(1200))
            var dead = 0
            for _ in 0..<20 where dead == 0 {
                dead += try await functions.call(WorkReap(environmentID: environment, batch: 100)).deadLettered
                if dead == 0 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(dead == 1)
            let stopped = try await functions.call(WorkGet(environmentID: environment, workID: item.id))
            #expect((stopped.state, stopped.deliveryCount, stopped.lapseCount, stopped.stopReason) == (.stopped, 2, 2, .leaseLapsedTooOften))
            #expect(try await functions.call(WorkPoll(environmentID: environment, workerID: "w3")).item == nil, "a dead letter is not redelivered")
            let listed = try await functions.call(WorkList(environmentID: environment, limit: 10, state: .stopped, stopReason: .leaseLapsedTooOften))
            #expect(listed.items.map(\.id) == [item.id])
            #expect(try await functions.call(WorkList(environmentID: environment, limit: 10, state: .queued)).items.isEmpty)
        }
    }

    @Test(arguments: RedisBackend.allCases) func withoutMaxLapsesAnItemIsRequeuedAfterEveryLapse(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend, maxLapses: nil) { functions, environment in
            let item = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            for round in 1...3 {
                _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w\(round)", leaseTTL: .seconds(60)))
                let lapsed = try await functions.call(WorkExpireLease(environmentID: environment, workID: item.id))
                #expect((lapsed.state, lapsed.deliveryCount, lapsed.lapseCount) == (.queued, round, round))
            }
        }
    }

    /// The environment's lapse log, the oldest first.
    func lapseLog(_ functions: LessorFunctions, _ environment: String) async throws -> [WorkLapse] {
        let entries = try await functions.redis.send(RedisCommand("ZRANGE", key: functions.keys.environmentKeys(environment)[8], 0, -1), as: [String].self)
        let lapses = entries.compactMap(WorkLapse.init(logEntry:))
        #expect(lapses.count == entries.count, "\(entries)")
        return lapses
    }

    @Test(arguments: RedisBackend.allCases) func everyLapseIsLoggedWithItsHolderTokenAndOutcome(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend, maxLapses: 3) { functions, environment in
            let item = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            let stopping = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w1", leaseTTL: .seconds(60)))
            _ = try await functions.call(WorkExpireLease(environmentID: environment, workID: item.id))
            // The second lapse is the reaper's: a lease left to run out.
            _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w \"2\"", leaseTTL: .seconds(1)))
            try await Task.sleep(for: .milliseconds(1200))
            for _ in 0..<20 where try await lapseLog(functions, environment).count < 2 {
                _ = try await functions.call(WorkReap(environmentID: environment, batch: 100))
                try await Task.sleep(for: .milliseconds(100))
            }
            _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w3", leaseTTL: .seconds(60)))
            _ = try await functions.call(WorkExpireLease(environmentID: environment, workID: item.id))
            _ = try await functions.call(WorkAck(environmentID: environment, workID: stopping.id, workerID: "w4", leaseTTL: .seconds(60)))
            #expect(try await functions.call(WorkStop(environmentID: environment, workID: stopping.id, force: false)).state == .stopping)
            _ = try await functions.call(WorkExpireLease(environmentID: environment, workID: stopping.id))

            let log = try await lapseLog(functions, environment)
            #expect(log.map(\.workID) == [item.id, item.id, item.id, stopping.id])
            #expect(log.map(\.workerID) == ["w1", "w \"2\"", "w3", "w4"])
            #expect(log.map(\.fencingToken) == [1, 2, 3, 1])
            #expect(log.map(\.lapseCount) == [1, 2, 3, 1])
            #expect(log.map(\.outcome) == [.requeued, .requeued, .deadLettered, .stopped])
            // Stamped on Redis's clock, in order.
            let time = try await functions.redis.send(RedisCommand("TIME"), as: [String].self)
            let now = Timestamp(microseconds: try #require(Int64(time[0])) * 1_000_000)
            #expect(log.map(\.at) == log.map(\.at).sorted())
            #expect(log[0].at > Timestamp(microseconds: now.microseconds - 60_000_000) && log[3].at <= Timestamp(microseconds: now.microseconds + 1_000_000))
            // The log lives as long as stopped items are kept.
            let ttl = try await functions.redis.send(RedisCommand("PTTL", key: functions.keys.environmentKeys(environment)[8]), as: Int.self)
            #expect(ttl > 0 && ttl <= Int(WorkItem.defaultRetention / .milliseconds(1)))
        }
    }

    @Test(arguments: RedisBackend.allCases) func theLapseLogKeepsTheLast100(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend, maxLapses: nil) { functions, environment in
            let item = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            for round in 1...105 {
                _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w\(round)", leaseTTL: .seconds(60)))
                _ = try await functions.call(WorkExpireLease(environmentID: environment, workID: item.id))
            }
            let log = try await lapseLog(functions, environment)
            #expect(log.map(\.lapseCount) == Array(6...105))
            #expect(log.last?.workerID == "w105" && log.last?.fencingToken == 105)

            // One reap call that handles 120 lapses trims the log once, to its last 100.
            var batch: Set<String> = []
            for _ in 0..<120 {
                let other = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
                _ = try await functions.call(WorkAck(environmentID: environment, workID: other.id, workerID: "batch", leaseTTL: .seconds(1)))
                batch.insert(other.id)
            }
            try await Task.sleep(for: .milliseconds(1200))
            var reaped = 0
            for _ in 0..<20 where reaped < 120 {
                reaped += try await functions.call(WorkReap(environmentID: environment, batch: 1000)).reaped
                if reaped < 120 { try await Task.sleep(for: .milliseconds(100)) }
            }
            let trimmed = try await lapseLog(functions, environment)
            #expect(reaped == 120 && trimmed.count == 100 && trimmed.allSatisfy { batch.contains($0.workID) && $0.workerID == "batch" })
        }
    }

    @Test(arguments: RedisBackend.allCases) func everyStoppedItemSaysWhy(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend, maxLapses: nil) { functions, environment in
            func leased(_ worker: String) async throws -> String {
                let item = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
                _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: worker, leaseTTL: .seconds(60)))
                return item.id
            }
            func stop(_ id: String, force: Bool = false, by worker: String? = nil) async throws -> WorkItem {
                try await functions.call(WorkStop(environmentID: environment, workID: id, force: force, workerID: worker))
            }
            // The holder's own graceful stop: done, no draining.
            let done = try await leased("w")
            #expect(try await stop(done, by: "w").stopReason == .completed)
            // Anyone else's graceful stop: the holder drains (stopping), then a second stop ends it.
            let asked = try await leased("w")
            let draining = try await stop(asked, by: "someone")
            #expect((draining.state, draining.stopReason) == (.stopping, nil))
            #expect(try await stop(asked).stopReason == .stoppedByRequest)
            // The holder ending its drain: completed.
            let drained = try await leased("w")
            _ = try await stop(drained)
            #expect(try await stop(drained, by: "w").stopReason == .completed)
            #expect(try await stop(try await leased("w"), force: true, by: "w").stopReason == .forced)
            let queued = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            #expect(try await stop(queued.id, by: "w").stopReason == .stoppedByRequest)
            // A stopping item whose lease lapses.
            let abandoned = try await leased("w")
            _ = try await stop(abandoned)
            let lapsed = try await functions.call(WorkExpireLease(environmentID: environment, workID: abandoned))
            #expect((lapsed.stopReason, lapsed.lapseCount) == (.lapsedWhileStopping, 1))
        }
    }

    @Test(arguments: RedisBackend.allCases) func maxLapsesIsSetAndCleared(_ backend: RedisBackend) async throws {
        try await withEnvironment(backend, maxLapses: 5) { functions, environment in
            let set = try await functions.call(EnvironmentUpdate(environmentID: environment, maxLapses: .set(1)))
            #expect(set.maxLapses == 1)
            let renamed = try await functions.call(EnvironmentUpdate(environmentID: environment, name: "x"))
            #expect(renamed.maxLapses == 1, "unchanged when not named")
            let cleared = try await functions.call(EnvironmentUpdate(environmentID: environment, maxLapses: .clear))
            #expect(cleared.maxLapses == nil)
        }
    }
}
