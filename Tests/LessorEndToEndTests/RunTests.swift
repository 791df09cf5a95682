import Foundation
import HTTPTypes
import LessorTestSupport
import RedisServerHarness
import Testing

/// `lessor run` as any language's worker uses it, against a live server with 10 s leases: the
/// item's variables and exit status, a stop requested through the API, SIGTERM draining, two
/// runners that never overlap, and the exclusion guarantee when the runner is frozen or cut
/// off from the server.
@Suite("lessor run against a live server", .timeLimit(.minutes(3)))
struct RunTests {
    static let settings = ["LESSOR_DEFAULT_TTL_SECONDS": "10"]

    /// A `lessor run` process with the token in its environment, logging to `directory`; its
    /// kill-after is 2 s unless `options` name one (the default, 10 s, is refused with these
    /// 10 s leases: it must be below half the TTL).
    func runner(_ name: String, port: Int, env: String, _ options: [String], _ command: String, in directory: URL) throws -> ChildProcess {
        try ChildProcess(
            [lessorBinary, "run", "--url", "http://127.0.0.1:\(port)", "--env", env, "--worker-id", name]
                + (options.contains("--kill-after") ? options : options + ["--kill-after", "2"]) + ["--", "sh", "-c", command],
            environment: ["LESSOR_TOKEN": testAdminToken], output: directory.appendingPathComponent("\(name).log"))
    }

    /// One redis-server, one `lessor serve` with 10 s leases, and an environment on it.
    func withEnvironment(_ body: (RedisServerProcess, Replica, APIClient, String) async throws -> Void) async throws {
        try await withRedisServer { server in
            try await withReplicas(1, on: server, settings: Self.settings) { replicas in
                let admin = replicas[0].client
                try await body(server, replicas[0], admin, try await createEnvironment(admin))
            }
        }
    }

    func items(_ admin: APIClient, _ env: String) async throws -> [[String: Any]] {
        try await admin.call(.get, "/api/v1/cloud/environments/\(env)/work?limit=100")["data"] as? [[String: Any]] ?? []
    }

