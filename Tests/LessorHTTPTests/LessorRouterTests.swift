import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LessorCore
@testable import LessorHTTP
import LessorRedis
import NIOCore
import RedisServerHarness
import Testing

/// The heartbeats' fast path answers exactly as the router would, in both work API families.
@Suite("Heartbeat fast path", .timeLimit(.minutes(2)))
struct LessorRouterTests {
    typealias Responder = LessorRouter.Responder

    static let prefix = "/api/v1/cloud/environments/"

    @Test func thePlainHeartbeatPathIsMatched() throws {
        let match = try #require(Responder.heartbeatPath("/api/v1/cloud/environments/env_1/work/work_2/heartbeat", prefix: Self.prefix))
        #expect(match.environment == "env_1")
        #expect(match.work == "work_2")
        #expect(Responder.heartbeatPath("/api/v1/cloud/environments/e/work/w/heartbeat", prefix: Self.prefix)?.work == "w")
        #expect(Responder.heartbeatPath("/v1/environments/env_1/work/work_2/heartbeat", prefix: "/v1/environments/")?.work == "work_2")
        #expect(Responder.heartbeatPath("/v1/environments/env_1/work/work_2/heartbeat", prefix: Self.prefix) == nil)
    }

    @Test(arguments: [
        "/api/v1/cloud/environments/env_1/work/work_2/heartbeat/", "/api/v1/cloud/environments//work/work_2/heartbeat",
        "/api/v1/cloud/environments/env_1/work//heartbeat", "/api/v1/cloud/environments/env_1/work/work_2/Heartbeat",
        "/api/v1/cloud/environments/env_1/work/work_2/heartbeats", "/api/v1/cloud/environments/env_1/work/a/b/heartbeat",
        "/api/v1/cloud/environments/env_1/x/work/work_2/heartbeat", "/api/v1/cloud/environments/env_1/work/work_2/ack",
        "//api/v1/cloud/environments/env_1/work/work_2/heartbeat", "/api/v1/cloud/environments/env_1/work/work_2",
        "/api/v1/cloud/environments/env_1/work/heartbeat", "/api/v1/cloud/environments/work//heartbeat", "",
    ])
    func anythingElseGoesToTheRouter(_ path: String) {
        #expect(Responder.heartbeatPath(path, prefix: Self.prefix) == nil)
    }

    @Test func theMetricsLabelsAreTheRoutersOwn() {
        #expect(WorkFamily.qoder.heartbeatEndpoint == RouterPath("api/v1/cloud/environments/:environment_id/work/:work_id/heartbeat").description)
        #expect(WorkFamily.anthropic.heartbeatEndpoint == RouterPath("v1/environments/:environment_id/work/:work_id/heartbeat").description)
    }

    /// The same requests through the fast path and through the plain router: same status,
    /// same error envelope, same fields.
    @Test(arguments: ["qoder", "anthropic"])
    func answersMatchTheRouters(_ familyName: String) async throws {
        let family = familyName == "qoder" ? WorkFamily.qoder : .anthropic
        try await withRedisServer { server in
            let redis = try RedisClient(configuration: server.clientConfiguration)
            defer { redis.shutDown() }
            let routes = buildRouter(functions: LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor")), settings: RouteSettings(adminToken: "admin"))
            let plainApp = Application(router: routes.router)
            try await Application(router: routes).test(.router) { fast in
                try await plainApp.test(.router) { plain in
                    func call(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String? = "admin", worker: String? = nil, body: String? = nil) async throws -> (HTTPResponse.Status, [String: Any]) {
                        var headers: HTTPFields = [:]
                        if let token { headers[.authorization] = "Bearer \(token)" }
                        if let worker { headers[family.workerHeader] = worker }
                        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
                            (response.status, (try? JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8))) as? [String: Any] ?? [:])
                        }
                    }
                    let env = try #require(try await call(plain, .post, "/api/v1/cloud/environments", body: #"{"name":"e","config":{"type":"self_hosted"}}"#).1["id"] as? String)
                    let cloud = try #require(try await call(plain, .post, "/api/v1/cloud/environments", body: #"{"name":"c","config":{"type":"cloud"}}"#).1["id"] as? String)
                    let environments = "/\(family.environmentsPath)"
                    let base = "\(environments)/\(env)/work"
                    let work = try #require(try await call(plain, .post, base, body: "{}").1["id"] as? String)
                    let queued = try #require(try await call(plain, .post, base, body: "{}").1["id"] as? String)
                    _ = try await call(plain, .post, "\(base)/\(work)/ack", worker: "w")
                    let cases: [(HTTPRequest.Method, String, String?, String?)] = [
                        (.post, "\(base)/\(work)/heartbeat", "admin", "w"),
                        (.post, "\(base)/\(work)/heartbeat?desired_ttl_seconds=0", "admin", "w"),
                        (.post, "\(base)/\(work)/heartbeat?desired_ttl_seconds=", "admin", nil),
                        (.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=2026-02-30T00:00:00Z", "admin", nil),
                        (.post, "\(base)/\(work)/heartbeat?expected_last_heartbeat=NO_HEARTBEAT", "admin", "w"),
                        (.post, "\(base)/\(work)/heartbeat", "admin", "someone-else"),
                        (.post, "\(base)/\(work)/heartbeat", nil, nil),
                        (.post, "\(base)/\(work)/heartbeat", "wrong", nil),
                        (.post, "\(base)/\(queued)/heartbeat", "admin", nil),
                        (.post, "\(base)/work_00000000000000000000000000000000/heartbeat", "admin", nil),
                        (.post, "\(base)/not-an-id/heartbeat", "admin", nil),
                        (.post, "\(environments)/env_00000000000000000000000000000000/work/\(work)/heartbeat", "admin", nil),
                        (.post, "\(environments)/\(cloud)/work/\(work)/heartbeat", "admin", nil),
                        (.post, "\(base)/\(work)/heartbeat/", "admin", nil),
                        (.get, "\(base)/\(work)/heartbeat", "admin", nil),
                    ]
                    var seen: Set<Int> = []
                    for (method, uri, token, worker) in cases {
                        let (fastStatus, fastBody) = try await call(fast, method, uri, token: token, worker: worker)
                        let (plainStatus, plainBody) = try await call(plain, method, uri, token: token, worker: worker)
                        seen.insert(fastStatus.code)
                        #expect(fastStatus == plainStatus, "\(method) \(uri)")
                        #expect(Set(fastBody.keys) == Set(plainBody.keys), "\(method) \(uri)")
                        #expect(Self.comparable(fastBody["error"]) == Self.comparable(plainBody["error"]), "\(method) \(uri)")
                        #expect(fastBody["state"] as? String == plainBody["state"] as? String, "\(method) \(uri)")
                    }
                    #expect(seen.isSuperset(of: [200, 400, 401, 404, 409, 412]), "the cases cover every answer: \(seen.sorted())")
                }
            }
        }
    }

    /// An error object without the remaining lease of a 412's `current_state`, which two calls a moment apart may round differently.
    static func comparable(_ error: Any?) -> NSDictionary {
        var error = error as? [String: Any] ?? [:]
        if var details = error["details"] as? [String: Any], var state = details["current_state"] as? [String: Any] {
            state["ttl_seconds"] = nil
            details["current_state"] = state
            error["details"] = details
        }
        return NSDictionary(dictionary: error)
    }
}
