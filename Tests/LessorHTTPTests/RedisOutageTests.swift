import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LessorCore
import LessorHTTP
import RedisServerHarness
import LessorTestSupport
import Testing

/// What clients see when Redis is away, or answers something no function documents: each API
/// family answers in its own format, 503 + Retry-After for the first, 500 for the second,
/// and no body ever carries Redis's text.
@Suite("Redis trouble over every route", .timeLimit(.minutes(2)))
struct RedisOutageTests {
    @Test func withRedisStoppedEveryRedisBackedRouteAnswers503InItsFamilysFormat() async throws {
        try await withRoutesOnOneServer { client, server in
            let env = try await createEnvironment(client)
            let pat = try #require(try await client.call(.post, "/api/v1/tokens", body: #"{"environment_ids":["\#(env)"]}"#)["token"] as? String)
            let worker = try await client.call(.post, "/v1/workers", body: #"{"name":"laptop"}"#)
            let workerID = try #require(worker["id"] as? String)
            let activity = try #require((worker["tokens"] as? [String: String])?["activity"])
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
            await server.stop()

            let qoder: [(HTTPRequest.Method, String, String?, String?)] = [
                (.post, "/api/v1/tokens", testAdminToken, #"{"environment_ids":["\#(env)"]}"#),
                (.post, "/api/v1/tokens", testAdminToken, "{}"),
                (.delete, "/api/v1/tokens/tok_00000000000000000000000000000000", testAdminToken, nil),
                (.post, "/api/v1/cloud/environments", testAdminToken, #"{"name":"x"}"#),
                (.get, "/api/v1/cloud/environments/\(env)", testAdminToken, nil),
                (.post, base, testAdminToken, "{}"),
                (.get, base, testAdminToken, nil),
                (.get, "\(base)/poll", testAdminToken, nil),
                (.get, "\(base)/poll?block_ms=20", testAdminToken, nil),
                (.get, "\(base)/stats", testAdminToken, nil),
                (.get, "\(base)/\(work)", testAdminToken, nil),
                (.post, "\(base)/\(work)", testAdminToken, #"{"metadata":{"k":"v"}}"#),
                (.post, "\(base)/\(work)/ack", testAdminToken, nil),
                (.post, "\(base)/\(work)/heartbeat", testAdminToken, nil),
                (.post, "\(base)/\(work)/stop", testAdminToken, nil),
                (.get, "\(base)/\(work)", pat, nil),  // a PAT is checked in Redis (after its cache second)
            ]
            try await Task.sleep(for: .milliseconds(1_100))  // past the token cache
            for (method, uri, token, body) in qoder {
                let reply = try await client.call(method, uri, token: token, body: body)
                #expect(reply.status == .serviceUnavailable, "\(method) \(uri): \(reply.status) \(reply.raw)")
                #expect(reply.json["type"] as? String == "error" && reply.error["type"] as? String == "unavailable_error", "\(method) \(uri): \(reply.raw)")
                #expect(reply.headers[.retryAfter] == "1", "\(method) \(uri)")
                #expect(!reply.raw.contains("127.0.0.1") && !reply.raw.contains("Redis at"), "\(reply.raw)")
            }
            // The Anthropic family's envelope types a 503 api_error (the heartbeat takes the fast path).
            let anthropic = "/v1/environments/\(env)/work"
            for (method, uri) in [(HTTPRequest.Method.post, "/v1/environments"), (.get, "/v1/environments/\(env)"), (.get, "\(anthropic)/stats"),
                                  (.post, "\(anthropic)/\(work)/heartbeat"), (.post, "\(anthropic)/\(work)/ack")] {
                let reply = try await client.call(method, uri, headers: [HTTPField.Name("Idempotency-Key")!: "during-the-outage"], body: method == .post ? "{}" : nil)
                #expect(reply.status == .serviceUnavailable, "\(method) \(uri): \(reply.status) \(reply.raw)")
                #expect(reply.error["type"] as? String == "api_error", "\(method) \(uri): \(reply.raw)")
                #expect(reply.headers[.retryAfter] == "1" && reply.headers[HTTPField.Name("x-should-retry")!] == nil, "\(method) \(uri)")
            }
            let den: [(HTTPRequest.Method, String, String?, String?)] = [
                (.post, "/v1/workers", testAdminToken, #"{"name":"x"}"#),
                (.get, "/v1/workers", testAdminToken, nil),
                (.get, "/v1/workers/\(workerID)", testAdminToken, nil),
                (.post, "/v1/workers/\(workerID)/activity-heartbeat", activity, #"{"isActiveRecently":true}"#),
                (.post, "/v1/workers/\(workerID)/activity-heartbeat", activity, "not json"),  // the token is checked first
            ]
            for (method, uri, token, body) in den {
                let reply = try await client.call(method, uri, token: token, body: body)
                #expect(reply.status == .serviceUnavailable, "\(method) \(uri): \(reply.status) \(reply.raw)")
                #expect(reply.raw == #"{"error":"unavailable"}"#, "\(method) \(uri)")
                #expect(reply.headers[.retryAfter] == "1", "\(method) \(uri)")
            }
            #expect(try await client.call(.get, "/readyz", token: nil).status == .serviceUnavailable)
            #expect(try await client.call(.get, "/healthz", token: nil).status == .ok)
        }
    }

    @Test func aReplyNoFunctionDocumentsIsA500WithTheCauseOnlyInTheLog() async throws {
        try await withRoutesOnOneServer { client, server in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            let work = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
            let keys = KeySpace(namespace: "lessor")
            try await server.cli("HSET", keys.item(env, work), "state", "exploded")
            var reply = try await client.call(.get, "\(base)/\(work)")
            #expect(reply.status == .internalServerError)
            #expect(reply.error["type"] as? String == "api_error")
            #expect(reply.error["message"] as? String == "internal error")
            // A Lua error (a key of the wrong type) is a bug too, not a retryable outage.
            try await server.cli("DEL", keys.deadlines(env))
            try await server.cli("SET", keys.deadlines(env), "not a sorted set")
            reply = try await client.call(.post, "\(base)/\(try #require(try await client.call(.post, base, body: "{}")["id"] as? String))/ack")
            #expect(reply.status == .internalServerError)
            #expect(!reply.raw.contains("WRONGTYPE") && !reply.raw.contains("user_function"), "\(reply.raw)")
        }
    }
}
