import Hummingbird
import LessorCore

/// A work item as the API shows it: Qoder's fields, then Lessor's extensions (and, in the
/// Anthropic family, `secret`); absent values are `null`.
struct WorkItemResponse: ResponseEncodable {
    let item: WorkItem
    let family: WorkFamily

    private enum Keys: String, CodingKey {
        case id, type, environmentID = "environment_id", data, state
        case createdAt = "created_at", acknowledgedAt = "acknowledged_at", startedAt = "started_at"
        case latestHeartbeatAt = "latest_heartbeat_at", stopRequestedAt = "stop_requested_at", stoppedAt = "stopped_at"
        case metadata, leaseExpiresAt = "lease_expires_at", fencingToken = "fencing_token", workerID = "worker_id"
        case deliveryCount = "delivery_count", lapseCount = "lapse_count", stopReason = "stop_reason", secret
    }

    private struct SessionData: Encodable {
        let type: String
        let id: String
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(item.id, forKey: .id)
        try container.encode("work", forKey: .type)
        try container.encode(item.environmentID, forKey: .environmentID)
        try container.encode(SessionData(type: item.dataType, id: item.sessionID), forKey: .data)
        try container.encode(item.state.rawValue, forKey: .state)
        try container.encode(item.createdAt, forKey: .createdAt)
        // Optionals through the generic `encode` so that nil is written as null, not left out.
        try container.encode(item.acknowledgedAt, forKey: .acknowledgedAt)
        try container.encode(item.startedAt, forKey: .startedAt)
        try container.encode(item.latestHeartbeatAt, forKey: .latestHeartbeatAt)
        try container.encode(item.stopRequestedAt, forKey: .stopRequestedAt)
        try container.encode(item.stoppedAt, forKey: .stoppedAt)
        try container.encode(item.metadata, forKey: .metadata)
        try container.encode(item.leaseExpiresAt, forKey: .leaseExpiresAt)
        try container.encode(item.fencingToken, forKey: .fencingToken)
        try container.encode(item.workerID, forKey: .workerID)
        try container.encode(item.deliveryCount, forKey: .deliveryCount)
        try container.encode(item.lapseCount, forKey: .lapseCount)
        try container.encode(item.stopReason?.rawValue, forKey: .stopReason)
        if family.itemsHaveSecret { try container.encode(String?.none, forKey: .secret) }
    }
}

/// `GET .../work/poll`: the item, or the JSON literal `null`.
struct PollResponse: ResponseEncodable {
    let item: WorkItem?
    let family: WorkFamily

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let item { try container.encode(WorkItemResponse(item: item, family: family)) } else { try container.encodeNil() }
    }
}

/// The seed's heartbeat reply, plus Lessor's `fencing_token`. `last_heartbeat` is "" only for
/// a stopped item that never had a heartbeat (the Anthropic family's answer on a stopped item).
struct HeartbeatResponse: ResponseGenerator {
    let lastHeartbeat: String
    let leaseExtended: Bool
    let state: String
    let ttlSeconds: Int
    let fencingToken: Int

    init(_ result: HeartbeatResult) {
        lastHeartbeat = result.lastHeartbeat?.rfc3339 ?? ""
        leaseExtended = result.leaseExtended
        state = result.state.rawValue
        ttlSeconds = Int(result.ttl.components.seconds)
        fencingToken = result.fencingToken
    }

    /// Written by hand, not by `JSONEncoder`: this is the hot path (one per heartbeat), and
    /// Foundation's encoder was 4 % of a heartbeat's CPU in bench/run.sh's profile. The
    /// strings are a Redis `TIME` stamp and a state name, which never need escaping; the
    /// field order is the one the encoder used, and a test pins the bytes.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
    }

    /// The JSON body.
    var body: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(160)
        buffer.writeString(#"{"type":"work_heartbeat","last_heartbeat":""#)
        buffer.writeString(lastHeartbeat)
        buffer.writeString(leaseExtended ? #"","lease_extended":true,"state":""# : #"","lease_extended":false,"state":""#)
        buffer.writeString(state)
        buffer.writeString(#"","ttl_seconds":"#)
        buffer.writeString(String(ttlSeconds))
        buffer.writeString(#","fencing_token":"#)
        buffer.writeString(String(fencingToken))
        buffer.writeString("}")
        return buffer
    }
}

/// A list: `{data, first_id, last_id, has_more, next_page}` in the Qoder family, `{data,
/// next_page}` in the Anthropic one.
struct ListResponse<Element: Encodable & Sendable>: ResponseEncodable {
    let data: [Element]
    let firstID: String?
    let lastID: String?
    let hasMore: Bool
    let nextPage: String?
    /// Whether `first_id`, `last_id` and `has_more` are written.
    let withBounds: Bool

    private enum CodingKeys: String, CodingKey {
        case data, firstID = "first_id", lastID = "last_id", hasMore = "has_more", nextPage = "next_page"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        if withBounds {
            try container.encode(firstID, forKey: .firstID)
            try container.encode(lastID, forKey: .lastID)
            try container.encode(hasMore, forKey: .hasMore)
        }
        try container.encode(nextPage, forKey: .nextPage)
    }
}

/// `GET .../work/stats`.
struct WorkStatsResponse: ResponseEncodable {
    let stats: WorkQueueStats

    private enum CodingKeys: String, CodingKey {
        case type, depth, pending, oldestQueuedAt = "oldest_queued_at", workersPolling = "workers_polling"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("work_queue_stats", forKey: .type)
        try container.encode(stats.depth, forKey: .depth)
        try container.encode(stats.pending, forKey: .pending)
        try container.encode(stats.oldestQueuedAt, forKey: .oldestQueuedAt)
        try container.encode(stats.workersPolling, forKey: .workersPolling)
    }
}
