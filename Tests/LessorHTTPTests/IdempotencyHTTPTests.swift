import Foundation
import HTTPTypes
import LessorTestSupport
import RedisServerHarness
import Testing

/// `Idempotency-Key` / `X-Idempotency-Key` on the POSTs of every family (docs/API.md "Retry-safe
/// writes"): the same key and request from the same principal is answered from the record the
/// first call wrote (status and body, `Idempotent-Replayed: true`) without running again; the
/// same key with another request is 409 in the family's format; what the record must never
/// hold (the key, a secret in the clear) is read back from Redis itself.
@Suite("Idempotency keys over HTTP", .timeLimit(.minutes(2)))
struct IdempotencyHTTPTests {
    static let key = HTTPField.Name("Idempotency-Key")!
    static let replayed = HTTPField.Name("Idempotent-Replayed")!

    @Test(arguments: ["api/v1/cloud/environments", "v1/environments"])
    func aRetriedHeartbeatGetsTheFirstAnswerInsteadOf412(_ prefix: String) async throws {
        let worker = HTTPField.Name(prefix.hasPrefix("api") ? "Worker-ID" : "Anthropic-Worker-ID")!
        try await withRoutesOnOneServer { client, server in
            let env = try await createEnvironment(client)
            let base = "/\(prefix)/\(env)/work"
            let work = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
            #expect(try await client.call(.post, "\(base)/\(work)/ack", headers: [worker: "w1"]).status == .ok)
            let first = try await client.call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", headers: [worker: "w1"])
            let last = try #require(first["last_heartbeat"] as? String)
            let path = "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(last)&desired_ttl_seconds=30"
            let beat = try await client.call(.post, path, headers: [worker: "w1", Self.key: "beat-2"])
            #expect(beat.status == .ok)
            #expect(beat.headers[Self.replayed] == nil)
            // The answer was lost; the retry, with its key, gets it again and moves nothing.
            let retry = try await client.call(.post, path, headers: [worker: "w1", Self.key: "beat-2"])
            #expect(retry.status == .ok)
            #expect(sameBody(retry, beat))
            #expect(retry.headers[Self.replayed] == "true")
            let item = try await client.call(.get, "\(base)/\(work)")
            #expect(item["latest_heartbeat_at"] as? String == beat["last_heartbeat"] as? String, "the retry did not beat again")
            // The parameters in another order are the same request.
            let reordered = "\(base)/\(work)/heartbeat?desired_ttl_seconds=30&expected_last_heartbeat=\(last)"
            #expect(sameBody(try await client.call(.post, reordered, headers: [worker: "w1", Self.key: "beat-2"]), beat))
            // Without the key the same retry is what it always was: 412.
            #expect(try await client.call(.post, path, headers: [worker: "w1"]).status == .preconditionFailed)
            // The same key on another request: 409 conflict_error naming the key; never run.
            let other = try await client.call(.post, "\(base)/\(work)/heartbeat", headers: [worker: "w1", Self.key: "beat-2"])
            #expect(other.status == .conflict)
            #expect(other.error["type"] as? String == "conflict_error")
            #expect((other.error["message"] as? String)?.contains("\"beat-2\"") == true, "\(other.raw)")
            #expect(other.headers[HTTPField.Name("x-should-retry")!] == "false")
            let stopped = try await client.call(.post, "\(base)/\(work)/stop", headers: [worker: "w1", Self.key: "beat-2"], body: "{}")
            #expect(stopped.status == .conflict, "another route of the same environment conflicts too")

            // The record is on the environment's slot, named by a hash: the key is not in it.
            let records = try await server.cli("--scan", "--pattern", "lessor:{\(env)}:idem:*")
            #expect(records.split(separator: "\n").count == 1, "\(records)")
            #expect(try await server.cli("TTL", String(records.split(separator: "\n")[0])).trimmingCharacters(in: .whitespacesAndNewlines).count >= 5)
            #expect(!records.contains("beat-2"))
        }
    }

    @Test func aRecorded412IsReplayedAndX_Idempotency_KeyIsTheSameHeader() async throws {
        try await withRoutes(.standalone) { client, _ in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
            #expect(try await client.call(.post, "\(base)/\(work)/ack", worker: "w1").status == .ok)
            let path = "\(base)/\(work)/heartbeat?expected_last_heartbeat=2020-01-01T00:00:00Z"
            let alternative = HTTPField.Name("X-Idempotency-Key")!
            let refused = try await client.call(.post, path, headers: [alternative: "k412"], worker: "w1")
            #expect(refused.status == .preconditionFailed)
            // The lease moves on (an unconditional beat), the retry still gets the recorded 412.
            #expect(try await client.call(.post, "\(base)/\(work)/heartbeat", worker: "w1").status == .ok)
            let again = try await client.call(.post, path, headers: [Self.key: "k412"], worker: "w1")
            #expect(again.status == .preconditionFailed)
            #expect(again.headers[Self.replayed] == "true")
            #expect(again.error["details"] as? NSDictionary == refused.error["details"] as? NSDictionary)
            // The two headers must agree when both are sent.
            let both = try await client.call(.post, path, headers: [Self.key: "a", alternative: "b"], worker: "w1")
            #expect(both.status == .badRequest)
            #expect(both.error["param"] as? String == "Idempotency-Key")
        }
    }

