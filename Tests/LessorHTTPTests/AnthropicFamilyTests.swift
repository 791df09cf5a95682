import Foundation
import HTTPTypes
import LessorTestSupport
import RedisServerHarness
import Testing

/// What the Anthropic family of the work API does differently from the Qoder family, and the
/// headers both share, over HTTP (router level) against a real redis-server. The official SDK's
/// view of the same is Tests/Conformance/test_anthropic_sdk.py.
@Suite("Anthropic family over HTTP", .timeLimit(.minutes(2)))
struct AnthropicFamilyTests {
    static let anthropicWorker = HTTPField.Name("Anthropic-Worker-ID")!

    @Test(arguments: RedisBackend.allCases) func theWorkerHeaderIsAnthropicWorkerIDAndFences(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let env = try await createEnvironment(client)
            let base = "/v1/environments/\(env)/work"
            let item = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
            let polled = try await client.call(.get, "\(base)/poll?beta=true", headers: [Self.anthropicWorker: "w1", .init("anthropic-version")!: "2023-06-01", .init("anthropic-beta")!: "managed-agents-2026-04-01"])
            #expect(polled["id"] as? String == item)
            #expect(polled.json.keys.contains("secret") && polled["secret"] is NSNull)
            #expect(try await client.call(.get, "\(base)/stats")["workers_polling"] as? Int == 1)
            // The Qoder family's header means nothing here: the item went to w1.
            #expect(try await client.call(.post, "\(base)/\(item)/ack", headers: [Self.anthropicWorker: "w2"]).status == .conflict)
            #expect(try await client.call(.post, "\(base)/\(item)/ack", headers: [Self.anthropicWorker: "w1"])["worker_id"] as? String == "w1")
            let fenced = try await client.call(.post, "\(base)/\(item)/heartbeat", headers: [Self.anthropicWorker: "w2"])
            #expect(fenced.status == .preconditionFailed)
            #expect((fenced.error["details"] as? [String: Any])?["error_code"] as? String == "heartbeat_precondition_failed")
            #expect(try await client.call(.post, "\(base)/\(item)/heartbeat", headers: [Self.anthropicWorker: "w1"]).status == .ok)
            #expect(try await client.call(.post, "\(base)/\(item)/heartbeat", headers: [Self.anthropicWorker: String(repeating: "x", count: 129)]).error["param"] as? String == "Anthropic-Worker-ID")
        }
    }

    @Test(arguments: RedisBackend.allCases) func headersAuthAndListsFollowTheFamily(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let env = try await createEnvironment(client)
            let keyed = try await client.call(.get, "/v1/environments/\(env)", token: nil, headers: [.init("x-api-key")!: testAdminToken])
            #expect(keyed.status == .ok)
            #expect(keyed.headers[.init("request-id")!] == keyed.headers[.init("x-request-id")!])
            #expect(keyed.headers[.init("request-id")!] != nil)
            let denied = try await client.call(.get, "/v1/environments/\(env)", token: nil, headers: [.init("x-api-key")!: "nope"])
            #expect(denied.status == .unauthorized)
            #expect(denied.headers[.init("x-should-retry")!] == "false")
            #expect(denied["request_id"] as? String == denied.headers[.init("request-id")!])

            _ = try await client.call(.post, "/v1/environments/\(env)/work", body: "{}")
            let anthropicList = try await client.call(.get, "/v1/environments/\(env)/work")
            #expect(Set(anthropicList.json.keys) == ["data", "next_page"])
            let qoderList = try await client.call(.get, "/api/v1/cloud/environments/\(env)/work")
            #expect(Set(qoderList.json.keys) == ["data", "first_id", "last_id", "has_more", "next_page"])
            #expect(!((qoderList["data"] as? [[String: Any]])?.first?.keys.contains("secret") ?? true))
            #expect(Set(try await client.call(.get, "/v1/environments").json.keys) == ["data", "next_page"])
        }
    }

    /// The Qoder family's 412 carries the same details; its stopped item keeps its 409.
    @Test(arguments: RedisBackend.allCases) func theQoderFamilyKeepsItsRulesAndGainsTheDetails(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let env = try await createEnvironment(client)
            let base = "/api/v1/cloud/environments/\(env)/work"
            let item = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
            _ = try await client.call(.post, "\(base)/\(item)/ack")
            let beat = try await client.call(.post, "\(base)/\(item)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT")
            let refused = try await client.call(.post, "\(base)/\(item)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT")
            #expect(refused.status == .preconditionFailed)
            #expect(refused.headers[.init("x-should-retry")!] == "false")
            let details = try #require(refused.error["details"] as? [String: Any])
            let state = try #require(details["current_state"] as? [String: Any])
            #expect(state["last_heartbeat"] as? String == beat["last_heartbeat"] as? String)
            #expect(state["lease_extended"] as? Bool == false)
            #expect(state["state"] as? String == "active")
            #expect((50...60).contains(state["ttl_seconds"] as? Int ?? 0))
            _ = try await client.call(.post, "\(base)/\(item)/stop", body: #"{"force":true}"#)
            #expect(try await client.call(.post, "\(base)/\(item)/heartbeat").status == .conflict)
            let anthropic = try await client.call(.post, "/v1/environments/\(env)/work/\(item)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT")
            #expect(anthropic.status == .ok)
            #expect(anthropic["state"] as? String == "stopped")
            #expect(anthropic["lease_extended"] as? Bool == false)
            #expect(anthropic["ttl_seconds"] as? Int == 0)
        }
    }
}
