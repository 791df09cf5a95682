import AsyncHTTPClient
import Foundation
import HTTPTypes
import LessorTestSupport
import NIOCore
import NIOHTTP1
import RedisServerHarness
import Synchronization
import Testing

/// Workers behind a load balancer that loses answers (``FaultProxy``: a reset or silence after
/// the request ran) while Lessor's Redis connections are killed under it (`CLIENT KILL`, so
/// calls end 503 with their outcome unknown). Workers that retry every write with its
/// idempotency key keep every chain: no 412 or 409 of their own, no item acked twice, no
/// enqueue applied twice, every item completed. The same run without keys shows the 412s, so
/// the test proves the mechanism, not luck.
@Suite("Retrying through lost answers and killed Redis connections", .timeLimit(.minutes(3)))
struct FaultInjectionTests {
    /// What one run saw.
    struct Tally: Sendable, CustomStringConvertible {
        var requests = 0
        var lost = 0
        var unavailable = 0
        var replayed = 0
        /// 412s and 409s on a worker's own chain (its ack, its heartbeats, its stop).
        var ownRefusals = 0
        var description: String {
            "\(requests) requests, \(lost) answers lost, \(unavailable) 503s, \(replayed) replayed, \(ownRefusals) 412/409 on own chains"
        }
    }

    static let items = 24
    static let workers = 4
    static let beats = 4

    @Test func keyedRetriesKeepEveryChainAndKeylessOnesDoNot() async throws {
        try await withRedisServer { server in
            try await withReplicas(2, on: server) { replicas in
                let proxy = try FaultProxy(targets: replicas.map(\.port), dropFraction: 0.2, seed: 14)
                defer { proxy.close() }
                let admin = replicas[0].client

                // With keys, while every 300 ms Lessor's Redis connections are killed, with the
                // writes paused first so that calls are caught in flight (503, outcome unknown).
                let killing = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(300))
                        _ = try? await server.cli("CLIENT", "PAUSE", "200", "WRITE")
                        try? await Task.sleep(for: .milliseconds(60))
                        _ = try? await server.cli("CLIENT", "KILL", "TYPE", "normal")
                    }
                }
                let keyedEnv = try await createEnvironment(admin)
                let keyed = try await run(env: keyedEnv, proxy: proxy, admin: admin, keys: true)
                killing.cancel()
                await killing.value
                try await Task.sleep(for: .milliseconds(300))  // past the last pause
                let keyedCounts = proxy.counts
                print("fault injection, with keys: \(keyed); proxy: \(keyedCounts)")
                #expect(keyed.ownRefusals == 0, "\(keyed)")
                #expect(keyed.lost > 0 && keyed.replayed > 0 && keyed.unavailable > 0, "the faults happened: \(keyed)")
                let items = try await allItems(keyedEnv, admin)
                #expect(items.count == Self.items, "every enqueue applied once")
                for item in items {
                    #expect(item["state"] as? String == "stopped" && item["stop_reason"] as? String == "completed", "\(item)")
                    #expect(item["delivery_count"] as? Int == 1 && item["fencing_token"] as? Int == 1, "acked once: \(item)")
                    #expect(item["lapse_count"] as? Int == 0, "\(item)")
                }

