import Foundation
import NIOCore
import RedisServerHarness
import Synchronization
import HTTPTypes
import LessorTestSupport
import Testing

/// The fleet as operators run it: redis-server, three `lessor serve` replicas and HAProxy
/// with `deploy/haproxy.cfg`, all on loopback. Workers drive poll/ack/heartbeat chains
/// through HAProxy while one replica is SIGKILLed and restarted.
@Suite("Fleet behind HAProxy", .timeLimit(.minutes(3)))
struct FleetTests {
    static let haproxyConfig = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/haproxy.cfg").path

    /// A call through HAProxy or to a replica; nil when it failed without an answer.
    static func call(_ port: Int, _ method: HTTPRequest.Method, _ path: String, worker: String? = nil, body: String? = nil) async -> APIReply? {
        try? await APIClient(port: port).call(method, path, worker: worker, body: body)
    }

    /// How many chains all workers finished so far, shared by their tasks.
    final class CompletedChains: Sendable {
        let count = Atomic<Int>(0)
    }

    /// What one worker saw of one item.
    struct Chain: Sendable {
        var work: String
        var fencingToken: Int
        var heartbeats = 0
        var lastHeartbeat: String
        var failures: [ContinuousClock.Instant] = []
        var wrongToken = false
    }

    @Test func killingAReplicaLosesNoLeaseAndMakesNoDoubleOwner() async throws {
        try await withRedisServer { server in
            let ports = try (0..<3).map { _ in try freeLoopbackPort() }
            let balancer = try freeLoopbackPort()
            func startReplica(_ index: Int) throws -> ChildProcess {
                try ChildProcess(
                    [lessorBinary, "serve"],
                    environment: [
                        "LESSOR_PORT": String(ports[index]), "LESSOR_REDIS_URL": server.url, "LESSOR_ADMIN_TOKEN": testAdminToken,
                        "LESSOR_DRAIN_DELAY_MS": "0",
                    ],
                    output: server.directory.appendingPathComponent("lessor-\(index).log"))
            }
            var replicas = try (0..<3).map(startReplica)
            let haproxy = try ChildProcess(
                ["haproxy", "-f", Self.haproxyConfig, "-db"],
                environment: [
                    "LESSOR_LB_BIND": "127.0.0.1:\(balancer)", "LESSOR_NODE1": "127.0.0.1:\(ports[0])",
                    "LESSOR_NODE2": "127.0.0.1:\(ports[1])", "LESSOR_NODE3": "127.0.0.1:\(ports[2])",
                ],
                output: server.directory.appendingPathComponent("haproxy.log"))
            defer {
                haproxy.signal(SIGKILL)
                _ = haproxy.exitStatus()
                for replica in replicas { replica.signal(SIGKILL); _ = replica.exitStatus() }
            }
            for port in ports + [balancer] {
                #expect(try await waitUntilReady(port), "port \(port)")
            }
            let env = try #require(await Self.call(balancer, .post, "/api/v1/cloud/environments", body: "{}")?.json["id"] as? String)
            let base = "/api/v1/cloud/environments/\(env)/work"

            let clock = ContinuousClock()
            let started = clock.now
            let killedAt = Mutex<ContinuousClock.Instant?>(nil)
            let restartedAt = Mutex<ContinuousClock.Instant?>(nil)
            // Bounded: 6 workers, each at most 200 chains of 6 heartbeats, for 3.5 s and then
            // until 24 chains are done in all (never past 30 s): a slow machine runs longer
            // instead of failing on a count. The replica dies at 1 s and comes back at 2 s, in
            // the middle of the traffic.
            let completed = CompletedChains()
            async let chains: [Chain] = withTaskGroup(of: [Chain].self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var done: [Chain] = []
                        for _ in 0..<200 {
                            let elapsed = clock.now - started
                            guard elapsed < .milliseconds(3500) || (completed.count.load(ordering: .relaxed) < 24 && elapsed < .seconds(30)) else { break }
                            if let chain = await Self.run(worker: "worker-\(worker)", base: base, port: balancer, clock: clock) {
                                done.append(chain)
                                completed.count.add(1, ordering: .relaxed)
                            }
                        }
                        return done
                    }
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
            try await Task.sleep(for: .seconds(1))
            replicas[1].signal(SIGKILL)
            _ = try await offCooperativePool { [replicas] in replicas[1].waitForExit(within: 5) }
            killedAt.withLock { $0 = clock.now }
            try await Task.sleep(for: .seconds(1))
            replicas[1] = try startReplica(1)
            restartedAt.withLock { $0 = clock.now }
            let finished = await chains

            #expect(finished.count >= 24, "workers completed \(finished.count) chains")
            let heartbeats = finished.reduce(0) { $0 + $1.heartbeats }
            print("fleet: \(finished.count) chains, \(heartbeats) CAS heartbeats through HAProxy, \(finished.flatMap(\.failures).count) requests failed (all while replica 2 was killed)")
            #expect(finished.allSatisfy { !$0.wrongToken }, "a heartbeat answered under another fencing token: double ownership")
            let window = try #require(killedAt.withLock { $0 }).advanced(by: .milliseconds(-1500))...(try #require(restartedAt.withLock { $0 }).advanced(by: .seconds(3)))
            let failures = finished.flatMap(\.failures)
            #expect(failures.allSatisfy { window.contains($0) }, "requests failed outside the kill window")
            // No lease state lost: every item a worker finished is stopped, with the heartbeat it last saw.
            for chain in finished {
                let item = await Self.call(balancer, .get, "\(base)/\(chain.work)")?.json ?? [:]
                #expect(item["state"] as? String == "stopped", "\(chain.work)")
                #expect(item["fencing_token"] as? Int == chain.fencingToken)
                #expect(item["latest_heartbeat_at"] as? String == chain.lastHeartbeat, "\(chain.work)")
            }
        }
    }

