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

/// The OpenWork Den worker routes over HTTP against a real redis-server.
@Suite("Den workers over HTTP", .timeLimit(.minutes(2)))
struct DenWorkerTests {
    typealias Client = APIClient

    /// Registers a worker; returns its id and activity token.
    func register(_ client: Client, name: String = "laptop-7") async throws -> (String, String) {
        let reply = try await client.call(.post, "/v1/workers", body: #"{"name":"\#(name)","description":"dev box"}"#)
        #expect(reply.status == .created)
        let id = try #require(reply["id"] as? String)
        let token = try #require((reply["tokens"] as? [String: Any])?["activity"] as? String)
        return (id, token)
    }

    func beat(_ client: Client, _ id: String, token: String?, header: String = "bearer", _ body: String) async throws -> APIReply {
        var headers: HTTPFields = [:]
        if let token {
            if header == "bearer" { headers[.authorization] = "Bearer \(token)" } else { headers[HTTPField.Name("x-den-worker-heartbeat-token")!] = token }
        }
        return try await client.call(.post, "/v1/workers/\(id)/activity-heartbeat", token: nil, headers: headers, body: body)
    }

    @Test(arguments: RedisBackend.allCases) func registryAndTheSeedExample(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, server in
            let (id, token) = try await register(client)
            #expect(WorkerID.isValid(id), "\(id)")
            var reply = try await client.call(.get, "/v1/workers/\(id)")
            #expect(reply["online"] as? Bool == false)
            #expect(reply["lastHeartbeatAt"] is NSNull)
            #expect(reply["isActiveRecently"] as? Bool == false)

            reply = try await beat(client, id, token: token, #"{"isActiveRecently":true,"openSessionCount":4503599627370495,"lastActivityAt":null}"#)
            #expect(reply.status == .ok)
            #expect(reply["ok"] as? Bool == true)
            #expect(reply["workerId"] as? String == id)
            #expect(reply["isActiveRecently"] as? Bool == true)
            #expect((reply["openSessionCount"] as? NSNumber)?.int64Value == 4_503_599_627_370_495)
            #expect(reply.raw.contains(#""openSessionCount":4503599627370495"#))
            let last = try #require(reply["lastHeartbeatAt"] as? String)
            #expect(reply["lastActiveAt"] as? String == last)

            let ttl = Int(try await server.cli("PTTL", "lessor:{\(id)}:presence")) ?? 0
            #expect(ttl > 80_000 && ttl <= 90_000)
            reply = try await client.call(.get, "/v1/workers/\(id)")
            #expect(reply["online"] as? Bool == true)
            #expect(reply["lastHeartbeatAt"] as? String == last)
            #expect((reply["openSessionCount"] as? NSNumber)?.int64Value == 4_503_599_627_370_495)
            reply = try await client.call(.get, "/v1/workers?limit=50")
            #expect((reply["data"] as? [[String: Any]])?.first?["id"] as? String == id)

            reply = try await beat(client, id, token: token, header: "den", #"{"isActiveRecently":false}"#)
            #expect(reply.status == .ok)
            #expect(reply["openSessionCount"] is NSNull)
            #expect(reply["lastActiveAt"] as? String == last, "an inactive heartbeat keeps lastActiveAt")
        }
    }

    @Test(arguments: RedisBackend.allCases) func checkOrderAndAuthentication(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let (id, token) = try await register(client)
            let (_, otherToken) = try await register(client, name: "other")
            let unknown = "wrk_01h455vb4pex5vsknk084sn02q"
            for bad in ["wrk_short", "wrk_81h455vb4pex5vsknk084sn02q", "wrk_01h455vb4pex5vsknk084sn02u", "WRK_01h455vb4pex5vsknk084sn02q", unknown] {
                let reply = try await beat(client, bad, token: token, "not json")
                #expect(reply.status == .notFound, "\(bad)")
                #expect(reply.raw == #"{"error":"worker_not_found"}"#)
            }
            var reply = try await beat(client, id, token: otherToken, "not json")
            #expect(reply.status == .unauthorized)
            #expect(reply.raw == #"{"error":"unauthorized"}"#)
            #expect(try await beat(client, id, token: nil, #"{"isActiveRecently":true}"#).status == .unauthorized)
            #expect(try await beat(client, id, token: testAdminToken, #"{"isActiveRecently":true}"#).status == .unauthorized)
            reply = try await beat(client, id, token: token, "not json")
            #expect(reply.status == .badRequest)
            #expect(reply["error"] as? String == "invalid_request")

            reply = try await client.call(.get, "/v1/workers/\(id)", token: nil)
            #expect(reply.raw == #"{"error":"unauthorized"}"#)
            let pat = try #require(try await client.call(.post, "/api/v1/tokens", body: "{}")["token"] as? String)
            reply = try await client.call(.post, "/v1/workers", token: pat, body: #"{"name":"x"}"#)
            #expect(reply.status == .forbidden)
            #expect(reply.raw == #"{"error":"forbidden"}"#)
        }
    }

    @Test(arguments: [
        (#"{}"#, "isActiveRecently", "Required"),
        (#"{"isActiveRecently":"true"}"#, "isActiveRecently", "Expected boolean"),
        (#"{"isActiveRecently":true,"openSessionCount":1.5}"#, "openSessionCount", "integer"),
        (#"{"isActiveRecently":true,"openSessionCount":-1}"#, "openSessionCount", "greater than or equal to 0"),
        (#"{"isActiveRecently":true,"openSessionCount":9007199254740992}"#, "openSessionCount", "less than or equal to 9007199254740991"),
        (#"{"isActiveRecently":true,"openSessionCount":"4"}"#, "openSessionCount", "Expected number"),
        (#"{"isActiveRecently":true,"sentAt":"2026-07-01T08:15:06+00:00"}"#, "sentAt", "Invalid datetime"),
        (#"{"isActiveRecently":true,"sentAt":"2023-02-29T00:00:00Z"}"#, "sentAt", "Invalid datetime"),
        (#"{"isActiveRecently":true,"sentAt":"2100-02-29T00:00:00Z"}"#, "sentAt", "Invalid datetime"),
        (#"{"isActiveRecently":true,"sentAt":null}"#, "sentAt", "Expected string"),
        (#"{"isActiveRecently":true,"lastActivityAt":"2026-07-01"}"#, "lastActivityAt", "Invalid datetime"),
        (#"{"isActiveRecently":true,"lastActivityAt":5}"#, "lastActivityAt", "Expected string"),
    ])
    func bodyFaultsNameTheirPath(body: String, path: String, message: String) async throws {
        try await withRoutes(.standalone) { client, _ in
            let (id, token) = try await register(client)
            let reply = try await beat(client, id, token: token, body)
            #expect(reply.status == .badRequest)
            #expect(reply["error"] as? String == "invalid_request")
            let details = try #require(reply["details"] as? [[String: Any]])
            #expect(details.first?["path"] as? [String] == [path], "\(body)")
            #expect((details.first?["message"] as? String)?.contains(message) == true, "\(details)")
        }
    }

    @Test(arguments: ["2024-02-29T00:00Z", "2000-02-29T12:30:59Z", "2026-07-01T08:15:06.1Z", "2026-07-01T08:15:06.123456789Z"])
    func acceptedTimestamps(sentAt: String) async throws {
        try await withRoutes(.standalone) { client, _ in
            let (id, token) = try await register(client)
            let reply = try await beat(client, id, token: token, #"{"isActiveRecently":true,"sentAt":"\#(sentAt)","lastActivityAt":"\#(sentAt)"}"#)
            #expect(reply.status == .ok, "\(sentAt): \(reply.raw)")
        }
    }

    @Test(arguments: RedisBackend.allCases) func anOvertakenHeartbeatNeverUndoesANewerOneAndTheFutureIsClamped(_ backend: RedisBackend) async throws {
        try await withRoutes(backend) { client, _ in
            let (id, token) = try await register(client)
            let newer = try await beat(client, id, token: token, #"{"isActiveRecently":true,"openSessionCount":5,"sentAt":"2026-01-01T00:00:10Z"}"#)
            #expect(newer["lastHeartbeatAt"] as? String == "2026-01-01T00:00:10.000000Z")
            let older = try await beat(client, id, token: token, #"{"isActiveRecently":false,"openSessionCount":1,"sentAt":"2026-01-01T00:00:05Z"}"#)
            #expect(older.status == .ok)
            #expect(older["lastHeartbeatAt"] as? String == "2026-01-01T00:00:10.000000Z")
            #expect(older["isActiveRecently"] as? Bool == false, "the response echoes the request")
            let stored = try await client.call(.get, "/v1/workers/\(id)")
            #expect(stored["isActiveRecently"] as? Bool == true)
            #expect(stored["openSessionCount"] as? Int == 5)

            let future = try await beat(client, id, token: token, #"{"isActiveRecently":true,"sentAt":"2999-01-01T00:00:00Z","lastActivityAt":"2999-01-01T00:00:00Z"}"#)
            let now = Date()
            for field in ["lastHeartbeatAt", "lastActiveAt"] {
                let text = try #require(future[field] as? String)
                let instant = try #require(Timestamp(rfc3339: text))
                #expect(abs(Double(instant.microseconds) / 1e6 - now.timeIntervalSince1970) < 60, "\(field) \(text)")
            }
        }
    }
}