                // Without keys, the same faults (no connection kills: the answers alone suffice).
                let keylessEnv = try await createEnvironment(admin)
                let keyless = try await run(env: keylessEnv, proxy: proxy, admin: admin, keys: false)
                let keylessItems = try await allItems(keylessEnv, admin)
                print("fault injection, without keys: \(keyless); \(keylessItems.count) items for \(Self.items) enqueues")
                #expect(keyless.ownRefusals > 0, "without keys a retried heartbeat meets 412: \(keyless)")
            }
        }
    }

    /// Enqueues ``items`` items and works them with ``workers`` workers through the proxy: poll,
    /// ack, ``beats`` chained heartbeats, a stop by the holder. Every write is retried (lost
    /// answer, 503) until it is answered; with `keys`, each write has one key for all its tries.
    func run(env: String, proxy: FaultProxy, admin: APIClient, keys: Bool) async throws -> Tally {
        let base = "/api/v1/cloud/environments/\(env)/work"
        let client = ProxiedClient(port: proxy.port, keys: keys)
        for index in 0..<Self.items {
            _ = try await client.send(.POST, base, body: #"{"metadata":{"n":"\#(index)"}}"#)
        }
        let deadline = ContinuousClock.now + .seconds(90)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<Self.workers {
                group.addTask {
                    let me = "worker-\(worker)"
                    while ContinuousClock.now < deadline {
                        let polled = try await client.send(.GET, "\(base)/poll", worker: me)
                        guard let item = polled.json["id"] as? String else {
                            // Nothing to deliver: done once nothing is left to work (an item
                            // whose poll answer was lost is redelivered after 5 s).
                            if try await remaining(env, admin) == 0 { return }
                            try await Task.sleep(for: .milliseconds(100))
                            continue
                        }
                        try await work(item, base: base, worker: me, client: client, admin: admin)
                    }
                    Issue.record("\(me) ran out of time")
                }
            }
            try await group.waitForAll()
        }
        return client.tally
    }

    /// One item's life by its worker; a refusal on its own chain is counted, and the item is then
    /// force-stopped by the admin so the run can end.
    func work(_ item: String, base: String, worker: String, client: ProxiedClient, admin: APIClient) async throws {
        let ack = try await client.send(.POST, "\(base)/\(item)/ack", worker: worker)
        guard ack.status == .ok else {
            client.refused()
            return
        }
        var last = "NO_HEARTBEAT"
        for _ in 0..<Self.beats {
            let beat = try await client.send(.POST, "\(base)/\(item)/heartbeat?expected_last_heartbeat=\(last)", worker: worker)
            guard beat.status == .ok, let next = beat.json["last_heartbeat"] as? String else {
                client.refused()
                _ = try await admin.call(.post, "\(base)/\(item)/stop", body: #"{"force":true}"#)
                return
            }
            last = next
        }
        let stop = try await client.send(.POST, "\(base)/\(item)/stop", worker: worker, body: "{}")
        if stop.json["stop_reason"] as? String != "completed" { client.refused() }
    }

    /// Items not yet stopped, read past the proxy.
    func remaining(_ env: String, _ admin: APIClient) async throws -> Int {
        try await allItems(env, admin).filter { $0["state"] as? String != "stopped" }.count
    }

    /// Every item, read past the proxy (again after a 503 of a killed connection).
    func allItems(_ env: String, _ admin: APIClient) async throws -> [[String: Any]] {
        for _ in 0..<50 {
            let page = try await admin.call(.get, "/api/v1/cloud/environments/\(env)/work?limit=100")
            if page.status == .ok, let items = page["data"] as? [[String: Any]] { return items }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CancellationError()
    }
}

/// A client that reaches Lessor through the proxy, one connection per request, and retries a
/// request until it is answered (not lost, not 503), with the same idempotency key each time.
final class ProxiedClient: Sendable {
    let port: Int
    let keys: Bool
    private let counts = Mutex(FaultInjectionTests.Tally())

    init(port: Int, keys: Bool) {
        self.port = port
        self.keys = keys
    }

    var tally: FaultInjectionTests.Tally { counts.withLock { $0 } }

    func refused() {
        counts.withLock { $0.ownRefusals += 1 }
    }

    func send(_ method: HTTPMethod, _ path: String, worker: String? = nil, body: String? = nil) async throws -> APIReply {
        let key = UUID().uuidString
        for _ in 0..<100 {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(testAdminToken)")
            request.headers.add(name: "Connection", value: "close")
            if let worker { request.headers.add(name: "Worker-ID", value: worker) }
            if keys, method == .POST { request.headers.add(name: "Idempotency-Key", value: key) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            counts.withLock { $0.requests += 1 }
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(800))
                let bytes = try await response.body.collect(upTo: 1 << 20)
                if response.status == .serviceUnavailable {
                    counts.withLock { $0.unavailable += 1 }
                    try await Task.sleep(for: .milliseconds(50))
                    continue
                }
                if response.headers.first(name: "Idempotent-Replayed") == "true" { counts.withLock { $0.replayed += 1 } }
                return APIReply(status: HTTPResponse.Status(code: Int(response.status.code)), raw: String(buffer: bytes))
            } catch {
                // A reset, or silence until the timeout: the request may have run.
                counts.withLock { $0.lost += 1 }
            }
        }
        throw CancellationError()
    }
}
