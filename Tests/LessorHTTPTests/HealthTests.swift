import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LessorCore
import LessorHTTP
import LessorRedis
import RedisServerHarness
import Testing

@Suite("healthz, readyz and request ids", .timeLimit(.minutes(2)))
struct HealthTests {
    func client(_ server: RedisServerProcess) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .milliseconds(500)
        configuration.reconnectBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        return try RedisClient(configuration: configuration)
    }

    @Test func healthzAndReadyzFollowRedis() async throws {
        try await withRedisServer { server in
            let redis = try client(server)
            defer { redis.shutDown() }
            let app = Application(router: buildRouter(functions: LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor")), settings: RouteSettings()))
            try await app.test(.router) { http in
                try await http.execute(uri: "/healthz", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
                    #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                }
                try await http.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .ok)
                }
                await server.stop()
                try await http.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(String(buffer: response.body) == #"{"status":"unavailable"}"#)
                }
                try await http.execute(uri: "/healthz", method: .get) { response in
                    #expect(response.status == .ok)
                }
                try await server.restart()
                var ready = false
                for _ in 0..<100 where !ready {
                    try await http.execute(uri: "/readyz", method: .get) { response in ready = response.status == .ok }
                    if !ready { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(ready, "readyz must recover once Redis is back")
            }
        }
    }

    /// A rolling deploy: the old release's library (another version) stays loaded beside this
    /// one, so the old release's nodes keep their functions while the new ones serve.
    @Test func readinessLoadsThisLibraryBesideAnOldReleasesOne() async throws {
        try await withRedisServer { server in
            let old = "#!lua name=lessor_v1\nredis.register_function('lessor_v1_work_get', function() return { 'ok' } end)\n"
            _ = try await server.cli("FUNCTION", "LOAD", old)
            let redis = try client(server)
            defer { redis.shutDown() }
            let app = Application(router: buildRouter(functions: LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor")), settings: RouteSettings()))
            try await app.test(.router) { http in
                try await http.execute(uri: "/readyz", method: .get) { response in #expect(response.status == .ok) }
            }
            let libraries = try await server.cli("FUNCTION", "LIST")
            #expect(libraries.contains("lessor_v1") && libraries.contains(LessorLibrary.embedded.name), "\(libraries)")
            #expect(LessorLibrary.embedded.name != "lessor_v1")
            #expect(try await server.cli("FCALL", "lessor_v1_work_get", "0") == "ok", "the old release's function still answers")
        }
    }

    @Test func requestIDsAreEchoedOrMinted() async throws {
        try await withRedisServer { server in
            let redis = try client(server)
            defer { redis.shutDown() }
            let app = Application(router: buildRouter(functions: LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor")), settings: RouteSettings()))
            try await app.test(.router) { http in
                try await http.execute(uri: "/healthz", method: .get, headers: [.requestID: "req-123_abc"]) { response in
                    #expect(response.headers[.requestID] == "req-123_abc")
                }
                try await http.execute(uri: "/healthz", method: .get) { response in
                    let id = try #require(response.headers[.requestID])
                    #expect(UUID(uuidString: id) != nil)
                }
                try await http.execute(uri: "/healthz", method: .get, headers: [.requestID: String(repeating: "x", count: 129)]) { response in
                    #expect(response.headers[.requestID]?.count == 36)
                }
                try await http.execute(uri: "/no-such-route", method: .get, headers: [.requestID: "r-404"]) { response in
                    #expect(response.status == .notFound)
                    #expect(response.headers[.requestID] == "r-404")
                    #expect(String(buffer: response.body).contains(#""request_id":"r-404""#))
                }
            }
        }
    }

    @Test(arguments: [
        ("abc", "abc"), ("", nil), ("has space", "has space"), ("tab\there", nil), ("ünï", nil),
        (String(repeating: "a", count: 128), String(repeating: "a", count: 128)),
    ] as [(String, String?)])
    func requestIDRules(header: String, kept: String?) {
        let id = RequestIDMiddleware.requestID(from: header)
        if let kept { #expect(id == kept) } else { #expect(id != header && id.count == 36) }
    }
}
