import Foundation
import HTTPTypes
import LessorCore
import LessorRedis
import RedisServerHarness
import Synchronization
import LessorTestSupport
import Testing

/// Moving a busy environment's hash slot to another node while its workers heartbeat.
@Suite("Resharding a busy environment on a real Redis Cluster", .timeLimit(.minutes(2)))
struct ClusterReshardTests {
    typealias Client = APIClient
    static let workerID = HTTPField.Name("Worker-ID")!

    /// What the heartbeat loops share with the test.
    final class Progress: Sendable {
        let migrated = Atomic<Bool>(false)
        let beats = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let acknowledged = Mutex<[String: String]>([:])
    }

    @Test func aSlotMigratedMidHeartbeatLoopFailsNoRequestAndLosesNoState() async throws {
        try await withRedisCluster { cluster in
            // A call waits out a migrating slot for at most the command timeout (docs/scaling.md: Scaling
            // out); 5 s instead of 2, so that a machine slowed by the rest of the suite does not
            // turn the mechanism under test into a race against the clock.
            try await withRoutes(on: cluster, commandTimeout: .seconds(5)) { client in
                let env = try await createEnvironment(client)
                let base = "/api/v1/cloud/environments/\(env)/work"
                var items: [String] = []
                for _ in 0..<24 {
                    let created = try await client.call(.post, base, body: "{}")
                    let id = try #require(created["id"] as? String)
                    #expect(try await client.call(.post, "\(base)/\(id)/ack", headers: [Self.workerID: "w"]).status == .ok)
                    items.append(id)
                }
                let slot = HashSlot.of(KeySpace(namespace: "lessor").environment(env))
                let (source, _) = try await cluster.owner(ofSlot: slot)
                let target = try #require(cluster.nodes.first { $0 !== source })

                // Four workers, six items each, each heartbeat a compare-and-set on the last one.
                let progress = Progress()
                let shared = items
                async let loops: Void = withThrowingTaskGroup(of: Void.self) { group in
                    for share in 0..<4 {
                        let mine = Array(shared[(share * 6)..<(share * 6 + 6)])
                        group.addTask {
                            var last = [String: String](uniqueKeysWithValues: mine.map { ($0, "NO_HEARTBEAT") })
                            var round = 0
                            // Bounded: until the migration is over and 20 more rounds, at most 400 rounds.
                            var roundsAfter = 0
                            while roundsAfter < 20, round < 400 {
                                round += 1
                                if progress.migrated.load(ordering: .acquiring) { roundsAfter += 1 }
                                for id in mine {
                                    let reply = try await client.call(
                                        .post, "\(base)/\(id)/heartbeat?expected_last_heartbeat=\(last[id]!)", headers: [Self.workerID: "w"])
                                    guard reply.status == .ok, let beat = reply["last_heartbeat"] as? String else {
                                        progress.failures.withLock { $0.append("\(id): \(reply.status.code) \(reply.raw)") }
                                        continue
                                    }
                                    last[id] = beat
                                    progress.beats.add(1, ordering: .relaxed)
                                }
                            }
                            progress.acknowledged.withLock { all in for (id, beat) in last { all[id] = beat } }
                        }
                    }
                    try await group.waitForAll()
                }
                try await Task.sleep(for: .milliseconds(300))
                let beatsBefore = progress.beats.load(ordering: .relaxed)
                let moved = try await cluster.migrate(slot: slot, to: target, batch: 4, pause: .milliseconds(25))
                let beatsDuring = progress.beats.load(ordering: .relaxed) - beatsBefore
                progress.migrated.store(true, ordering: .releasing)
                try await loops

                #expect(progress.failures.withLock { $0 } == [], "no heartbeat may fail while the slot moves")
                #expect(moved >= items.count * 2 + 3, "item hashes, leases, the environment and its sets all moved (\(moved) keys)")
                #expect(beatsDuring > 0, "heartbeats went on during the migration")
                #expect(try await source.cli("CLUSTER", "COUNTKEYSINSLOT", String(slot)) == "0")
                // Nothing lost: each item holds exactly its last acknowledged heartbeat and its lease.
                let last = progress.acknowledged.withLock { $0 }
                for id in items {
                    let item = try await client.call(.get, "\(base)/\(id)")
                    #expect(item["latest_heartbeat_at"] as? String == last[id], "\(id)")
                    #expect(item["state"] as? String == "active")
                    #expect(item["fencing_token"] as? Int == 1)
                    #expect(Int(try await target.cli("PTTL", "lessor:{\(env)}:lease:\(id)")) ?? 0 > 0)
                }
                let stats = try await client.call(.get, "\(base)/stats")
                #expect(stats["depth"] as? Int == 0)
                let listed = try await client.call(.get, "\(base)?limit=100")
                #expect((listed["data"] as? [Any])?.count == items.count)
            }
        }
    }
}
