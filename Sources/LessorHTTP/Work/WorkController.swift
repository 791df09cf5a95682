import Foundation
import HTTPTypes
import Hummingbird
import LessorCore
import LessorRedis
import Metrics

/// The self-hosted work API, in one of its two families (``WorkFamily``). Check order, first
/// failure wins: 401 → 400 (parameters, body) → 403 → 404 environment → 400 not self-hosted
/// (or archived, for new work) → 404 work item → 409 → 412.
struct WorkController: Sendable {
    typealias Context = LessorRequestContext

    let family: WorkFamily
    let functions: LessorFunctions
    let authenticator: TokenAuthenticator
    let ids: IdentifierGenerator
    let wakeups: PollWakeups
    /// The lease an ack grants and a heartbeat without `desired_ttl_seconds` renews.
    let defaultTTL: Duration
    /// `lessor_leases_granted_total`: acks that granted (or confirmed) a lease.
    let leasesGranted = Counter(label: "lessor_leases_granted_total")
    /// `lessor_leases_extended_total`: heartbeats that found the lease live.
    let leasesExtended = Counter(label: "lessor_leases_extended_total")
    /// `lessor_leases_lapsed_total`: heartbeats that found the lease lapsed and re-established it.
    let leasesLapsed = Counter(label: "lessor_leases_lapsed_total")
    /// `lessor_long_polls_waiting`: long polls of this node waiting for work now.
    let longPollsWaiting = Gauge(label: "lessor_long_polls_waiting")
    /// `lessor_long_poll_wakeups_total`: long-poll waits an item's wakeup ended before their deadline.
    let longPollWakeups = Counter(label: "lessor_long_poll_wakeups_total")