    @Test func keysThatAreNotShortPrintableASCIIAre400() async throws {
        try await withRoutes(.standalone) { client, _ in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            for bad in [String(repeating: "k", count: 257), "tab\there", "é"] {
                let reply = try await client.call(.post, base, headers: [Self.key: bad], body: "{}")
                #expect(reply.status == .badRequest, "\(bad)")
                #expect(reply.error["param"] as? String == "Idempotency-Key")
            }
            #expect(try await client.call(.post, base, headers: [Self.key: String(repeating: "k", count: 256)], body: "{}").status == .created)
        }
    }

    @Test func anEnqueueRunsOnceAndAnotherBodyIsAConflict() async throws {
        try await withRoutes(.standalone) { client, _ in
            let env = try await createEnvironment(client)
            let base = "/v1/environments/\(env)/work"
            let body = #"{"metadata":{"job":"7"}}"#
            let first = try await client.call(.post, base, headers: [Self.key: "job-7"], body: body)
            #expect(first.status == .created)
            let again = try await client.call(.post, base, headers: [Self.key: "job-7"], body: body)
            #expect(again.status == .created)
            #expect(sameBody(again, first))
            #expect(again.headers[Self.replayed] == "true")
            let different = try await client.call(.post, base, headers: [Self.key: "job-7"], body: #"{"metadata":{"job":"8"}}"#)
            #expect(different.status == .conflict)
            #expect(different.error["type"] as? String == "conflict_error")
            let list = try await client.call(.get, base)
            #expect((list["data"] as? [Any])?.count == 1, "enqueued once")
            // Duplicates sent at once, before any answered: one runs, the others are its replays.
            let racing = try await withThrowingTaskGroup(of: APIReply.self) { group in
                for _ in 0..<8 { group.addTask { try await client.call(.post, base, headers: [Self.key: "job-9"], body: "{}") } }
                return try await group.reduce(into: [APIReply]()) { $0.append($1) }
            }
            #expect(Set(racing.compactMap { $0["id"] as? String }).count == 1)
            #expect(racing.filter { $0.headers[Self.replayed] == "true" }.count == 7)
            #expect((try await client.call(.get, base)["data"] as? [Any])?.count == 2)
            // Another principal's key of the same text is its own.
            let token = try #require(try await client.call(.post, "/api/v1/tokens", body: #"{"environment_ids":["\#(env)"]}"#)["token"] as? String)
            #expect(try await client.call(.post, base, token: token, headers: [Self.key: "job-7"], body: body).headers[Self.replayed] == nil)
            #expect((try await client.call(.get, base)["data"] as? [Any])?.count == 3)
        }
    }

    @Test func refusalsFoundBeforeOrOutsideTheRecordedOnesRunAgain() async throws {
        try await withRoutesOnOneServer { client, server in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            // 404 from the Lua call: not recorded.
            let missing = "\(base)/work_0190d2a0c7b87a1b9c3e4f5a6b7c8d9e/ack"
            #expect(try await client.call(.post, missing, headers: [Self.key: "k404"]).status == .notFound)
            // 400 environment_archived from the Lua call: not recorded.
            #expect(try await client.call(.post, "/api/v1/cloud/environments/\(env)/archive").status == .ok)
            #expect(try await client.call(.post, base, headers: [Self.key: "k400"], body: "{}").status == .badRequest)
            #expect(try await server.cli("--scan", "--pattern", "lessor:{\(env)}:idem:*").isEmpty)
        }
    }

    @Test func aRetriedTokenCreateShowsTheSameSecretWhichRedisHoldsOnlySealed() async throws {
        try await withRoutesOnOneServer { client, server in
            let env = try await createEnvironment(client)
            let body = #"{"name":"fleet","environment_ids":["\#(env)"]}"#
            let first = try await client.call(.post, "/api/v1/tokens", headers: [Self.key: "token-1"], body: body)
            #expect(first.status == .created)
            let again = try await client.call(.post, "/api/v1/tokens", headers: [Self.key: "token-1"], body: body)
            #expect(again.status == .created)
            #expect(sameBody(again, first))
            let secret = try #require(first["token"] as? String)
            #expect(try await client.call(.get, "/api/v1/cloud/environments/\(env)", token: secret).status == .ok)
            try await expectNowhereInRedis(secret, server)
        }
    }

    @Test func aRetriedWorkerCreateAndActivityHeartbeatAreOneWorkerAndOneBeat() async throws {
        try await withRoutesOnOneServer { client, server in
            let body = #"{"name":"laptop-7"}"#
            let first = try await client.call(.post, "/v1/workers", headers: [Self.key: "w-1"], body: body)
            #expect(first.status == .created)
            let again = try await client.call(.post, "/v1/workers", headers: [Self.key: "w-1"], body: body)
            #expect(sameBody(again, first))
            #expect(again.headers[Self.replayed] == "true")
            #expect((try await client.call(.get, "/v1/workers")["data"] as? [Any])?.count == 1)
            let id = try #require(first["id"] as? String)
            let token = try #require((first["tokens"] as? [String: Any])?["activity"] as? String)
            try await expectNowhereInRedis(token, server)

            let path = "/v1/workers/\(id)/activity-heartbeat"
            let beat = #"{"isActiveRecently":true,"openSessionCount":2}"#
            let one = try await client.call(.post, path, token: token, headers: [Self.key: "hb-1"], body: beat)
            #expect(one.status == .ok)
            let two = try await client.call(.post, path, token: token, headers: [Self.key: "hb-1"], body: beat)
            #expect(sameBody(two, one))
            #expect(two.headers[Self.replayed] == "true")
            let conflict = try await client.call(.post, path, token: token, headers: [Self.key: "hb-1"], body: #"{"isActiveRecently":false}"#)
            #expect(conflict.status == .conflict)
            #expect(conflict.raw == #"{"error":"idempotency_conflict"}"#)
            // A record answers only the token that wrote it: without it, Den's 401 as always.
            #expect(try await client.call(.post, path, token: "wat_wrong", headers: [Self.key: "hb-1"], body: beat).status == .unauthorized)
        }
    }

    @Test(arguments: ["api/v1/cloud/environments", "v1/environments"])
    func environmentCreateUpdateAndArchiveRunOnce(_ prefix: String) async throws {
        try await withRoutes(.standalone) { client, _ in
            let body = #"{"name":"gpu"}"#
            let first = try await client.call(.post, "/\(prefix)", headers: [Self.key: "env-1"], body: body)
            #expect(first.status == .created)
            let again = try await client.call(.post, "/\(prefix)", headers: [Self.key: "env-1"], body: body)
            #expect(again.status == .created)
            #expect(sameBody(again, first))
            let env = try #require(first["id"] as? String)
            #expect((try await client.call(.get, "/\(prefix)")["data"] as? [Any])?.count == 1)
            #expect(try await client.call(.post, "/\(prefix)", headers: [Self.key: "env-1"], body: #"{"name":"cpu"}"#).status == .conflict)

            let update = try await client.call(.post, "/\(prefix)/\(env)", headers: [Self.key: "up-1"], body: #"{"metadata":{"a":"1"}}"#)
            #expect(update.status == .ok)
            #expect(try await client.call(.post, "/\(prefix)/\(env)", body: #"{"name":"renamed"}"#).status == .ok)
            let replay = try await client.call(.post, "/\(prefix)/\(env)", headers: [Self.key: "up-1"], body: #"{"metadata":{"a":"1"}}"#)
            #expect(sameBody(replay, update), "the first answer, not the environment as it is now")
            let archived = try await client.call(.post, "/\(prefix)/\(env)/archive", headers: [Self.key: "ar-1"])
            #expect(sameBody(try await client.call(.post, "/\(prefix)/\(env)/archive", headers: [Self.key: "ar-1"]), archived))
        }
    }

    /// The same JSON body (members in any order: the same answer).
    private func sameBody(_ one: APIReply, _ other: APIReply) -> Bool {
        NSDictionary(dictionary: one.json) == NSDictionary(dictionary: other.json) && !one.json.isEmpty
    }

    /// Fails when any key or value in Redis contains `secret` in the clear (read by one script,
    /// not a redis-cli per key: the suite runs beside many others on two cores).
    private func expectNowhereInRedis(_ secret: String, _ server: RedisServerProcess) async throws {
        let everything = try await server.cli("EVAL", """
            local out = {}
            for _, key in ipairs(redis.call('KEYS', '*')) do
              table.insert(out, key)
              local kind = redis.call('TYPE', key).ok
              if kind == 'hash' then for _, v in ipairs(redis.call('HGETALL', key)) do table.insert(out, v) end
              elseif kind == 'string' then table.insert(out, redis.call('GET', key))
              elseif kind == 'set' then for _, v in ipairs(redis.call('SMEMBERS', key)) do table.insert(out, v) end
              elseif kind == 'zset' then for _, v in ipairs(redis.call('ZRANGE', key, 0, -1)) do table.insert(out, v) end end
            end
            return table.concat(out, '\\n')
            """, "0")
        #expect(everything.contains(":idem:"), "the records are there")
        #expect(!everything.contains(secret), "Redis holds the secret in the clear")
    }
}
