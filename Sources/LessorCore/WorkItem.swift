import Foundation
import LessorRedis

/// The life of a work item.
public enum WorkState: String, Sendable, Codable, CaseIterable {
    case queued, starting, active, stopping, stopped
}

/// A work item as the API shows it (Qoder's fields, then Lessor's extensions).
public struct WorkItem: Sendable, Equatable {
    public var id: String
    public var environmentID: String
    public var dataType: String
    public var sessionID: String
    public var state: WorkState
    public var createdAt: String
    public var acknowledgedAt: String?
    public var startedAt: String?
    public var latestHeartbeatAt: String?
    public var stopRequestedAt: String?
    public var stoppedAt: String?
    public var metadata: [String: String]
    public var leaseExpiresAt: String?
    public var fencingToken: Int
    public var workerID: String?
    /// Remaining lease in ms as Redis reports it (`PTTL` of the lease key; negative when none).
    public var leaseRemainingMilliseconds: Int

    /// Reads an item from a script's `{ field, value, ..., 'lease_pttl', ms }` reply.
    /// - Parameters:
    ///   - fields: The flat field/value list.
    ///   - environmentID: Its environment.
    /// - Throws: ``RedisError/Code/unexpectedReply`` when a required field is missing.
    init(fields: some Collection<RESPValue>, environmentID: String) throws(RedisError) {
        let hash = try [String: String](hashFields: fields)
        func required(_ name: String) throws(RedisError) -> String {
            guard let value = hash[name] else { throw RedisError(.unexpectedReply, "a work item has no \(name)") }
            return value
        }
        func optional(_ name: String) -> String? {
            guard let value = hash[name], !value.isEmpty else { return nil }
            return value
        }
        guard let state = WorkState(rawValue: try required("state")) else {
            throw RedisError(.unexpectedReply, "a work item has an unknown state")
        }
        id = try required("id")
        self.environmentID = environmentID
        self.state = state
        dataType = try required("data_type")
        sessionID = try required("session_id")
        createdAt = try required("created_at")
        acknowledgedAt = optional("acknowledged_at")
        startedAt = optional("started_at")
        latestHeartbeatAt = optional("latest_heartbeat_at")
        stopRequestedAt = optional("stop_requested_at")
        stoppedAt = optional("stopped_at")
        leaseExpiresAt = optional("lease_expires_at")
        workerID = optional("worker_id")
        fencingToken = Int(try required("fencing_token")) ?? 0
        leaseRemainingMilliseconds = Int(hash["lease_pttl"] ?? "") ?? -2
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
    /// Reads a hash from a flat `field, value, ...` reply (what `HGETALL` and the scripts return).
    init(hashFields fields: some Collection<RESPValue>) throws(RedisError) {
        self.init()
        var iterator = fields.makeIterator()
        while let name = iterator.next(), let value = iterator.next() {
            self[try String(fromRESP: name)] = try String(fromRESP: value)
        }
    }
}
