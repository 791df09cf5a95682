import AsyncHTTPClient
import Foundation
import LessorCore
import NIOCore
import NIOHTTP1

/// A client of one Lessor URL, in one work API family: typed calls that return Lessor's domain
/// types and throw one ``LessorClientError``. ``withLease(environment:work:worker:ttl:_:)``
/// holds a lease while a body runs; the calls below are the pieces it is made of.
public struct LessorClient: Sendable {
    /// Which family of the work API the client speaks (both reach the same items).
    public enum Family: Sendable {
        /// `/api/v1/cloud/environments/...`, `Worker-ID`.
        case qoder
        /// `/v1/environments/...`, `Anthropic-Worker-ID`.
        case anthropic

        var environmentsPath: String { self == .qoder ? "/api/v1/cloud/environments" : "/v1/environments" }
        var workerHeader: String { self == .qoder ? "Worker-ID" : "Anthropic-Worker-ID" }
    }

    /// The server, e.g. `http://127.0.0.1:8080`, without a trailing slash.
    public let url: String
    /// The bearer token (the admin token or a PAT).
    public let token: String
    public let family: Family
    /// How long one request may take before it counts as unanswered.
    public var requestTimeout: Duration = .seconds(10)
    let http: HTTPClient

    /// Creates a client.
    /// - Parameters:
    ///   - url: The server's base URL (a trailing slash is dropped).
    ///   - token: The admin token or a personal access token.
    ///   - family: The API family to speak; `.qoder` by default.
    ///   - httpClient: The HTTP client (AsyncHTTPClient's shared one by default).
    public init(url: String, token: String, family: Family = .qoder, httpClient: HTTPClient = .shared) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
        self.family = family
        self.http = httpClient
    }

    // MARK: work items

    /// Enqueues an item (Lessor's own route).
    public func enqueue(environment: String, metadata: [String: String] = [:], idempotencyKey: String? = nil) async throws(LessorClientError) -> WorkItem {
        let body = try Self.json(["metadata": metadata])
        return try item(try await send(.POST, workPath(environment), body: body, idempotencyKey: idempotencyKey), environment: environment)
    }

    /// Delivers the next available item, or nil; `block` long-polls (at most 999 ms).
    public func poll(environment: String, worker: String?, block: Duration? = nil) async throws(LessorClientError) -> WorkItem? {
        var query: [(String, String)] = []
        if let block { query.append(("block_ms", String(max(1, min(999, Int(block / .milliseconds(1))))))) }
        let answer = try await send(.GET, workPath(environment) + "/poll", query: query, worker: worker)
        guard let object = try? JSONSerialization.jsonObject(with: answer.body, options: [.fragmentsAllowed]), object is [String: Any] else { return nil }
        return try item(answer, environment: environment)
    }

    /// Acknowledges an item: its first lease, under `worker`.
    public func ack(environment: String, work: String, worker: String?, idempotencyKey: String? = nil) async throws(LessorClientError) -> WorkItem {
        try item(try await send(.POST, workPath(environment, work) + "/ack", worker: worker, idempotencyKey: idempotencyKey), environment: environment)
    }

    /// One heartbeat: compare-and-set of the last heartbeat (when `expected` is given) and renewal.
    /// - Parameters:
    ///   - expected: `.none` (`NO_HEARTBEAT`), `.at(stamp)`, or nil for an unconditional beat.
    ///   - ttl: The lease asked for (the server clamps it to 10–600 s); nil: the server default.
    ///   - timeout: How long to wait for the answer; the client's request timeout by default.
    public func heartbeat(
        environment: String, work: String, worker: String?, expected: ExpectedLastHeartbeat?, ttl: Duration? = nil,
        idempotencyKey: String? = nil, timeout: Duration? = nil
    ) async throws(LessorClientError) -> HeartbeatResult {
        var query: [(String, String)] = []
        switch expected {
        case nil: break
        case .none?: query.append(("expected_last_heartbeat", "NO_HEARTBEAT"))
        case .at(let stamp)?: query.append(("expected_last_heartbeat", stamp.rfc3339))
        }
        if let ttl { query.append(("desired_ttl_seconds", String(max(1, Int(ttl.components.seconds))))) }
        let answer = try await send(.POST, workPath(environment, work) + "/heartbeat", query: query, worker: worker, idempotencyKey: idempotencyKey, timeout: timeout)
        let json = try Self.object(answer)
        guard let state = (json["state"] as? String).flatMap(WorkState.init(rawValue:)), let seconds = json["ttl_seconds"] as? Int,
              let token = json["fencing_token"] as? Int, let extended = json["lease_extended"] as? Bool
        else { throw Self.unreadable(answer) }
        let last = (json["last_heartbeat"] as? String).flatMap { Timestamp(rfc3339: $0) }
        return HeartbeatResult(lastHeartbeat: last, leaseExtended: extended, state: state, ttl: .seconds(seconds), fencingToken: token)
    }

    /// Stops an item: gracefully (as its holder when `worker` names it: then straight to
    /// `stopped`, `completed`), or by force.
    public func stop(environment: String, work: String, worker: String?, force: Bool = false, idempotencyKey: String? = nil) async throws(LessorClientError) -> WorkItem {
        let body = try Self.json(["force": force])
        return try item(try await send(.POST, workPath(environment, work) + "/stop", worker: worker, body: body, idempotencyKey: idempotencyKey), environment: environment)
    }

    /// Reads an item.
    public func get(environment: String, work: String) async throws(LessorClientError) -> WorkItem {
        try item(try await send(.GET, workPath(environment, work)), environment: environment)
    }

    /// Merge-patches an item's metadata: a string upserts its key, nil deletes it.
    public func updateMetadata(environment: String, work: String, _ patch: [String: String?], idempotencyKey: String? = nil) async throws(LessorClientError) -> WorkItem {
        let body = try Self.json(["metadata": patch.mapValues { $0 as Any? ?? NSNull() }])
        return try item(try await send(.POST, workPath(environment, work), body: body, idempotencyKey: idempotencyKey), environment: environment)
    }

    /// One page of items in id order, and the cursor of the next (nil: the last page).
    public func list(environment: String, limit: Int = 20, page: String? = nil) async throws(LessorClientError) -> (items: [WorkItem], nextPage: String?) {
        var query = [("limit", String(limit))]
        if let page { query.append(("page", page)) }
        let answer = try await send(.GET, workPath(environment), query: query)
        let json = try Self.object(answer)
        guard let data = json["data"] as? [[String: Any]] else { throw Self.unreadable(answer) }
        var items: [WorkItem] = []
        for object in data {
            guard let item = Self.workItem(object, environment: environment) else { throw Self.unreadable(answer) }
            items.append(item)
        }
        return (items, json["next_page"] as? String)
    }

    /// The environment's queue figures.
    public func stats(environment: String) async throws(LessorClientError) -> WorkQueueStats {
        let answer = try await send(.GET, workPath(environment) + "/stats")
        let json = try Self.object(answer)
        guard let depth = json["depth"] as? Int, let pending = json["pending"] as? Int, let polling = json["workers_polling"] as? Int else {
            throw Self.unreadable(answer)
        }
        return WorkQueueStats(
            depth: depth, pending: pending, oldestQueuedAt: (json["oldest_queued_at"] as? String).flatMap { Timestamp(rfc3339: $0) },
            workersPolling: polling)
    }

    // MARK: Den

    /// One Den activity heartbeat of a worker, with its activity token (not the client's token).
    public func activityHeartbeat(
        worker: String, activityToken: String, isActiveRecently: Bool, openSessionCount: Int? = nil, idempotencyKey: String? = nil
    ) async throws(LessorClientError) -> ActivityHeartbeatResult {
        var fields: [String: Any] = ["isActiveRecently": isActiveRecently]
        if let openSessionCount { fields["openSessionCount"] = openSessionCount }
        let answer = try await send(.POST, "/v1/workers/\(worker)/activity-heartbeat", body: try Self.json(fields), idempotencyKey: idempotencyKey, token: activityToken)
        let json = try Self.object(answer)
        guard let last = (json["lastHeartbeatAt"] as? String).flatMap({ Timestamp(rfc3339: $0) }) else { throw Self.unreadable(answer) }
        return ActivityHeartbeatResult(lastHeartbeatAt: last, lastActiveAt: (json["lastActiveAt"] as? String).flatMap { Timestamp(rfc3339: $0) })
    }

    // MARK: plumbing

    struct Answer {
        var status: Int
        var body: Data
        var requestID: String?
    }

    private func workPath(_ environment: String, _ work: String? = nil) -> String {
        family.environmentsPath + "/" + environment + "/work" + (work.map { "/" + $0 } ?? "")
    }

    /// Sends one request; a 2xx answer is returned, any other is thrown as its error.
    func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], worker: String? = nil, body: Data? = nil,
        idempotencyKey: String? = nil, token: String? = nil, timeout: Duration? = nil
    ) async throws(LessorClientError) -> Answer {
        var target = url + path
        if !query.isEmpty {
            var components = URLComponents()
            components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
            // '+' in a timestamp's offset would read as a space.
            target += "?" + (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        }
        var request = HTTPClientRequest(url: target)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token ?? self.token)")
        if let worker { request.headers.add(name: family.workerHeader, value: worker) }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let limit = timeout ?? requestTimeout
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(Int64(limit / .nanoseconds(1))))
            let bytes = try await response.body.collect(upTo: 4 << 20)
            let answer = Answer(status: Int(response.status.code), body: Data(bytes.readableBytesView), requestID: response.headers.first(name: "request-id"))
            guard (200..<300).contains(answer.status) else { throw LessorClientError.answer(status: answer.status, body: answer.body, requestID: answer.requestID) }
            return answer
        } catch let error as LessorClientError {
            throw error
        } catch {
            throw LessorClientError(status: nil, type: "transport", message: "\(method) \(path): \(error)")
        }
    }

    private static func json(_ object: [String: Any]) throws(LessorClientError) -> Data {
        do {
            return try JSONSerialization.data(withJSONObject: object)
        } catch {
            throw LessorClientError(status: nil, type: "invalid_request", message: "the request body cannot be JSON: \(error)")
        }
    }

    private static func object(_ answer: Answer) throws(LessorClientError) -> [String: Any] {
        guard let json = (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any] else { throw unreadable(answer) }
        return json
    }

    private static func unreadable(_ answer: Answer) -> LessorClientError {
        LessorClientError(status: answer.status, type: "unreadable_answer", message: "an answer of another shape: \(String(decoding: answer.body.prefix(200), as: UTF8.self))", requestID: answer.requestID)
    }

    private func item(_ answer: Answer, environment: String) throws(LessorClientError) -> WorkItem {
        guard let item = Self.workItem(try Self.object(answer), environment: environment) else { throw Self.unreadable(answer) }
        return item
    }

    /// A work item from the API's JSON object.
    static func workItem(_ json: [String: Any], environment: String) -> WorkItem? {
        func stamp(_ name: String) -> Timestamp? { (json[name] as? String).flatMap { Timestamp(rfc3339: $0) } }
        guard let id = json["id"] as? String, let state = (json["state"] as? String).flatMap(WorkState.init(rawValue:)),
              let createdAt = stamp("created_at"), let data = json["data"] as? [String: Any], let session = data["id"] as? String
        else { return nil }
        return WorkItem(
            id: id, environmentID: json["environment_id"] as? String ?? environment, dataType: data["type"] as? String ?? "session",
            sessionID: session, state: state, createdAt: createdAt, acknowledgedAt: stamp("acknowledged_at"), startedAt: stamp("started_at"),
            latestHeartbeatAt: stamp("latest_heartbeat_at"), stopRequestedAt: stamp("stop_requested_at"), stoppedAt: stamp("stopped_at"),
            metadata: json["metadata"] as? [String: String] ?? [:], leaseExpiresAt: stamp("lease_expires_at"),
            fencingToken: json["fencing_token"] as? Int ?? 0, workerID: json["worker_id"] as? String,
            deliveryCount: json["delivery_count"] as? Int ?? 0, lapseCount: json["lapse_count"] as? Int ?? 0,
            stopReason: (json["stop_reason"] as? String).flatMap(StopReason.init(rawValue:)))
    }
}
