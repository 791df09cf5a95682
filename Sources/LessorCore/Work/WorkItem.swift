import Foundation
import LessorRedis

/// The life of a work item.
public enum WorkState: String, Sendable, Codable, CaseIterable {
    case queued, starting, active, stopping, stopped
}

/// Why a stopped item stopped.
public enum StopReason: String, Sendable, CaseIterable {
    /// A graceful stop sent with the holder's worker id: the holder finished.
    case completed
    /// A graceful stop from anyone else (or without a worker id).
    case stoppedByRequest = "stopped_by_request"
    /// A forced stop.
    case forced
    /// Its lease lapsed `max_lapses` times: a dead letter, not requeued again.
    case leaseLapsedTooOften = "lease_lapsed_too_often"
    /// Its lease lapsed while it was stopping.
    case lapsedWhileStopping = "lapsed_while_stopping"
}

/// A work item as the API shows it (Qoder's fields, then Lessor's extensions).
public struct WorkItem: Sendable, Equatable {
    /// How long stopped items stay readable before their keys expire.
    public static let defaultRetention: Duration = .seconds(7 * 86_400)

    public var id: String
    public var environmentID: String
    public var dataType: String
    public var sessionID: String
    public var state: WorkState
    public var createdAt: Timestamp
    public var acknowledgedAt: Timestamp?
    public var startedAt: Timestamp?
    public var latestHeartbeatAt: Timestamp?
    public var stopRequestedAt: Timestamp?
    public var stoppedAt: Timestamp?
    public var metadata: [String: String]
    public var leaseExpiresAt: Timestamp?
    public var fencingToken: Int
    public var workerID: String?
    /// Acks that granted a lease.
    public var deliveryCount: Int
    /// Leases that lapsed and were reaped (or expired by hand).
    public var lapseCount: Int
    /// Set once the item is stopped.
    public var stopReason: StopReason?
    /// The remaining lease as Redis reports it (`PTTL` of the lease key); nil when none is live.
    public var leaseRemaining: Duration?

    /// An item with every field given (what a client reads from the API's JSON).
    public init(
        id: String, environmentID: String, dataType: String = "session", sessionID: String, state: WorkState, createdAt: Timestamp,
        acknowledgedAt: Timestamp? = nil, startedAt: Timestamp? = nil, latestHeartbeatAt: Timestamp? = nil,
        stopRequestedAt: Timestamp? = nil, stoppedAt: Timestamp? = nil, metadata: [String: String] = [:],
        leaseExpiresAt: Timestamp? = nil, fencingToken: Int = 0, workerID: String? = nil, deliveryCount: Int = 0,
        lapseCount: Int = 0, stopReason: StopReason? = nil, leaseRemaining: Duration? = nil
    ) {
        self.id = id
        self.environmentID = environmentID
        self.dataType = dataType
        self.sessionID = sessionID
        self.state = state
        self.createdAt = createdAt
        self.acknowledgedAt = acknowledgedAt
        self.startedAt = startedAt
        self.latestHeartbeatAt = latestHeartbeatAt
        self.stopRequestedAt = stopRequestedAt
        self.stoppedAt = stoppedAt
        self.metadata = metadata
        self.leaseExpiresAt = leaseExpiresAt
        self.fencingToken = fencingToken
        self.workerID = workerID
        self.deliveryCount = deliveryCount
        self.lapseCount = lapseCount
        self.stopReason = stopReason
        self.leaseRemaining = leaseRemaining
    }

    /// Reads an item from a function's `{ field, value, ..., 'lease_pttl', ms }` values.
    /// - Parameters:
    ///   - hash: The fields.
    ///   - environmentID: Its environment.
    /// - Throws: `unexpectedReply` when a required field is missing or unreadable.
    init(hash: [String: String], environmentID: String) throws(RedisError) {
        func required(_ name: String) throws(RedisError) -> String {
            guard let value = hash[name] else { throw RedisError(.unexpectedReply, "a work item has no \(name)") }
            return value
        }
        func optional(_ name: String) -> String? {
            guard let value = hash[name], !value.isEmpty else { return nil }
            return value
        }
        func instant(_ name: String) throws(RedisError) -> Timestamp? {
            guard let text = optional(name) else { return nil }
            guard let instant = Timestamp(rfc3339: text) else { throw RedisError(.unexpectedReply, "a work item's \(name) is not a timestamp") }
            return instant
        }
        guard let state = WorkState(rawValue: try required("state")) else {
            throw RedisError(.unexpectedReply, "a work item has an unknown state")
        }
        guard let createdAt = try instant("created_at") else { throw RedisError(.unexpectedReply, "a work item has no created_at") }
        id = try required("id")
        self.environmentID = environmentID
        self.state = state
        dataType = try required("data_type")
        sessionID = try required("session_id")
        self.createdAt = createdAt
        acknowledgedAt = try instant("acknowledged_at")
        startedAt = try instant("started_at")
        latestHeartbeatAt = try instant("latest_heartbeat_at")
        stopRequestedAt = try instant("stop_requested_at")
        stoppedAt = try instant("stopped_at")
        leaseExpiresAt = try instant("lease_expires_at")
        workerID = optional("worker_id")
        fencingToken = Int(try required("fencing_token")) ?? 0
        // Items enqueued before the counts existed have none yet: 0.
        deliveryCount = Int(hash["delivery_count"] ?? "") ?? 0
        lapseCount = Int(hash["lapse_count"] ?? "") ?? 0
        stopReason = hash["stop_reason"].flatMap(StopReason.init(rawValue:))
        let remaining = Int(hash["lease_pttl"] ?? "") ?? -2
        leaseRemaining = remaining > 0 ? .milliseconds(remaining) : nil
        metadata = MetadataJSON.decode(hash["metadata"] ?? "{}")
    }
}

/// Work item metadata as stored in its hash: a JSON object of strings.
public enum MetadataJSON {
    /// Encodes metadata (or a merge patch, whose nil values become null) as a JSON object with sorted keys.
    public static func encode<Value: Encodable>(_ metadata: [String: Value]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(metadata)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Decodes what ``encode(_:)`` or Redis's cjson wrote; anything unreadable reads as empty.
    public static func decode(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }
}

extension Dictionary where Key == String, Value == String {
    /// Reads a hash from a flat `field, value, ...` reply (what `HGETALL` and the functions return).
    init(hashFields fields: some Collection<RESPValue>) throws(RedisError) {
        self.init()
        var iterator = fields.makeIterator()
        while let name = iterator.next(), let value = iterator.next() {
            self[try String(fromRESP: name)] = try String(fromRESP: value)
        }
    }
}
