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
    public var description: String
    public var kind: EnvironmentKind
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
        self.description = hash["description"] ?? ""
        self.kind = kind
        self.createdAt = createdAt
        self.updatedAt = hash["updated_at"].flatMap { Timestamp(rfc3339: $0) } ?? createdAt
    }
}

/// `environment_create`: a new environment's hash.
public struct EnvironmentCreate: LessorCall {
    public static let function = "environment_create"
    public var environmentID: String
    public var name: String
    public var description: String
    public var kind: EnvironmentKind

    public init(environmentID: String, name: String, description: String, kind: EnvironmentKind) {
        self.environmentID = environmentID
        self.name = name
        self.description = description
        self.kind = kind
    }

    public func keys(_ keys: KeySpace) -> [String] { [keys.environment(environmentID)] }
    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] { [name, description, kind.rawValue] }
    public func response(_ reply: FunctionReply) throws(RedisError) -> WorkEnvironment {
        try WorkEnvironment(id: environmentID, hash: reply.hash())
    }
}

/// The environments: created through ``EnvironmentCreate`` and registered for the reaper.
public struct Environments: Sendable {
    public let functions: LessorFunctions

    /// Creates the store.
    public init(functions: LessorFunctions) {
        self.functions = functions
    }

    private var redis: RedisClient { functions.redis }
    private var keys: KeySpace { functions.keys }

    /// Creates an environment and registers it for the reaper (registered first, so a
    /// crash in between leaves at most a registry entry without an environment, which the
    /// reaper skips). The registry has no hash tag, so it cannot share the call.
    public func create(_ call: EnvironmentCreate) async throws(StoreError) -> WorkEnvironment {
        do {
            try await redis.send(RedisCommand("SADD", key: keys.environments, call.environmentID))
        } catch {
            throw .redis(error)
        }
        return try await functions.call(call)
    }

    /// Reads an environment, or nil when there is none.
    public func get(id: String) async throws(StoreError) -> WorkEnvironment? {
        do throws(RedisError) {
            let reply = try await redis.send(RedisCommand("HGETALL", key: keys.environment(id)))
            guard case .array(let values) = reply, !values.isEmpty else { return nil }
            return try WorkEnvironment(id: id, hash: [String: String](hashFields: values))
        } catch {
            throw .redis(error)
        }
    }

    /// Every registered environment id (the reaper's list).
    public func ids() async throws(StoreError) -> [String] {
        do throws(RedisError) {
            return try await redis.send(RedisCommand("SMEMBERS", key: keys.environments), as: [String].self)
        } catch {
            throw .redis(error)
        }
    }
}