    /// Every route of the work API, with the family's error middleware.
    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.add(middleware: family.errorMiddleware)
        let items = routes.group(RouterPath(family.environmentsPath + "/:environment_id/work"))
        items.post(use: enqueue)
        items.get(use: list)
        items.get("poll", use: poll)
        items.get("stats", use: stats)
        items.get(":work_id", use: get)
        items.post(":work_id", use: patchMetadata)
        items.post(":work_id/ack", use: ack)
        items.post(":work_id/heartbeat", use: heartbeat)
        items.post(":work_id/stop", use: stop)
        return routes
    }

    // MARK: work

    @Sendable func enqueue(request: Request, context: Context) async throws -> EditedResponse<WorkItemResponse> {
        let principal = try await authenticator.principal(for: request)
        let body = try await JSONBody.read(request, context: context)
        var sessionID = ids.next(.session)
        if let data = try body.object("data") {
            let fields = JSONBody(members: data)
            if let type = try fields.string("type", param: "data.type"), type != "session" {
                throw RequestError.invalid("data.type must be session", param: "data.type")
            }
            if let id = try fields.string("id", param: "data.id") {
                guard (1...256).contains(id.utf8.count) else { throw RequestError.invalid("data.id must be 1 to 256 characters", param: "data.id") }
                sessionID = id
            }
        }
        let metadata = try body.metadata() ?? [:]
        let idempotency = try await IdempotencyHeader.read(request, context: context, principal: principal.idempotencyScope, body: body.bytes)
        let environment = try context.environment(usableBy: principal)
        let item = try await functions.call(
            WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: sessionID, metadata: metadata), idempotency: idempotency)
        return item.response(status: .created) { WorkItemResponse(item: $0, family: family) }
    }

    @Sendable func poll(request: Request, context: Context) async throws -> PollResponse {
        let principal = try await authenticator.principal(for: request)
        let query = request.uri.queryParameters
        let worker = try family.workerID(request.headers)
        var block: Int?
        if let text = query["block_ms"] {
            guard let value = QueryValues.digits(text), (1...999).contains(value) else {
                throw RequestError.invalid("block_ms must be an integer from 1 to 999", param: "block_ms")
            }
            block = value
        }
        var reclaim = WorkPoll.defaultReclaimAfter
        if let text = query["reclaim_older_than_ms"] {
            guard let value = QueryValues.digits(text) else {
                throw RequestError.invalid("reclaim_older_than_ms must be a non-negative integer", param: "reclaim_older_than_ms")
            }
            reclaim = .milliseconds(value)
        }
        let environment = try context.environment(usableBy: principal)
        let call = WorkPoll(environmentID: environment, workerID: worker, reclaimAfter: reclaim)
        let pollOnce = { () async throws(StoreError) -> WorkItem? in
            let result = try await functions.call(call)
            DeadLetters.count(result.deadLettered)
            return result.item
        }
        guard let block else { return PollResponse(item: try await pollOnce(), family: family) }
        // Long poll: registered before the first poll so no wakeup is missed; polls again
        // only when an item became pollable in this environment, or once at the deadline.
        let deadline = ContinuousClock.now + .milliseconds(block)
        let waiter = wakeups.register(environment: environment)
        longPollsWaiting.record(wakeups.waiting)
        defer {
            wakeups.unregister(waiter)
            longPollsWaiting.record(wakeups.waiting)
        }
        while true {
            if let item = try await pollOnce() { return PollResponse(item: item, family: family) }
            if ContinuousClock.now >= deadline { return PollResponse(item: nil, family: family) }
            await waiter.wait(until: deadline)
            if ContinuousClock.now < deadline { longPollWakeups.increment() }
        }
    }

    @Sendable func ack(request: Request, context: Context) async throws -> EditedResponse<WorkItemResponse> {
        let principal = try await authenticator.principal(for: request)
        let worker = try family.workerID(request.headers)
        let idempotency = try await IdempotencyHeader.read(request, context: context, principal: principal.idempotencyScope, workerID: worker)
        let environment = try context.environment(usableBy: principal)
        let workID = try context.parameters.require("work_id")
        let item = try await functions.call(
            WorkAck(environmentID: environment, workID: workID, workerID: worker, leaseTTL: defaultTTL), idempotency: idempotency)
        if !item.replayed { leasesGranted.increment() }
        return item.response { WorkItemResponse(item: $0, family: family) }
    }

    @Sendable func heartbeat(request: Request, context: Context) async throws -> EditedResponse<HeartbeatResponse> {
        let principal = try await authenticator.principal(for: request)
        let query = request.uri.queryParameters
        let ttl = try DesiredTTL.parse(query["desired_ttl_seconds"].map(String.init)) ?? defaultTTL
        let expected = try ExpectedLastHeartbeat.parse(query["expected_last_heartbeat"].map(String.init))
        let worker = try family.workerID(request.headers)
        let idempotency = try await IdempotencyHeader.read(request, context: context, principal: principal.idempotencyScope, workerID: worker)
        let environment = try context.environment(usableBy: principal)
        let workID = try context.parameters.require("work_id")
        let result = try await functions.call(
            WorkHeartbeat(environmentID: environment, workID: workID, workerID: worker, expected: expected, ttl: ttl, stopHandling: family.stopHandling),
            idempotency: idempotency)
        if !result.replayed, result.value.state != .stopped { (result.value.leaseExtended ? leasesExtended : leasesLapsed).increment() }
        return result.response(HeartbeatResponse.init)
    }

    @Sendable func stop(request: Request, context: Context) async throws -> EditedResponse<WorkItemResponse> {
        let principal = try await authenticator.principal(for: request)
        let body = try await JSONBody.read(request, context: context)
        let force = try body.bool("force") ?? false
        let worker = try family.workerID(request.headers)
        let idempotency = try await IdempotencyHeader.read(
            request, context: context, principal: principal.idempotencyScope, workerID: worker, body: body.bytes)
        let environment = try context.environment(usableBy: principal)
        let workID = try context.parameters.require("work_id")
        let stop = WorkStop(environmentID: environment, workID: workID, force: force, workerID: worker)
        return try await functions.call(stop, idempotency: idempotency).response { WorkItemResponse(item: $0, family: family) }
    }

    @Sendable func get(request: Request, context: Context) async throws -> WorkItemResponse {
        let principal = try await authenticator.principal(for: request)
        let environment = try context.environment(usableBy: principal)
        let workID = try context.parameters.require("work_id")
        return WorkItemResponse(item: try await functions.call(WorkGet(environmentID: environment, workID: workID)), family: family)
    }

    @Sendable func patchMetadata(request: Request, context: Context) async throws -> EditedResponse<WorkItemResponse> {
        let principal = try await authenticator.principal(for: request)
        let body = try await JSONBody.read(request, context: context, required: true)
        guard let patch = try body.metadataPatch() else {
            throw RequestError.invalid("metadata must be an object of string or null values", param: "metadata")
        }
        let idempotency = try await IdempotencyHeader.read(request, context: context, principal: principal.idempotencyScope, body: body.bytes)
        let environment = try context.environment(usableBy: principal)
        let workID = try context.parameters.require("work_id")
        return try await functions.call(WorkMetadata(environmentID: environment, workID: workID, patch: patch), idempotency: idempotency)
            .response { WorkItemResponse(item: $0, family: family) }
    }

    @Sendable func list(request: Request, context: Context) async throws -> ListResponse<WorkItemResponse> {
        let principal = try await authenticator.principal(for: request)
        let query = request.uri.queryParameters
        let limit = try QueryValues.pageLimit(request)
        let after = query["after_id"].map(String.init)
        let before = query["before_id"].map(String.init)
        if after != nil, before != nil {
            throw RequestError.invalid("before_id and after_id are mutually exclusive", param: "before_id")
        }
        var cursor: PageCursor?
        if let page = query["page"] {
            guard after == nil, before == nil else {
                throw RequestError.invalid("page cannot be combined with before_id or after_id", param: "page")
            }
            guard let decoded = PageCursor(String(page), kind: .work) else { throw RequestError.invalid("page is not a cursor this API returned", param: "page") }
            cursor = decoded
        }
        for (name, value) in [("after_id", after), ("before_id", before)] {
            if let value, value.isEmpty { throw RequestError.invalid("\(name) must not be empty", param: name) }
        }
        let state = try query["state"].map { text throws(RequestError) -> WorkState in
            guard let state = WorkState(rawValue: String(text)) else {
                throw .invalid("state must be one of \(WorkState.allCases.map(\.rawValue).joined(separator: ", "))", param: "state")
            }
            return state
        }
        let stopReason = try query["stop_reason"].map { text throws(RequestError) -> StopReason in
            guard let reason = StopReason(rawValue: String(text)) else {
                throw .invalid("stop_reason must be one of \(StopReason.allCases.map(\.rawValue).joined(separator: ", "))", param: "stop_reason")
            }
            return reason
        }
        let environment = try context.environment(usableBy: principal)
        let backwards = cursor?.backwards ?? (before != nil)
        let boundary = cursor?.id ?? before ?? after
        let page = try await functions.call(
            WorkList(environmentID: environment, limit: limit, boundary: backwards ? .before(boundary) : .after(boundary), state: state, stopReason: stopReason))
        let next: PageCursor? = page.hasMore
            ? (backwards ? page.items.first.map { PageCursor(id: $0.id, backwards: true) } : page.items.last.map { PageCursor(id: $0.id, backwards: false) })
            : nil
        return ListResponse(
            data: page.items.map { WorkItemResponse(item: $0, family: family) }, firstID: page.items.first?.id, lastID: page.items.last?.id,
            hasMore: page.hasMore, nextPage: next?.text, withBounds: family.listsHaveBounds)
    }

    @Sendable func stats(request: Request, context: Context) async throws -> WorkStatsResponse {
        let principal = try await authenticator.principal(for: request)
        let environment = try context.environment(usableBy: principal)
        let stats = try await functions.call(WorkStats(environmentID: environment, pollingWindow: family.pollingWindow))
        DeadLetters.count(stats.deadLettered)
        return WorkStatsResponse(stats: stats)
    }
}

/// The opaque `page` cursor of a list: direction and boundary id, base64url.
struct PageCursor: Equatable {
    let id: String
    let backwards: Bool

    init(id: String, backwards: Bool) {
        self.id = id
        self.backwards = backwards
    }

    /// Reads a cursor this API returned for a list of `kind` ids; nil for anything else.
    init?(_ text: String, kind: IdentifierKind) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let decoded = String(data: data, encoding: .utf8) else { return nil }
        let parts = decoded.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0] == "a" || parts[0] == "b", kind.isValid(parts[1]) else { return nil }
        id = String(parts[1])
        backwards = parts[0] == "b"
    }

    var text: String {
        Data("\(backwards ? "b" : "a"):\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
