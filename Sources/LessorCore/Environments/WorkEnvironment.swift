import Foundation
import LessorRedis

/// Where work runs: `self_hosted` environments serve the work API, `cloud` ones do not.
public enum EnvironmentKind: String, Sendable, Codable, CaseIterable {
    case selfHosted = "self_hosted"
    case cloud
}

/// An environment as the API shows it.
public struct WorkEnvironment: Sendable, Equatable {
    public var id: String
    public var name: String
    /// nil when none was given (or it was cleared).
    public var description: String?
    public var kind: EnvironmentKind
    public var metadata: [String: String]
    /// An item whose lease lapses this many times is stopped instead of requeued; nil: never.
    public var maxLapses: Int?
    /// When it was archived; nil while it takes new work.
    public var archivedAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    init(id: String, hash: [String: String]) throws(RedisError) {
        guard let kind = hash["type"].flatMap(EnvironmentKind.init(rawValue:)),
              let createdAt = hash["created_at"].flatMap({ Timestamp(rfc3339: $0) })
        else {
            throw RedisError(.unexpectedReply, "environment \(id) is incomplete in Redis")
        }
        self.id = id
        self.name = hash["name"] ?? ""
        self.description = hash["description"]
        self.kind = kind
        self.metadata = MetadataJSON.decode(hash["metadata"] ?? "{}")
        self.maxLapses = hash["max_lapses"].flatMap { Int($0) }
        self.archivedAt = hash["archived_at"].flatMap { Timestamp(rfc3339: $0) }
        self.createdAt = createdAt
        self.updatedAt = hash["updated_at"].flatMap { Timestamp(rfc3339: $0) } ?? createdAt
    }
}

/// A function that answers with one environment's hash.
public protocol EnvironmentHashCall: LessorCall where Response == WorkEnvironment {
    var environmentID: String { get }
}

extension EnvironmentHashCall {
    public func keys(_ keys: KeySpace) -> [String] { [keys.environment(environmentID)] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkEnvironment {
        try WorkEnvironment(id: environmentID, hash: reply.hash())
    }
}

/// `environment_create`: a new environment's hash.
public struct EnvironmentCreate: EnvironmentHashCall {
    public static let function = "environment_create"
    public var environmentID: String
    public var name: String
    public var description: String?
    public var kind: EnvironmentKind
    public var metadata: [String: String]
    /// 1–1000, or nil for no limit.
    public var maxLapses: Int?

    public init(environmentID: String, name: String, description: String?, kind: EnvironmentKind, metadata: [String: String] = [:], maxLapses: Int? = nil) {
        self.environmentID = environmentID
        self.name = name
        self.description = description
        self.kind = kind
        self.metadata = metadata
        self.maxLapses = maxLapses
    }

    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] {
        [name, description ?? "", kind.rawValue, MetadataJSON.encode(metadata), description == nil ? 0 : 1, maxLapses.map(String.init) ?? ""]
    }
}

/// `environment_update`: what an update changes; nil members stay as they are.
public struct EnvironmentUpdate: EnvironmentHashCall {
    /// A change of an optional member: set it, or clear it to null.
    public enum Change<Value: Sendable & Equatable & Encodable>: Sendable, Equatable {
        case set(Value)
        case clear
    }

    public static let function = "environment_update"
    public var environmentID: String
    public var name: String?
    public var description: Change<String>?
    /// A merge patch: a value upserts its key, nil or "" deletes it.
    public var metadata: [String: String?]?
    /// When given, must be the environment's type (which never changes).
    public var kind: EnvironmentKind?
    /// 1–1000, or cleared for no limit.
    public var maxLapses: Change<Int>?

    public init(
        environmentID: String, name: String? = nil, description: Change<String>? = nil, metadata: [String: String?]? = nil,
        kind: EnvironmentKind? = nil, maxLapses: Change<Int>? = nil
    ) {
        self.environmentID = environmentID
        self.name = name
        self.description = description
        self.metadata = metadata
        self.kind = kind
        self.maxLapses = maxLapses
    }

    /// The patch `lua/lessor.lua` reads: only the members that change, a clear as an explicit
    /// null, `kind` under its API name `type`.
    private enum PatchKeys: String, CodingKey { case name, description, metadata, maxLapses = "max_lapses", type }

    private struct Patch: Encodable {
        let update: EnvironmentUpdate

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: PatchKeys.self)
            try container.encodeIfPresent(update.name, forKey: .name)
            try encode(update.description, to: &container, forKey: .description)
            try encode(update.maxLapses, to: &container, forKey: .maxLapses)
            if let metadata = update.metadata {
                // Explicit nulls: a null deletes its key.
                var patch = container.nestedContainer(keyedBy: AnyKey.self, forKey: .metadata)
                for (key, value) in metadata { try patch.encode(value, forKey: AnyKey(key)) }
            }
            try container.encodeIfPresent(update.kind?.rawValue, forKey: .type)
        }

        /// A set value, an explicit null for a clear, nothing when unchanged.
        private func encode<Value>(_ change: Change<Value>?, to container: inout KeyedEncodingContainer<PatchKeys>, forKey key: PatchKeys) throws {
            switch change {
            case .set(let value)?: try container.encode(value, forKey: key)
            case .clear?: try container.encodeNil(forKey: key)
            case nil: break
            }
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] {
        [(try? JSONEncoder().encode(Patch(update: self))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"]
    }
}

/// `environment_archive`: the environment takes no new work and no updates from now on.
public struct EnvironmentArchive: EnvironmentHashCall {
    public static let function = "environment_archive"
    public var environmentID: String

    public init(environmentID: String) {
        self.environmentID = environmentID
    }

    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] { [] }
}

/// `environment_delete`: the environment and every item in it, unless a lease is live.
public struct EnvironmentDelete: EnvironmentCall {
    public static let function = "environment_delete"
    public var environmentID: String
    public var retention: Duration

    public init(environmentID: String, retention: Duration = WorkItem.defaultRetention) {
        self.environmentID = environmentID
        self.retention = retention
    }

    public var itemID: String? { nil }
    public var operationArguments: [any RedisArgumentConvertible] { [retention.wholeSeconds] }
    public func response(_ reply: FunctionReply) throws(RedisError) {}
}
