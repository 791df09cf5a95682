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

    public init(environmentID: String, name: String, description: String?, kind: EnvironmentKind, metadata: [String: String] = [:]) {
        self.environmentID = environmentID
        self.name = name
        self.description = description
        self.kind = kind
        self.metadata = metadata
    }

    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] {
        [name, description ?? "", kind.rawValue, MetadataJSON.encode(metadata), description == nil ? 0 : 1]
    }
}

/// `environment_update`: what an update changes; nil members stay as they are.
public struct EnvironmentUpdate: EnvironmentHashCall {
    /// A change of the description: set it, or clear it to null.
    public enum DescriptionChange: Sendable, Equatable {
        case set(String)
        case clear
    }

    public static let function = "environment_update"
    public var environmentID: String
    public var name: String?
    public var description: DescriptionChange?
    /// A merge patch: a value upserts its key, nil or "" deletes it.
    public var metadata: [String: String?]?
    /// When given, must be the environment's type (which never changes).
    public var kind: EnvironmentKind?

    public init(environmentID: String, name: String? = nil, description: DescriptionChange? = nil, metadata: [String: String?]? = nil, kind: EnvironmentKind? = nil) {
        self.environmentID = environmentID
        self.name = name
        self.description = description
        self.metadata = metadata
        self.kind = kind
    }

    private struct Patch: Encodable {
        var name: String?
        var description: DescriptionChange?
        var metadata: [String: String?]?
        var type: String?

        enum CodingKeys: CodingKey { case name, description, metadata, type }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(name, forKey: .name)
            switch description {
            case .set(let text)?: try container.encode(text, forKey: .description)
            case .clear?: try container.encodeNil(forKey: .description)
            case nil: break
            }
            if let metadata {
                // Explicit nulls: a null deletes its key.
                var patch = container.nestedContainer(keyedBy: AnyKey.self, forKey: .metadata)
                for (key, value) in metadata { try patch.encode(value, forKey: AnyKey(key)) }
            }
            try container.encodeIfPresent(type, forKey: .type)
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
        let patch = Patch(name: name, description: description, metadata: metadata, type: kind?.rawValue)
        return [(try? JSONEncoder().encode(patch)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"]
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
