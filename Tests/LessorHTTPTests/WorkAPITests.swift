import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LessorCore
import LessorHTTP
import LessorRedis
import NIOCore
import RedisServerHarness
import LessorTestSupport
import Testing

/// The work API over HTTP (router level) against a real redis-server: status codes, error
/// envelopes and fields as API.md states them.
@Suite("Work API over HTTP", .timeLimit(.minutes(2)))
struct WorkAPITests {
    static let admin = testAdminToken

    @Test(arguments: RedisBackend.allCases) func authenticationAndPermission(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            var reply = try await client.call(.get, "/api/v1/cloud/environments/env_00000000000000000000000000000000", token: nil)
            #expect(reply.status == .unauthorized)
            #expect(reply["type"] as? String == "error")
            #expect(reply.error["type"] as? String == "authentication_error")
            #expect(reply["request_id"] as? String != nil)
            reply = try await client.call(.get, "/api/v1/cloud/environments/env_00000000000000000000000000000000", token: "nope")
            #expect(reply.status == .unauthorized)
            let env = try await createEnvironment(client)
            let other = try await createEnvironment(client)
            let created = try await client.call(.post, "/api/v1/tokens", body: #"{"name":"ci","environment_ids":["\#(env)"]}"#)
            #expect(created.status == .created)
            #expect(created["type"] as? String == "token")
            #expect((created["id"] as? String)?.hasPrefix("tok_") == true)
            let pat = try #require(created["token"] as? String)
            #expect(try await client.call(.get, "/api/v1/cloud/environments/\(env)", token: pat).status == .ok)
            reply = try await client.call(.get, "/api/v1/cloud/environments/\(other)", token: pat)
            #expect(reply.status == .forbidden)
            #expect(reply.error["type"] as? String == "permission_error")
            reply = try await client.call(.post, "/api/v1/cloud/environments", token: pat, body: "{}")
            #expect(reply.status == .forbidden)
            reply = try await client.call(.post, "/api/v1/tokens", body: #"{"environment_ids":["env_00000000000000000000000000000000"]}"#)
            #expect(reply.status == .badRequest)
            #expect(reply.error["param"] as? String == "environment_ids")

            let id = try #require(created["id"] as? String)
            reply = try await client.call(.delete, "/api/v1/tokens/\(id)")
            #expect(reply.status == .ok)
            #expect(reply["revoked"] as? Bool == true)
            #expect(try await client.call(.delete, "/api/v1/tokens/\(id)").status == .ok)
            try await Task.sleep(for: .milliseconds(1100))  // past the one-second token cache
            #expect(try await client.call(.get, "/api/v1/cloud/environments/\(env)", token: pat).status == .unauthorized)
        }
    }

    @Test(arguments: RedisBackend.allCases) func theSeedFlowAndItsErrors(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, server in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            let enqueued = try await client.call(.post, base, body: #"{"metadata":{"team":"infra"}}"#)
            #expect(enqueued.status == .created)
            #expect(enqueued["state"] as? String == "queued")
            #expect(enqueued["type"] as? String == "work")
            #expect(enqueued["acknowledged_at"] is NSNull)
            #expect(enqueued["fencing_token"] as? Int == 0)
            #expect(((enqueued["data"] as? [String: Any])?["id"] as? String)?.hasPrefix("sess_") == true)
            let work = try #require(enqueued["id"] as? String)

            let polled = try await client.call(.get, "\(base)/poll", headers: [HTTPField.Name("Worker-ID")!: "w1"])
            #expect(polled["id"] as? String == work)
            let empty = try await client.call(.get, "\(base)/poll")
            #expect(empty.status == .ok)
            #expect(empty.raw == "null")

            var reply = try await client.call(.post, "\(base)/\(work)/heartbeat")
            #expect(reply.status == .conflict)
            #expect(reply.error["type"] as? String == "invalid_request_error")
            reply = try await client.call(.post, "\(base)/\(work)/ack", headers: [HTTPField.Name("Worker-ID")!: "w1"])
            #expect(reply.status == .ok)
            #expect(reply["state"] as? String == "starting")
            #expect(reply["fencing_token"] as? Int == 1)

            for bad in ["0", "-1", "1.5", "abc", ""] {
                reply = try await client.call(.post, "\(base)/\(work)/heartbeat?desired_ttl_seconds=\(bad)")
                #expect(reply.status == .badRequest, "\(bad)")
                #expect(reply.error["param"] as? String == "desired_ttl_seconds")
            }
            reply = try await client.call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=2026-02-30T00:00:00Z")
            #expect(reply.status == .badRequest)
            #expect(reply.error["param"] as? String == "expected_last_heartbeat")

            reply = try await client.call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT&desired_ttl_seconds=5")
            #expect(reply.status == .ok)
            #expect(reply["type"] as? String == "work_heartbeat")
            #expect(reply["state"] as? String == "active")
            #expect(reply["lease_extended"] as? Bool == true)
            #expect(reply["ttl_seconds"] as? Int == 10)
            #expect(reply["fencing_token"] as? Int == 1)
            let last = try #require(reply["last_heartbeat"] as? String)
            #expect(last.count == 27 && last.hasSuffix("Z"))
            let ttl = Int(try await server.cli("TTL", "lessor:{\(env)}:lease:\(work)")) ?? 0
            #expect((9...10).contains(ttl))

            reply = try await client.call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT")
            #expect(reply.status == .preconditionFailed)
            #expect(reply.error["type"] as? String == "precondition_failed_error")
            let encoded = last.replacingOccurrences(of: "Z", with: "%2B00:00")
            reply = try await client.call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(encoded)&desired_ttl_seconds=999999999999")
            #expect(reply.status == .ok)
            #expect(reply["ttl_seconds"] as? Int == 600)

            reply = try await client.call(.post, "\(base)/\(work)/heartbeat", headers: [HTTPField.Name("Worker-ID")!: "intruder"])
            #expect(reply.status == .preconditionFailed)

            reply = try await client.call(.get, "\(base)/work_00000000000000000000000000000000")
            #expect(reply.status == .notFound)
            #expect(reply.error["type"] as? String == "not_found_error")
            reply = try await client.call(.get, "/api/v1/cloud/environments/env_00000000000000000000000000000000/work/\(work)")
            #expect(reply.status == .notFound)

            reply = try await client.call(.post, "\(base)/\(work)/stop", body: "not json")
            #expect(reply.status == .badRequest)
            reply = try await client.call(.post, "\(base)/\(work)/stop", body: "{}")
            #expect(reply["state"] as? String == "stopping")
            reply = try await client.call(.post, "\(base)/\(work)/stop", body: #"{"force":true}"#)
            #expect(reply["state"] as? String == "stopped")
            #expect(reply["lease_expires_at"] is NSNull)
        }
    }

    @Test(arguments: RedisBackend.allCases) func cloudEnvironmentsRefuseTheWorkAPI(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let env = try await createEnvironment(client, type: "cloud")
            let reply = try await client.call(.post, "/api/v1/cloud/environments/\(env)/work", body: "{}")
            #expect(reply.status == .badRequest)
            #expect(reply.error["type"] as? String == "invalid_request_error")
        }
    }

    @Test(arguments: RedisBackend.allCases) func bodiesParametersAndLimits(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            var reply = try await client.call(.post, base, body: String(repeating: " ", count: 64 * 1024 + 1))
            #expect(reply.status == .contentTooLarge)
            #expect(reply.error["type"] as? String == "request_too_large")
            reply = try await client.call(.post, base, body: #"{"metadata":{"n":1}}"#)
            #expect(reply.status == .badRequest)
            #expect(reply.error["param"] as? String == "metadata")
            reply = try await client.call(.post, base, body: #"{"unknown":true,"data":{"type":"session","id":"sess_mine"}}"#)
            #expect(reply.status == .created)
            let work = try #require(reply["id"] as? String)
            reply = try await client.call(.post, "\(base)/\(work)", body: #"{"metadata":{"a":"1","b":"2"}}"#)
            reply = try await client.call(.post, "\(base)/\(work)", body: #"{"metadata":{"a":null,"c":"3"}}"#)
            #expect(reply["metadata"] as? [String: String] == ["b": "2", "c": "3"])
            reply = try await client.call(.post, "\(base)/\(work)", body: #"{"metadata":{"a":true}}"#)
            #expect(reply.status == .badRequest)
            for query in ["block_ms=0", "block_ms=1000", "block_ms=", "reclaim_older_than_ms=-1", "reclaim_older_than_ms="] {
                reply = try await client.call(.get, "\(base)/poll?\(query)")
                #expect(reply.status == .badRequest, "\(query)")
            }
            reply = try await client.call(.get, "\(base)?before_id=\(work)&after_id=\(work)")
            #expect(reply.status == .badRequest)
        }
    }

    @Test(arguments: RedisBackend.allCases) func listingAndStats(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            var ids: [String] = []
            for _ in 0..<5 { ids.append(try #require(try await client.call(.post, base, body: "{}")["id"] as? String)) }
            var reply = try await client.call(.get, "\(base)?limit=2")
            #expect((reply["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == Array(ids[0..<2]))
            #expect(reply["has_more"] as? Bool == true)
            #expect(reply["first_id"] as? String == ids[0])
            #expect(reply["last_id"] as? String == ids[1])
            var page = try #require(reply["next_page"] as? String)
            reply = try await client.call(.get, "\(base)?limit=2&page=\(page)")
            #expect((reply["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == Array(ids[2..<4]))
            page = try #require(reply["next_page"] as? String)
            reply = try await client.call(.get, "\(base)?limit=2&page=\(page)")
            #expect((reply["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[4]])
            #expect(reply["has_more"] as? Bool == false)
            #expect(reply["next_page"] is NSNull)
            reply = try await client.call(.get, "\(base)?limit=500")
            #expect((reply["data"] as? [[String: Any]])?.count == 5)
            reply = try await client.call(.get, "\(base)?limit=2&before_id=\(ids[4])")
            #expect((reply["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == Array(ids[2..<4]))
            #expect(try await client.call(.get, "\(base)?page=garbage").status == .badRequest)

            _ = try await client.call(.get, "\(base)/poll", headers: [HTTPField.Name("Worker-ID")!: "w1"])
            reply = try await client.call(.get, "\(base)/stats")
            #expect(reply["type"] as? String == "work_queue_stats")
            #expect(reply["depth"] as? Int == 4)
            #expect(reply["pending"] as? Int == 1)
            #expect(reply["workers_polling"] as? Int == 1)
            #expect((reply["oldest_queued_at"] as? String)?.hasSuffix("Z") == true)
        }
    }

    @Test(arguments: RedisBackend.allCases) func checkOrderFirstFailureWins(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let env = try await createEnvironment(client)
            let other = try await createEnvironment(client)
            let pat = try #require(try await client.call(.post, "/api/v1/tokens", body: #"{"environment_ids":["\#(other)"]}"#)["token"] as? String)
            let base = "/api/v1/cloud/environments/\(env)/work"
            // 401 before 400: no token and a bad parameter.
            #expect(try await client.call(.post, "\(base)/work_x/heartbeat?desired_ttl_seconds=0", token: nil).status == .unauthorized)
            // 400 before 403: a token for another environment and a bad parameter.
            #expect(try await client.call(.post, "\(base)/work_x/heartbeat?desired_ttl_seconds=0", token: pat).status == .badRequest)
            // 403 before 404: a token for another environment, an unknown item.
            #expect(try await client.call(.post, "\(base)/work_x/heartbeat", token: pat).status == .forbidden)
            // 404 environment before 404 item; then 400 for a cloud environment before 404 item.
            var reply = try await client.call(.post, "/api/v1/cloud/environments/env_00000000000000000000000000000000/work/work_x/heartbeat")
            #expect(reply.status == .notFound)
            #expect((reply.error["message"] as? String)?.contains("environment") == true)
            let cloud = try await createEnvironment(client, type: "cloud")
            reply = try await client.call(.post, "/api/v1/cloud/environments/\(cloud)/work/work_x/heartbeat")
            #expect(reply.status == .badRequest)
            reply = try await client.call(.post, "\(base)/work_x/heartbeat")
            #expect(reply.status == .notFound)
            #expect((reply.error["message"] as? String)?.contains("work item") == true)
        }
    }

    @Test(arguments: RedisBackend.allCases) func anExpiredTokenIsRefused(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let env = try await createEnvironment(client)
            let created = try await client.call(.post, "/api/v1/tokens", body: #"{"name":"short","expires_in_seconds":1}"#)
            #expect(created["expires_at"] as? String != nil)
            #expect(created["environment_ids"] is NSNull)
            let pat = try #require(created["token"] as? String)
            #expect(try await client.call(.get, "/api/v1/cloud/environments/\(env)", token: pat).status == .ok)
            try await Task.sleep(for: .milliseconds(2200))  // expiry (Redis's clock) plus the token cache
            #expect(try await client.call(.get, "/api/v1/cloud/environments/\(env)", token: pat).status == .unauthorized)
            #expect(try await client.call(.post, "/api/v1/tokens", body: #"{"expires_in_seconds":0}"#).status == .badRequest)
            #expect(try await client.call(.post, "/api/v1/tokens", body: #"{"expires_in_seconds":1.5}"#).status == .badRequest)
        }
    }

    @Test func redisAwayIsA503WithinFiveSecondsAndServiceResumes() async throws {
        try await withRoutesOnOneServer { client, server in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            await server.stop()
            let clock = ContinuousClock()
            let started = clock.now
            let reply = try await client.call(.post, base, body: "{}")
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.error["type"] as? String == "unavailable_error")
            #expect(!reply.raw.contains("ECONNREFUSED") && !reply.raw.contains("Redis at"))
            #expect(clock.now - started < .seconds(5))
            try await server.restart()
            var status = HTTPResponse.Status.serviceUnavailable
            for _ in 0..<200 where status != .ok {
                status = try await client.call(.get, "/readyz", token: nil).status
                if status != .ok { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(status == .ok)
        }
    }

    @Test func responsesKeepTheDocumentedKeyOrder() async throws {
        try await withRoutes(.standalone) { client, _ in
            let keys = { (raw: String) -> [String] in
                // The top-level keys in the order they were written.
                var depth = 0, keys: [String] = [], index = raw.startIndex, expectKey = false
                while index < raw.endIndex {
                    let character = raw[index]
                    if character == "\"" {
                        var end = raw.index(after: index)
                        while raw[end] != "\"" { end = raw.index(after: raw[end] == "\\" ? raw.index(after: end) : end) }
                        if depth == 1 && expectKey { keys.append(String(raw[raw.index(after: index)..<end])) }
                        expectKey = false
                        index = raw.index(after: end)
                        continue
                    }
                    if character == "{" || character == "[" { depth += 1; expectKey = character == "{" }
                    if character == "}" || character == "]" { depth -= 1 }
                    if character == "," && depth == 1 { expectKey = true }
                    index = raw.index(after: index)
                }
                return keys
            }
            let environment = try await client.call(.post, "/api/v1/cloud/environments", body: #"{"name":"ordered","config":{"type":"self_hosted"}}"#)
            #expect(keys(environment.raw) == ["id", "type", "name", "description", "config", "metadata", "max_lapses", "status", "archived", "archived_at", "created_at", "updated_at"])
            let env = try #require(environment["id"] as? String)
            for _ in 0..<3 {
                let item = try await client.call(.post, "/api/v1/cloud/environments/\(env)/work", body: #"{"metadata":{"b":"2","a":"1"}}"#)
                // docs/API.md's work item object, field by field.
                #expect(keys(item.raw) == ["id", "type", "environment_id", "data", "state", "created_at", "acknowledged_at", "started_at",
                                           "latest_heartbeat_at", "stop_requested_at", "stopped_at", "metadata", "lease_expires_at",
                                           "fencing_token", "worker_id", "delivery_count", "lapse_count", "stop_reason"])
                #expect(item.raw.contains(#""metadata":{"a":"1","b":"2"}"#), "\(item.raw)")
            }
            let missing = try await client.call(.get, "/api/v1/cloud/environments/\(env)/work/work_00000000000000000000000000000000")
            #expect(keys(missing.raw) == ["type", "request_id", "error"])
            #expect(missing.raw.contains(#""error":{"type":"not_found_error","message":"#), "\(missing.raw)")
        }
    }

    @Test(arguments: RedisBackend.allCases) func theReadmeRecipesWork(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, server in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
            _ = try await client.call(.post, base, body: "{}")
            _ = try await client.call(.post, "\(base)/\(work)/ack", headers: [HTTPField.Name("Worker-ID")!: "w1"])
            let E = "lessor:{\(env)}"
            let holder = try await server.cli("HMGET", "\(E):work:\(work)", "state", "worker_id", "fencing_token")
            let lines = holder.split(separator: "\n").map(String.init)
            #expect(lines.count == 3)
            #expect(lines.first == "starting")
            #expect(lines.dropFirst().first == "w1")
            #expect(lines.last == "1")
            let remaining = Int(try await server.cli("PTTL", "\(E):lease:\(work)")) ?? 0
            #expect(remaining > 50_000 && remaining <= 60_000)
            let expires = Int(try await server.cli("PEXPIRETIME", "\(E):lease:\(work)")) ?? 0
            let untilExpiry = expires - Int(Date().timeIntervalSince1970 * 1000)
            #expect(untilExpiry > 50_000 && untilExpiry <= 60_000, "\(expires)")
            #expect(try await server.cli("ZCARD", "\(E):queue") == "1")
            let nowMS = String(Int(Date().timeIntervalSince1970 * 1000) + 100_000)
            #expect(try await server.cli("ZRANGEBYSCORE", "\(E):deadlines", "-inf", nowMS) == work)
            let pat = try await client.call(.post, "/api/v1/tokens", body: #"{"name":"scoped","environment_ids":["\#(env)"]}"#)
            let tokenID = try #require(pat["id"] as? String)
            let digest = try await server.cli("GET", "lessor:{tokens}:id:\(tokenID)")
            let record = try await server.cli("HGETALL", "lessor:{tokens}:hash:\(digest)")
            #expect(record.contains("[\"\(env)\"]"))
            #expect(!record.contains(try #require(pat["token"] as? String)), "the secret is never stored")
        }
    }

    @Test func aSteadyHeartbeatIsOneRedisRoundTrip() async throws {
        try await withRoutesOnOneServer { client, server in
            let env = try await createEnvironment(client)
            let pat = try #require(try await client.call(.post, "/api/v1/tokens", body: #"{"environment_ids":["\#(env)"]}"#)["token"] as? String)
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await client.call(.post, base, token: pat, body: "{}")["id"] as? String)
            _ = try await client.call(.post, "\(base)/\(work)/ack", token: pat)
            var last = try #require(try await client.call(.post, "\(base)/\(work)/heartbeat", token: pat)["last_heartbeat"] as? String)
            let log = server.directory.appendingPathComponent("monitor.log")
            let monitor = try ChildProcess(["redis-cli", "-p", String(server.port), "MONITOR"], output: log)
            for _ in 0..<100 where !((try? String(contentsOf: log, encoding: .utf8)) ?? "").hasPrefix("OK") {
                try await Task.sleep(for: .milliseconds(50))
            }
            for _ in 0..<5 {
                let reply = try await client.call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(last)", token: pat)
                #expect(reply.status == .ok)
                last = try #require(reply["last_heartbeat"] as? String)
            }
            try await Task.sleep(for: .milliseconds(200))
            monitor.terminate()
            // MONITOR lists a script's inner calls too, marked [0 lua]; count what clients sent,
            // less the token cache's own refresh (at most one a second, whatever the rate).
            let sent = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
                .filter { $0.contains("[0 127.0.0.1:") && !$0.contains(":{tokens}:hash:") }
            #expect(sent.count == 5, "\(sent)")
            #expect(sent.allSatisfy { $0.contains("\"FCALL\" \"lessor_v5_work_heartbeat\"") }, "\(sent)")
        }
    }
}
