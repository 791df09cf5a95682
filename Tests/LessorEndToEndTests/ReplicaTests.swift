import LessorCore
import LessorRedis
import Foundation
import NIOCore
import RedisServerHarness
import HTTPTypes
import LessorTestSupport
import Testing

/// Two real `lessor serve` processes sharing one redis-server, as behind a load balancer.
@Suite("Two replicas sharing one Redis", .timeLimit(.minutes(2)))
struct ReplicaTests {
    /// Starts `count` replicas on one redis-server and waits until each is ready.
    func withReplicas(_ count: Int, _ body: ([Int], RedisServerProcess) async throws -> Void) async throws {
        try await withRedisServer { server in
            try await LessorTestSupport.withReplicas(count, on: server, settings: Self.settings) { replicas in try await body(replicas.map(\.port), server) }
        }
    }

    /// Starts `count` replicas on a fresh Redis of `backend` and waits until each is ready.
    func withReplicas(_ count: Int, _ backend: RedisBackend, _ body: ([Int], any RedisDeployment) async throws -> Void) async throws {
        try await withRedis(backend) { redis in
            try await LessorTestSupport.withReplicas(count, on: redis, settings: Self.settings) { replicas in try await body(replicas.map(\.port), redis) }
        }
    }

    /// Short leases, so lapses happen within a test.
    static let settings = ["LESSOR_DEFAULT_TTL_SECONDS": "10"]

