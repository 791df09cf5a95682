import Foundation
import HTTPTypes
import LessorTestSupport
import RedisServerHarness
import Testing

/// The redelivery fields and filters over HTTP: `max_lapses` on environments, `delivery_count`,
/// `lapse_count` and `stop_reason` on items, `state` / `stop_reason` list filters, in both families.
@Suite("Redelivery fields over HTTP", .timeLimit(.minutes(2)))
struct RedeliveryHTTPTests {
    @Test(arguments: ["api/v1/cloud/environments", "v1/environments"])
    func fieldsFiltersAndTheirErrors(_ prefix: String) async throws {
        let header = HTTPField.Name(prefix.hasPrefix("api") ? "Worker-ID" : "Anthropic-Worker-ID")!
        try await withRoutes(.standalone) { client, _ in
            let environments = "/\(prefix)"
            for bad in ["0", "1001", "2.5", "\"3\"", "true"] {
                let refused = try await client.call(.post, environments, body: #"{"max_lapses":\#(bad)}"#)
                #expect(refused.status == .badRequest, "max_lapses \(bad)")
                #expect(refused.error["param"] as? String == "max_lapses")
            }
            let created = try await client.call(.post, environments, body: #"{"name":"r","max_lapses":3}"#)
            #expect(created["max_lapses"] as? Int == 3)
            let env = try #require(created["id"] as? String)
            #expect(try await client.call(.post, "\(environments)/\(env)", body: #"{"max_lapses":null}"#)["max_lapses"] is NSNull)

            let base = "\(environments)/\(env)/work"
            let work = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
            let fresh = try await client.call(.get, "\(base)/\(work)")
            #expect(fresh["delivery_count"] as? Int == 0)
            #expect(fresh["lapse_count"] as? Int == 0)
            #expect(fresh["stop_reason"] is NSNull)
            #expect(try await client.call(.post, "\(base)/\(work)/ack", headers: [header: "w"])["delivery_count"] as? Int == 1)
            let stopped = try await client.call(.post, "\(base)/\(work)/stop", headers: [header: "w"], body: "{}")
            #expect(stopped["state"] as? String == "stopped")
            #expect(stopped["stop_reason"] as? String == "completed")

            let listed = try await client.call(.get, "\(base)?state=stopped&stop_reason=completed")
            #expect((listed["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [work])
            #expect((try await client.call(.get, "\(base)?state=queued")["data"] as? [Any])?.isEmpty == true)
            #expect(try await client.call(.get, "\(base)?state=done").error["param"] as? String == "state")
            #expect(try await client.call(.get, "\(base)?stop_reason=").error["param"] as? String == "stop_reason")
        }
    }
}
