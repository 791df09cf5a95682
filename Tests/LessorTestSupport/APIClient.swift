import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1

/// One HTTP reply as the tests read it: status, headers, the raw body and its JSON.
public struct APIReply: @unchecked Sendable {  // `body` is parsed JSON, never mutated after init
    public let status: HTTPResponse.Status
    public let headers: HTTPFields
    public let raw: String
    /// The body as JSON (fragments allowed: a poll's `null`), or nil when it is not JSON.
    public let body: Any?

    public init(status: HTTPResponse.Status, headers: HTTPFields = [:], raw: String) {
        self.status = status
        self.headers = headers
        self.raw = raw
        self.body = try? JSONSerialization.jsonObject(with: Data(raw.utf8), options: [.fragmentsAllowed])
    }

    /// The body as a JSON object (empty when it is something else).
    public var json: [String: Any] { body as? [String: Any] ?? [:] }
    /// A member of the JSON object.
    public subscript(_ key: String) -> Any? { json[key] }
    /// The `/api/v1` envelope's `error` object.
    public var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
}

/// The one HTTP client of the tests: Lessor's routes in process (Hummingbird's test client
/// over the router) or a live `lessor serve` (or HAProxy) on a loopback port.
public struct APIClient: Sendable {
    enum Transport: Sendable {
        case router(any TestClientProtocol)
        case live(port: Int)
    }

    let transport: Transport
    /// The bearer token sent when a call names none.
    public let token: String?

    /// A client of routes under test.
    public init(_ router: any TestClientProtocol, token: String? = testAdminToken) {
        transport = .router(router)
        self.token = token
    }

    /// A client of a server listening on 127.0.0.1.
    public init(port: Int, token: String? = testAdminToken) {
        transport = .live(port: port)
        self.token = token
    }

    /// The port of a live client.
    public var port: Int? {
        if case .live(let port) = transport { return port }
        return nil
    }

    /// Calls a route with the client's token.
    public func call(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], worker: String? = nil, body: String? = nil) async throws -> APIReply {
        try await call(method, uri, token: token, headers: headers, worker: worker, body: body)
    }

    /// Calls a route with this token (nil: no `Authorization` header).
    public func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, headers: HTTPFields = [:], worker: String? = nil, body: String? = nil
    ) async throws -> APIReply {
        var headers = headers
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let worker { headers[HTTPField.Name("Worker-ID")!] = worker }
        switch transport {
        case .router(let client):
            return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
                APIReply(status: response.status, headers: response.headers, raw: String(buffer: response.body))
            }
        case .live(let port):
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(uri)")
            request.method = HTTPMethod(rawValue: method.rawValue)
            for field in headers { request.headers.add(name: field.name.rawName, value: field.value) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 22)
            var fields = HTTPFields()
            for (name, value) in response.headers { if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) } }
            return APIReply(status: HTTPResponse.Status(code: Int(response.status.code)), headers: fields, raw: String(buffer: bytes))
        }
    }
}

/// The admin token the tests' front nodes are started with.
public let testAdminToken = "admin-secret-for-tests"