    func eventually(_ seconds: Int = 20, _ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<(seconds * 10) {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    func readPID(_ file: URL) -> Int32? {
        (try? String(contentsOf: file, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    @Test func onceRunsOneItemWithItsVariablesAndRecordsItsExitStatus() async throws {
        try await withEnvironment { server, replica, admin, env in
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await admin.call(.post, base, body: #"{"metadata":{"job":"7"}}"#)["id"] as? String)
            let out = server.directory.appendingPathComponent("vars")
            let first = try runner("w1", port: replica.port, env: env, ["--once"],
                                   "echo \"$LESSOR_WORK_ID $LESSOR_FENCING_TOKEN $LESSOR_WORKER_ID $LESSOR_METADATA ${LESSOR_TOKEN:-none}\" > '\(out.path)'; exit 3",
                                   in: server.directory)
            #expect(try await offCooperativePool { first.waitForExit(within: 30) } == 3, "--once exits with the command's status")
            let vars = try String(contentsOf: out, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(vars == "\(work) 1 w1 {\"job\":\"7\"} none", "the runner's token is not passed on")
            let item = try await admin.call(.get, "\(base)/\(work)")
            #expect(item["state"] as? String == "stopped" && item["stop_reason"] as? String == "completed")
            #expect((item["metadata"] as? [String: String])?["lessor.exit_status"] == "3")
            // An empty queue: one long poll, then 0.
            let empty = try runner("w2", port: replica.port, env: env, ["--once"], "exit 9", in: server.directory)
            #expect(try await offCooperativePool { empty.waitForExit(within: 30) } == 0)
            // --kill-after must be below half the TTL.
            let refused = try runner("w3", port: replica.port, env: env, ["--once", "--ttl", "10", "--kill-after", "5"], "true", in: server.directory)
            #expect(try await offCooperativePool { refused.waitForExit(within: 30) } == 64)
        }
    }

    @Test func aStopRequestEndsTheCommandAndSIGTERMDrains() async throws {
        try await withEnvironment { server, replica, admin, env in
            let base = "/api/v1/cloud/environments/\(env)/work"
            let stopped = try #require(try await admin.call(.post, base, body: "{}")["id"] as? String)
            let marker = server.directory.appendingPathComponent("terminated")
            let run = try runner("w1", port: replica.port, env: env, ["--kill-after", "2"],
                                 "trap 'touch \(marker.path); exit 0' TERM; while :; do sleep 0.1; done", in: server.directory)
            defer { run.signal(SIGKILL); _ = run.exitStatus() }
            #expect(try await eventually { try await isHeld(admin, base, stopped) })
            #expect(try await admin.call(.post, "\(base)/\(stopped)/stop", body: "{}")["state"] as? String == "stopping")
            // The next heartbeat (within a third of 10 s) learns of it: SIGTERM, then the stop.
            #expect(try await eventually { FileManager.default.fileExists(atPath: marker.path) })
            #expect(try await eventually { try await admin.call(.get, "\(base)/\(stopped)")["state"] as? String == "stopped" })

            // SIGTERM while a command runs: it finishes, its item is stopped, nothing new starts.
            let running = try #require(try await admin.call(.post, base, body: "{}")["id"] as? String)
            #expect(try await eventually { try await isHeld(admin, base, running) })
            let waiting = try #require(try await admin.call(.post, base, body: "{}")["id"] as? String)
            run.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await admin.call(.get, "\(base)/\(running)")["state"] as? String != "stopped", "the command runs on after one SIGTERM")
            run.signal(SIGTERM)  // the second ends the command (its trap exits 0)
            #expect(try await offCooperativePool { run.waitForExit(within: 20) } == 0)
            #expect(try await admin.call(.get, "\(base)/\(running)")["state"] as? String == "stopped")
            #expect(try await admin.call(.get, "\(base)/\(waiting)")["state"] as? String == "queued", "no new item after the drain began")
        }
    }

    @Test func twoRunnersNeverRunOneItemAtOverlappingTimes() async throws {
        try await withEnvironment { server, replica, admin, env in
            for _ in 0..<12 { _ = try await admin.call(.post, "/api/v1/cloud/environments/\(env)/work", body: "{}") }
            let journal = server.directory.appendingPathComponent("journal")
            let command = "echo \"start $LESSOR_WORK_ID $LESSOR_FENCING_TOKEN\" >> '\(journal.path)'; sleep 0.3; echo \"end $LESSOR_WORK_ID $LESSOR_FENCING_TOKEN\" >> '\(journal.path)'"
            let runners = try ["a", "b"].map { try runner($0, port: replica.port, env: env, ["--concurrency", "2"], command, in: server.directory) }
            defer { for run in runners { run.signal(SIGKILL); _ = run.exitStatus() } }
            #expect(try await eventually(40) { try await items(admin, env).allSatisfy { $0["state"] as? String == "stopped" } })
            for run in runners { run.signal(SIGTERM) }
            for run in runners { #expect(try await offCooperativePool { run.waitForExit(within: 20) } == 0) }
            // The checker: per item, start/end pairs never interleave and tokens only grow.
            var open: [String: Int] = [:], last: [String: Int] = [:], runs = 0
            for line in try String(contentsOf: journal, encoding: .utf8).split(separator: "\n") {
                let parts = line.split(separator: " ")
                let (event, work, token) = (parts[0], String(parts[1]), Int(parts[2])!)
                if event == "start" {
                    #expect(open[work] == nil, "\(work) started twice at once")
                    #expect(token > (last[work] ?? 0), "\(work)'s tokens grow")
                    open[work] = token
                    runs += 1
                } else {
                    #expect(open[work] == token)
                    open[work] = nil
                    last[work] = token
                }
            }
            #expect(runs == 12 && open.isEmpty)
        }
    }

    @Test func aFrozenRunnersCommandIsKilledWhenItResumesAndACutOffOneKillsByTheDeadline() async throws {
        try await withEnvironment { server, replica, admin, env in
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await admin.call(.post, base, body: "{}")["id"] as? String)
            let pidFile = server.directory.appendingPathComponent("frozen.pid")
            let frozen = try runner("frozen", port: replica.port, env: env, ["--kill-after", "2"],
                                    "echo $$ > '\(pidFile.path)'; exec sleep 120", in: server.directory)
            defer { frozen.signal(SIGKILL); _ = frozen.exitStatus() }
            #expect(try await eventually { readPID(pidFile) != nil })
            let child = try #require(readPID(pidFile))
            frozen.signal(SIGSTOP)
            // The lease lapses on the server (10 s), the reaper requeues it, another runner takes it.
            let second = try runner("second", port: replica.port, env: env, [], "sleep 3", in: server.directory)
            defer { second.signal(SIGKILL); _ = second.exitStatus() }
            #expect(try await eventually(30) { try await admin.call(.get, "\(base)/\(work)")["worker_id"] as? String == "second" })
            #expect(alive(child), "a frozen runner's command runs on while it is frozen (fence with the token)")
            frozen.signal(SIGCONT)
            // Past D on its own clock: the command is killed at once, not after kill-after.
            #expect(try await eventually(2) { !alive(child) })
            #expect(try await eventually { try await admin.call(.get, "\(base)/\(work)")["state"] as? String == "stopped" })
            second.signal(SIGTERM)
            #expect(try await offCooperativePool { second.waitForExit(within: 30) } == 0)
            let item = try await admin.call(.get, "\(base)/\(work)")
            #expect(item["fencing_token"] as? Int == 2 && item["stop_reason"] as? String == "completed", "the loser never touched it again")
            frozen.signal(SIGTERM)
            #expect(try await offCooperativePool { frozen.waitForExit(within: 20) } == 0)

            // Cut off: a proxy that stops answering. The command gets SIGTERM at D − 2 s and is
            // gone by D (10 s after the last answered beat, 13.3 s at most after its start).
            let proxy = try FaultProxy(targets: [replica.port], dropFraction: 0, seed: 1)
            defer { proxy.close() }
            _ = try await admin.call(.post, base, body: "{}")
            let cutPID = server.directory.appendingPathComponent("cut.pid")
            let isolated = try runner("isolated", port: proxy.port, env: env, ["--kill-after", "2"],
                                      "echo $$ > '\(cutPID.path)'; exec sleep 120", in: server.directory)
            defer { isolated.signal(SIGKILL); _ = isolated.exitStatus() }
            #expect(try await eventually { readPID(cutPID) != nil })
            let cutChild = try #require(readPID(cutPID))
            let cutAt = ContinuousClock.now
            proxy.setDropFraction(1)
            #expect(try await eventually(15) { !alive(cutChild) }, "killed by D")
            let elapsed = ContinuousClock.now - cutAt
            #expect(elapsed < .seconds(14), "\(elapsed)")
        }
    }
}

/// True once the item is held (acked: starting or active).
func isHeld(_ admin: APIClient, _ base: String, _ work: String) async throws -> Bool {
    let state = try await admin.call(.get, "\(base)/\(work)")["state"] as? String
    return state == "starting" || state == "active"
}