    /// `lessor_long_poll_wakeups_total` of a node: a wait that a wakeup ended before its
    /// deadline counts, whatever the machine's speed.
    func wakeups(_ port: Int) async throws -> Int {
        let text = try await APIClient(port: port, token: nil).call(.get, "/metrics").raw
        let line = text.split(separator: "\n").first { $0.hasPrefix("lessor_long_poll_wakeups_total ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
    }

    func call(_ port: Int, _ method: HTTPRequest.Method, _ path: String, worker: String? = nil, body: String? = nil) async throws -> APIReply {
        try await APIClient(port: port).call(method, path, worker: worker, body: body)
    }

    @Test(arguments: RedisBackend.allCases) func casChainAcrossReplicasAndOneWinnerOfSixteen(_ backend: RedisBackend) async throws {
        try await withReplicas(2, backend) { ports, server in
            let env = try #require(try await call(ports[0], .post, "/api/v1/cloud/environments", body: "{}").json["id"] as? String)
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await call(ports[1], .post, base, body: "{}").json["id"] as? String)
            #expect(try await call(ports[0], .post, "\(base)/\(work)/ack").status == 200)
            var last = "NO_HEARTBEAT"
            for index in 0..<10 {
                let reply = try await call(ports[index % 2], .post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(last.replacingOccurrences(of: "+", with: "%2B"))")
                #expect(reply.status == 200, "heartbeat \(index) on replica \(index % 2)")
                let next = try #require(reply.json["last_heartbeat"] as? String)
                #expect(next > last || last == "NO_HEARTBEAT")
                last = next
            }
            let expected = last
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<16 {
                    group.addTask { Int(try await call(ports[index % 2], .post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(expected)").status.code) }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 1)
            #expect(statuses.filter { $0 == 412 }.count == 15)
            _ = server
        }
    }

    @Test(arguments: RedisBackend.allCases) func aLapsedLeaseIsReapedWithNobodyPollingThenFencedOff(_ backend: RedisBackend) async throws {
        try await withReplicas(2, backend) { ports, server in
            let env = try #require(try await call(ports[0], .post, "/api/v1/cloud/environments", body: "{}").json["id"] as? String)
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await call(ports[0], .post, base, body: "{}").json["id"] as? String)
            #expect(try await call(ports[0], .post, "\(base)/\(work)/ack", worker: "old").json["fencing_token"] as? Int == 1)
            let beat = try await call(ports[1], .post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT&desired_ttl_seconds=10", worker: "old")
            let last = try #require(beat.json["last_heartbeat"] as? String)
            // Force the lease to lapse now with docs/redis.md's redis-cli recipe: drop the lease
            // key and move its deadline into the past, so the reapers see it at once.
            try await server.cli("DEL", "lessor:{\(env)}:lease:\(work)")
            try await server.cli("ZADD", "lessor:{\(env)}:deadlines", "0", work)
            let clock = ContinuousClock()
            let lapsed = clock.now
            var state = ""
            while state != "queued", clock.now - lapsed < .seconds(5) {
                try await Task.sleep(for: .milliseconds(50))
                state = try await call(ports[1], .get, "\(base)/\(work)").json["state"] as? String ?? ""
            }
            #expect(state == "queued", "requeued by a reaper without any poll")
            #expect(clock.now - lapsed < .seconds(2))
            #expect(try await call(ports[0], .post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(last)", worker: "old").status == 409)
            #expect(try await call(ports[1], .get, "\(base)/poll", worker: "new").json["id"] as? String == work)
            #expect(try await call(ports[1], .post, "\(base)/\(work)/ack", worker: "new").json["fencing_token"] as? Int == 2)
            #expect(try await call(ports[0], .post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(last)", worker: "old").status == 412)
            #expect(try await call(ports[0], .post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(last)").status == 412)
        }
    }

    @Test func aLongPollWakesOnAnEnqueueThroughTheOtherReplica() async throws {
        try await withReplicas(2) { ports, server in
            let env = try #require(try await call(ports[0], .post, "/api/v1/cloud/environments", body: "{}").json["id"] as? String)
            let base = "/api/v1/cloud/environments/\(env)/work"
            _ = try await call(ports[0], .get, "\(base)/poll")  // scripts loaded, connections warm

            // An empty long poll costs two polls (now and at its deadline), not a loop:
            // count work_poll calls with MONITOR (the reapers' own scripts run meanwhile).
            let monitorLog = server.directory.appendingPathComponent("monitor.log")
            let monitor = try ChildProcess(["redis-cli", "-p", String(server.port), "MONITOR"], output: monitorLog)
            for _ in 0..<100 where !((try? String(contentsOf: monitorLog, encoding: .utf8)) ?? "").hasPrefix("OK") {
                try await Task.sleep(for: .milliseconds(50))  // MONITOR answers OK once it is listening
            }
            let clock = ContinuousClock()
            let started = clock.now
            let empty = try await call(ports[0], .get, "\(base)/poll?block_ms=300")
            #expect(empty.status == 200)
            #expect(clock.now - started >= .milliseconds(300))
            try await Task.sleep(for: .milliseconds(200))
            monitor.terminate()
            let pollFunction = LessorLibrary.functionName(WorkPoll.function)
            let polls = try String(contentsOf: monitorLog, encoding: .utf8).components(separatedBy: "\n").filter { $0.contains(pollFunction) }.count
            #expect(polls == 2, "work_poll ran \(polls) times")

            let woken = try await wakeups(ports[0])
            async let polled = call(ports[0], .get, "\(base)/poll?block_ms=999", worker: "w")
            try await Task.sleep(for: .milliseconds(150))
            let work = try #require(try await call(ports[1], .post, base, body: "{}").json["id"] as? String)
            let reply = try await polled
            #expect(reply.json["id"] as? String == work)
            #expect(try await wakeups(ports[0]) == woken + 1, "woken by the enqueue, not by the deadline")
        }
    }

    @Test func aLongPollWakesThroughTheOtherReplicaOnACluster() async throws {
        // The wakeup is published on the environment's node and subscribed on a random one:
        // Redis Cluster carries Pub/Sub messages to every node.
        try await withReplicas(2, .cluster) { ports, _ in
            for _ in 0..<3 {
                let env = try #require(try await call(ports[0], .post, "/api/v1/cloud/environments", body: "{}").json["id"] as? String)
                let base = "/api/v1/cloud/environments/\(env)/work"
                let woken = try await wakeups(ports[0])
                async let polled = call(ports[0], .get, "\(base)/poll?block_ms=999", worker: "w")
                try await Task.sleep(for: .milliseconds(150))
                let work = try #require(try await call(ports[1], .post, base, body: "{}").json["id"] as? String)
                #expect(try await polled.json["id"] as? String == work)
                #expect(try await wakeups(ports[0]) == woken + 1, "woken by the enqueue, not by the deadline")
            }
        }
    }

    @Test(arguments: RedisBackend.allCases) func denHeartbeatsOvertakingEachOtherAcrossReplicas(_ backend: RedisBackend) async throws {
        try await withReplicas(2, backend) { ports, _ in
            let created = try await call(ports[0], .post, "/v1/workers", body: #"{"name":"w"}"#)
            let id = try #require(created.json["id"] as? String)
            let token = try #require((created.json["tokens"] as? [String: Any])?["activity"] as? String)
            func beat(_ port: Int, _ body: String) async throws -> APIReply {
                try await APIClient(port: port, token: nil).call(
                    .post, "/v1/workers/\(id)/activity-heartbeat", headers: [HTTPField.Name("x-den-worker-heartbeat-token")!: token], body: body)
            }
            #expect(try await beat(ports[1], #"{"isActiveRecently":true,"openSessionCount":3,"sentAt":"2026-01-01T00:00:02Z"}"#).status == 200)
            let late = try await beat(ports[0], #"{"isActiveRecently":false,"openSessionCount":0,"sentAt":"2026-01-01T00:00:01Z"}"#)
            #expect(late.status == 200)
            #expect(late.json["lastHeartbeatAt"] as? String == "2026-01-01T00:00:02.000000Z")
            let stored = try await call(ports[0], .get, "/v1/workers/\(id)")
            #expect(stored.json["isActiveRecently"] as? Bool == true)
            #expect(stored.json["openSessionCount"] as? Int == 3)
            #expect(stored.json["online"] as? Bool == true)
        }
    }

    @Test func metricsShowEveryFamilyAndSIGTERMDrainsALongPoll() async throws {
        try await withRedisServer { server in try await LessorTestSupport.withReplicas(1, on: server, settings: Self.settings) { replicas in
            let (lessor, port) = (replicas[0].process, replicas[0].port)
            let env = try #require(try await call(port, .post, "/api/v1/cloud/environments", body: "{}").json["id"] as? String)
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await call(port, .post, base, body: "{}").json["id"] as? String)
            #expect(try await call(port, .post, "\(base)/\(work)/ack", worker: "w").status == 200)
            let beat = try await call(port, .post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", worker: "w")
            let last = try #require(beat.json["last_heartbeat"] as? String)
            #expect(try await call(port, .post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT").status == 412)
            try await server.cli("DEL", "lessor:{\(env)}:lease:\(work)")
            #expect(try await call(port, .post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(last)", worker: "w").json["lease_extended"] as? Bool == false)
            try await server.cli("DEL", "lessor:{\(env)}:lease:\(work)")
            try await server.cli("ZADD", "lessor:{\(env)}:deadlines", "0", work)
            var state = ""
            for _ in 0..<100 where state != "queued" {
                try await Task.sleep(for: .milliseconds(50))
                state = try await call(port, .get, "\(base)/\(work)").json["state"] as? String ?? ""
            }
            #expect(try await call(port, .post, "\(base)/\(work)/heartbeat").status == 409)
            try await server.cli("FUNCTION", "FLUSH")  // the next call meets "Function not found": a counted Redis error
            _ = try await call(port, .get, "\(base)/\(work)")

            _ = try await call(port, .get, "\(base)/poll")  // takes the requeued item so the long poll below waits
            async let waiting = call(port, .get, "\(base)/poll?block_ms=999&reclaim_older_than_ms=600000")
            try await Task.sleep(for: .milliseconds(150))
            let text = try await APIClient(port: port, token: nil).call(.get, "/metrics").raw
            for family in [
                "lessor_http_requests_total", "lessor_http_request_duration_seconds_bucket", "lessor_redis_commands_total",
                "lessor_redis_errors_total", "lessor_redis_connects_total", "lessor_leases_granted_total",
                "lessor_leases_extended_total", "lessor_leases_lapsed_total", "lessor_leases_reaped_total",
                "lessor_work_refusals_total", "lessor_long_polls_waiting",
            ] {
                let values = text.split(separator: "\n").filter { $0.hasPrefix(family) }.compactMap { Double($0.split(separator: " ").last ?? "") }
                #expect(values.contains { $0 > 0 }, "\(family) has no non-zero sample")
            }
            #expect(text.contains(#"status="412""#))
            #expect(text.contains(#"status="409""#))

            // SIGTERM while the long poll waits: readiness turns 503, the poll still finishes, exit 0.
            lessor.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await call(port, .get, "/readyz").status == 503)
            #expect(try await waiting.status == 200)
            #expect(try await offCooperativePool { lessor.waitForExit(within: 15) } == 0)
        } }
    }
}
