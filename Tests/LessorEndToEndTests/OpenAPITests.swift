import Foundation
import HTTPTypes
import LessorHTTP
import LessorTestSupport
import RedisServerHarness
import Testing

/// docs/openapi.yaml is served byte for byte and describes what a live server answers.
@Suite("OpenAPI document against a live server", .timeLimit(.minutes(3)))
struct OpenAPITests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Records responses: method, path template, status and parsed body.
    final class Recorder: @unchecked Sendable {
        // Only touched by the test's own sequential calls.
        var exchanges: [[String: Any]] = []
        let port: Int
        init(port: Int) { self.port = port }

        @discardableResult
        func call(_ method: HTTPRequest.Method, _ path: String, template: String, token: String? = testAdminToken, headers: [(String, String)] = [], body: String? = nil) async throws -> Any {
            var fields = HTTPFields()
            for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            let reply = try await APIClient(port: port).call(method, path, token: token, headers: fields, body: body)
            let json = try #require(reply.body, "\(method) \(path) answered no JSON: \(reply.raw)")
            exchanges.append(["method": method.rawValue, "path": template, "status": Int(reply.status.code), "body": json])
            return json
        }
    }

    @Test func theServedDocumentIsTheFileAndDescribesLiveResponses() async throws {
        let python = Self.repository.appendingPathComponent(".build/tools/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "run scripts/test.sh: it installs the validators in .build/tools")
        try await withRedisServer { server in try await withReplicas(1, on: server) { replicas in
            let port = replicas[0].port
            let served = try await APIClient(port: port, token: nil).call(.get, "/openapi.yaml").raw
            #expect(served == (try String(contentsOf: Self.repository.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)))

            let r = Recorder(port: port)
            let environments = "/api/v1/cloud/environments"
            let envT = "\(environments)/{environment_id}"
            try await r.call(.get, "/healthz", template: "/healthz", token: nil)
            try await r.call(.get, "/readyz", template: "/readyz", token: nil)
            let env = try #require((try await r.call(.post, environments, template: environments, body: #"{"name":"e"}"#) as? [String: Any])?["id"] as? String)
            try await r.call(.get, "\(environments)/\(env)", template: envT)
            try await r.call(.get, "\(environments)/env_00000000000000000000000000000000", template: envT)
            try await r.call(.get, "\(environments)/\(env)", template: envT, token: nil)
            let token = try #require((try await r.call(.post, "/api/v1/tokens", template: "/api/v1/tokens", body: #"{"environment_ids":["\#(env)"],"expires_in_seconds":60}"#) as? [String: Any])?["id"] as? String)
            try await r.call(.delete, "/api/v1/tokens/\(token)", template: "/api/v1/tokens/{token_id}")
            let base = "\(environments)/\(env)/work"
            let workT = "\(envT)/work/{work_id}"
            try await r.call(.get, "\(base)/poll", template: "\(envT)/work/poll")
            let work = try #require((try await r.call(.post, base, template: "\(envT)/work", body: #"{"metadata":{"a":"b"}}"#) as? [String: Any])?["id"] as? String)
            try await r.call(.post, base, template: "\(envT)/work", body: #"{"metadata":{"a":1}}"#)
            try await r.call(.get, "\(base)?limit=1", template: "\(envT)/work")
            try await r.call(.get, "\(base)/stats", template: "\(envT)/work/stats")
            try await r.call(.get, "\(base)/poll", template: "\(envT)/work/poll", headers: [("Worker-ID", "w")])
            try await r.call(.post, "\(base)/\(work)/heartbeat", template: "\(workT)/heartbeat")
            try await r.call(.post, "\(base)/\(work)/ack", template: "\(workT)/ack", headers: [("Worker-ID", "w")])
            try await r.call(.post, "\(base)/\(work)/ack", template: "\(workT)/ack", headers: [("Worker-ID", "other")])
            try await r.call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", template: "\(workT)/heartbeat")
            try await r.call(.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", template: "\(workT)/heartbeat")
            try await r.call(.post, "\(base)/\(work)/heartbeat?desired_ttl_seconds=0", template: "\(workT)/heartbeat")
            try await r.call(.post, "\(base)/\(work)", template: workT, body: #"{"metadata":{"a":null}}"#)
            try await r.call(.get, "\(base)/\(work)", template: workT)
            try await r.call(.get, "\(base)/work_00000000000000000000000000000000", template: workT)
            try await r.call(.post, "\(base)/\(work)/stop", template: "\(workT)/stop", body: "{}")
            try await r.call(.post, "\(base)/\(work)/stop", template: "\(workT)/stop", body: #"{"force":true}"#)
            // Idempotency keys: a write, its replay, the key on another request, a bad key.
            let keyed = [("Idempotency-Key", "openapi-1")]
            try await r.call(.post, base, template: "\(envT)/work", headers: keyed, body: "{}")
            try await r.call(.post, base, template: "\(envT)/work", headers: keyed, body: "{}")
            try await r.call(.post, base, template: "\(envT)/work", headers: keyed, body: #"{"metadata":{"a":"b"}}"#)
            try await r.call(.post, base, template: "\(envT)/work", headers: [("X-Idempotency-Key", String(repeating: "k", count: 257))], body: "{}")

            // Environments of both families: list, update, archive, delete.
            try await r.call(.get, "\(environments)?limit=1", template: environments)
            try await r.call(.post, "\(environments)/\(env)", template: envT, body: #"{"description":null,"metadata":{"k":"v"}}"#)
            try await r.call(.post, "\(environments)/\(env)", template: envT, body: #"{"config":{"type":"cloud"}}"#)
            try await r.call(.delete, "\(environments)/\(env)", template: envT)
            let spare = try #require((try await r.call(.post, environments, template: environments, body: #"{"name":"spare"}"#) as? [String: Any])?["id"] as? String)
            try await r.call(.post, "\(environments)/\(spare)/archive", template: "\(envT)/archive")
            try await r.call(.post, "\(environments)/\(spare)/work", template: "\(envT)/work", body: "{}")
            try await r.call(.delete, "\(environments)/\(spare)", template: envT)

            let anthropic = "/v1/environments"
            let aEnvT = "\(anthropic)/{environment_id}"
            let aWorkT = "\(aEnvT)/work/{work_id}"
            let aEnv = try #require((try await r.call(.post, anthropic, template: anthropic, body: #"{"name":"a","metadata":{"team":"x"},"max_lapses":3}"#) as? [String: Any])?["id"] as? String)
            try await r.call(.get, "\(anthropic)?include_archived=true", template: anthropic)
            try await r.call(.get, "\(anthropic)/\(aEnv)", template: aEnvT, headers: [("anthropic-version", "2023-06-01")])
            try await r.call(.post, "\(anthropic)/\(aEnv)?beta=true", template: aEnvT, body: #"{"name":"renamed"}"#)
            let aBase = "\(anthropic)/\(aEnv)/work"
            let aWork = try #require((try await r.call(.post, aBase, template: "\(aEnvT)/work", body: "{}") as? [String: Any])?["id"] as? String)
            try await r.call(.get, "\(aBase)?limit=1", template: "\(aEnvT)/work")
            try await r.call(.get, "\(aBase)?state=stopped&stop_reason=forced", template: "\(aEnvT)/work")
            try await r.call(.get, "\(aBase)/poll?block_ms=10", template: "\(aEnvT)/work/poll", headers: [("Anthropic-Worker-ID", "aw")])
            try await r.call(.get, "\(aBase)/poll", template: "\(aEnvT)/work/poll")
            try await r.call(.get, "\(aBase)/stats", template: "\(aEnvT)/work/stats")
            try await r.call(.post, "\(aBase)/\(aWork)/ack", template: "\(aWorkT)/ack", headers: [("Anthropic-Worker-ID", "aw")])
            try await r.call(.post, "\(aBase)/\(aWork)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", template: "\(aWorkT)/heartbeat")
            try await r.call(.post, "\(aBase)/\(aWork)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", template: "\(aWorkT)/heartbeat")
            try await r.call(.delete, "\(anthropic)/\(aEnv)", template: aEnvT)
            try await r.call(.post, "\(aBase)/\(aWork)", template: aWorkT, body: #"{"metadata":{"a":"b"}}"#)
            try await r.call(.get, "\(aBase)/\(aWork)", template: aWorkT)
            try await r.call(.post, "\(aBase)/\(aWork)/stop", template: "\(aWorkT)/stop", body: #"{"force":true}"#)
            try await r.call(.post, "\(aBase)/\(aWork)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", template: "\(aWorkT)/heartbeat")
            try await r.call(.post, "\(anthropic)/\(aEnv)/archive", template: "\(aEnvT)/archive", token: nil, headers: [("x-api-key", testAdminToken)])
            try await r.call(.post, aBase, template: "\(aEnvT)/work", body: "{}")
            try await r.call(.post, "\(anthropic)/\(aEnv)", template: aEnvT, body: #"{"name":"late"}"#)
            try await r.call(.delete, "\(anthropic)/\(aEnv)", template: aEnvT)

            let created = try #require(try await r.call(.post, "/v1/workers", template: "/v1/workers", body: #"{"name":"w"}"#) as? [String: Any])
            let worker = try #require(created["id"] as? String)
            let activity = try #require((created["tokens"] as? [String: Any])?["activity"] as? String)
            let beatT = "/v1/workers/{id}/activity-heartbeat"
            try await r.call(.post, "/v1/workers/\(worker)/activity-heartbeat", template: beatT, token: activity, body: #"{"isActiveRecently":true,"openSessionCount":2}"#)
            try await r.call(.post, "/v1/workers/\(worker)/activity-heartbeat", template: beatT, token: activity, headers: [("Idempotency-Key", "den-1")], body: #"{"isActiveRecently":true}"#)
            try await r.call(.post, "/v1/workers/\(worker)/activity-heartbeat", template: beatT, token: activity, headers: [("Idempotency-Key", "den-1")], body: #"{"isActiveRecently":false}"#)
            try await r.call(.post, "/v1/workers/\(worker)/activity-heartbeat", template: beatT, token: activity, body: #"{"isActiveRecently":"yes"}"#)
            try await r.call(.post, "/v1/workers/\(worker)/activity-heartbeat", template: beatT, token: "wrong", body: "{}")
            try await r.call(.post, "/v1/workers/wrk_01h455vb4pex5vsknk084sn02q/activity-heartbeat", template: beatT, token: activity, body: "{}")
            try await r.call(.get, "/v1/workers/\(worker)", template: "/v1/workers/{id}")
            try await r.call(.get, "/v1/workers?limit=5", template: "/v1/workers")

            let recorded = server.directory.appendingPathComponent("exchanges.json")
            try JSONSerialization.data(withJSONObject: r.exchanges).write(to: recorded)
            let output = server.directory.appendingPathComponent("openapi-check.log")
            let check = try ChildProcess(
                [python, Self.repository.appendingPathComponent("docs/check_responses.py").path,
                 Self.repository.appendingPathComponent("docs/openapi.yaml").path, recorded.path],
                output: output)
            let status = try await offCooperativePool { check.waitForExit(within: 60) }
            #expect(status == 0, "\((try? String(contentsOf: output, encoding: .utf8)) ?? "")")
            #expect(r.exchanges.count >= 60)
        } }
    }

    /// Schemathesis generates requests for every documented operation of every family (a fixed
    /// seed, 15 cases per operation and phase, about 4,000 in all): no 5xx, and every answer
    /// matches its documented status codes, content type and schema.
    @Test func generatedRequestsGetNo5xxAndOnlyDocumentedAnswers() async throws {
        let python = Self.repository.appendingPathComponent(".build/tools/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "run scripts/test.sh: it installs schemathesis in .build/tools")
        try await withRedisServer { server in try await withReplicas(1, on: server) { replicas in
            let output = server.directory.appendingPathComponent("schemathesis.log")
            let fuzz = try ChildProcess(
                [python, Self.repository.appendingPathComponent("Tests/Conformance/fuzz_openapi.py").path,
                 "--url", "http://127.0.0.1:\(replicas[0].port)", "--admin-token", testAdminToken, "--examples", "15", "--seed", "16"],
                environment: ["NO_COLOR": "1"], output: output)
            let status = try await offCooperativePool { fuzz.waitForExit(within: 150) }
            let log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            #expect(status == 0, "schemathesis found problems:\n\(log.suffix(20_000))")
            let summaries = log.split(separator: "\n").filter { $0.contains(" generated, ") && $0.hasSuffix(" passed") }
            #expect(summaries.count == 2, "both passes must report their cases:\n\(log.suffix(4000))")
        } }
    }
}