    /// One worker's chain: enqueue an item, poll one (perhaps another worker's), ack it, six
    /// CAS heartbeats, stop.
    /// A request that fails without an answer is retried; a heartbeat whose outcome is unknown
    /// is reconciled from the item, as a careful client would.
    static func run(worker: String, base: String, port: Int, clock: ContinuousClock) async -> Chain? {
        var failures: [ContinuousClock.Instant] = []
        // Gives up (nil) after 20 attempts that failed without an answer or with 502/503.
        func attempt(_ method: HTTPRequest.Method, _ path: String, body: String? = nil) async -> APIReply? {
            for _ in 0..<20 {
                if let reply = await call(port, method, path, worker: worker, body: body), reply.status != 502, reply.status != 503 { return reply }
                failures.append(clock.now)
                try? await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }
        guard await attempt(.post, base, body: #"{"metadata":{"worker":"\#(worker)"}}"#)?.status == 201 else { return nil }
        guard let polled = await attempt(.get, "\(base)/poll?block_ms=500&reclaim_older_than_ms=60000"),
              let work = polled.json["id"] as? String
        else { return nil }
        guard let acked = await attempt(.post, "\(base)/\(work)/ack"), acked.status == 200, let token = acked.json["fencing_token"] as? Int else { return nil }
        var chain = Chain(work: work, fencingToken: token, lastHeartbeat: "NO_HEARTBEAT")
        while chain.heartbeats < 6 {
            guard let reply = await attempt(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(chain.lastHeartbeat)") else { return nil }
            if reply.status == 200, let last = reply.json["last_heartbeat"] as? String {
                if reply.json["fencing_token"] as? Int != token { chain.wrongToken = true }
                chain.lastHeartbeat = last
                chain.heartbeats += 1
            } else if reply.status == 412 {
                // An earlier attempt may have landed before its connection died: read the truth.
                let item = await attempt(.get, "\(base)/\(work)")?.json ?? [:]
                guard item["worker_id"] as? String == worker, let last = item["latest_heartbeat_at"] as? String else {
                    chain.wrongToken = true
                    break
                }
                chain.lastHeartbeat = last
            } else {
                return nil
            }
        }
        guard await attempt(.post, "\(base)/\(work)/stop", body: #"{"force":true}"#)?.status == 200 else { return nil }
        chain.failures = failures
        return chain
    }
}
