import Foundation
import HTTPTypes
import LessorTestSupport
import RedisServerHarness
import Testing

/// What a client without idempotency keys does when a heartbeat's answer is lost (a 503, a
/// reset, a timeout after the request was sent), as docs/API.md "Retrying without idempotency
/// keys" tells it: a retry with the same expectation meets 412 when the first attempt ran, so
/// it reads the item, and when the worker, the state and the fencing token are still its own it
/// sends one unconditional heartbeat fenced by its worker header, and chains on from its answer.
@Suite("Retrying a heartbeat without a key", .timeLimit(.minutes(2)))
struct RetryWithoutKeyTests {
    @Test(arguments: ["api/v1/cloud/environments", "v1/environments"])
    func aLostAnswerIsRecoveredByTheHolderAndOnlyByIt(_ prefix: String) async throws {
        let header = prefix.hasPrefix("api") ? "Worker-ID" : "Anthropic-Worker-ID"
        try await withRoutes(.standalone) { client, _ in
            let env = try await createEnvironment(client)
            let base = "/\(prefix)/\(env)/work"
            let work = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
            func call(_ method: HTTPRequest.Method, _ path: String, worker: String) async throws -> APIReply {
                try await client.call(method, path, headers: [HTTPField.Name(header)!: worker])
            }
            let acked = try await call(.post, "\(base)/\(work)/ack", worker: "w1")
            let token = try #require(acked["fencing_token"] as? Int)
            let first = try await call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", worker: "w1")
            let last = try #require(first["last_heartbeat"] as? String)
            // The next beat runs, but its answer never reaches the worker.
            _ = try await call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(last)", worker: "w1")
            // Retrying it as it was: 412, although w1 still holds the lease.
            let retried = try await call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(last)", worker: "w1")
            #expect(retried.status == .preconditionFailed)

            // The recovery: the item still names w1, its state is live, its fencing token is w1's.
            let item = try await client.call(.get, "\(base)/\(work)")
            #expect(item["worker_id"] as? String == "w1")
            #expect(item["state"] as? String == "active")
            #expect(item["fencing_token"] as? Int == token)
            let recovered = try await call(.post, "\(base)/\(work)/heartbeat", worker: "w1")
            #expect(recovered.status == .ok)
            #expect(recovered["lease_extended"] as? Bool == true)
            let resumed = try #require(recovered["last_heartbeat"] as? String)
            #expect(try await call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=\(resumed)", worker: "w1").status == .ok, "the chain goes on")

            // The same recovery by any other worker is fenced off.
            let intruder = try await call(.post, "\(base)/\(work)/heartbeat", worker: "w2")
            #expect(intruder.status == .preconditionFailed)
            // And a retried ack by the holder answers the item unchanged instead of 409.
            let again = try await call(.post, "\(base)/\(work)/ack", worker: "w1")
            #expect(again.status == .ok)
            #expect(again["fencing_token"] as? Int == token)
        }
    }
}
