import Foundation
import Synchronization
import HTTPTypes
import LessorTestSupport
import RedisServerHarness
import Testing

/// A keyed environment create takes steps on two slots (the key's reservation on the admin's
/// slot, then the environment on its own); a front node SIGKILLed between them leaves only the
/// reservation, and the client's retry through another node creates that environment, once.
/// The steps are held apart for real: every cluster node but the reservation's has its writes
/// paused, so the node is caught after the first step.
@Suite("An idempotent create whose node dies between its steps", .timeLimit(.minutes(2)))
struct IdempotentCreateTests {
    @Test func theRetryCreatesTheReservedEnvironmentOnce() async throws {
        try await withRedisCluster { cluster in
            // The node that holds the admin's reservations.
            try await cluster.cli("SET", "lessor:{admin}:probe", "1")
            var owner: RedisServerProcess?
            for node in cluster.nodes where try await node.cli("EXISTS", "lessor:{admin}:probe") == "1" { owner = node }
            let reservations = try #require(owner)
            try await cluster.cli("DEL", "lessor:{admin}:probe")

            try await withReplicas(2, on: cluster, settings: ["LESSOR_REDIS_COMMAND_TIMEOUT_MS": "20000"]) { replicas in
                let key = HTTPField.Name("Idempotency-Key")!
                let body = #"{"name":"dies-between-steps"}"#
                let paused = cluster.nodes.filter { $0.port != reservations.port }
                for node in paused { try await node.cli("CLIENT", "PAUSE", "30000", "WRITE") }
                // Creates until one hangs after its reservation (one whose environment, or the
                // registry, is on a paused node: two chances in three each time).
                let pattern = "lessor:{admin}:reservation:*"
                var caught: String?
                for attempt in 0..<12 where caught == nil {
                    let text = "create-\(attempt)"
                    let before = try await reservations.cli("--scan", "--pattern", pattern).split(separator: "\n").count
                    let finished = Flag()
                    Task {
                        defer { finished.set() }
                        _ = try await replicas[0].client.call(.post, "/api/v1/cloud/environments", headers: [key: text], body: body)
                    }
                    for _ in 0..<40 where !finished.isSet {
                        try await Task.sleep(for: .milliseconds(50))
                        guard try await reservations.cli("--scan", "--pattern", pattern).split(separator: "\n").count > before else { continue }
                        try await Task.sleep(for: .milliseconds(300))
                        if !finished.isSet { caught = text }
                        break
                    }
                }
                let text = try #require(caught, "no create was caught between its steps")
                var reserved: [String] = []
                for name in try await reservations.cli("--scan", "--pattern", pattern).split(separator: "\n") {
                    reserved.append(try await reservations.cli("HGET", String(name), "id"))
                }
                var pending: [String] = []
                for id in reserved where try await cluster.cli("EXISTS", "lessor:{\(id)}:env") == "0" { pending.append(id) }
                #expect(pending.count == 1, "only the caught create is between its steps: \(pending)")

                // The node dies between the steps; the cluster's writes resume; the client
                // retries through the other node.
                replicas[0].process.signal(SIGKILL)
                _ = replicas[0].process.exitStatus()
                for node in paused { try await node.cli("CLIENT", "UNPAUSE") }
                let retried = try await replicas[1].client.call(.post, "/api/v1/cloud/environments", headers: [key: text], body: body)
                #expect(retried.status == .created, "\(retried.raw)")
                #expect(retried["id"] as? String == pending.first, "the retry created the id the dead node reserved")
                let again = try await replicas[1].client.call(.post, "/api/v1/cloud/environments", headers: [key: text], body: body)
                #expect(again["id"] as? String == pending.first)
                #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
                let listed = try await replicas[1].client.call(.get, "/api/v1/cloud/environments?limit=100")
                let all = (listed["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                #expect(all.sorted() == reserved.sorted(), "one environment per key, each the one its key reserved")
            }
        }
    }
}

/// Set once, read from anywhere.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
