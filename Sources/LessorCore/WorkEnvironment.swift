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
    public var createdAt: String
    public var updatedAt: String

    init(id: String, fields: some Collection<RESPValue>) throws(RedisError) {
        let hash = try [String: String](hashFields: fields)
        guard let kind = hash["type"].flatMap(EnvironmentKind.init(rawValue:)), let createdAt = hash["created_at"] else {
            throw RedisError(.unexpectedReply, "environment \(id) is incomplete in Redis")
        }
        self.id = id
        self.name = hash["name"] ?? ""
        self.description = hash["description"] ?? ""
        self.kind = kind
        self.createdAt = createdAt
        self.updatedAt = hash["updated_at"] ?? createdAt
    }
}

extension WorkLeaseScripts {
    /// Creates an environment and registers it for the reaper (registered first, so a
    /// crash in between leaves at most a registry entry without an environment, which the
    /// reaper skips).
    public func createEnvironment(id: String, name: String, description: String, kind: EnvironmentKind) async throws(WorkError) -> WorkEnvironment {
        do throws(RedisError) {
            try await redis.send(RedisCommand("SADD", key: keys.environments, id))
            let reply = try await redis.evaluate(scripts.environmentCreate, keys: [keys.environment(id)], arguments: [name, description, kind.rawValue])
            guard case .array(let values) = reply, values.first == .bulkString(Array("ok".utf8)) else {
                throw RedisError(.unexpectedReply, "environment_create replied \(reply)")
            }
            return try WorkEnvironment(id: id, fields: values.dropFirst())
        } catch {
            throw .redis(error)
        }
    }

    /// Reads an environment, or nil when there is none.
    public func environment(id: String) async throws(WorkError) -> WorkEnvironment? {
        do throws(RedisError) {
            let reply = try await redis.send(RedisCommand("HGETALL", key: keys.environment(id)))
            guard case .array(let values) = reply, !values.isEmpty else { return nil }
            return try WorkEnvironment(id: id, fields: values)
        } catch {
            throw .redis(error)
        }
    }

    /// Every registered environment id (the reaper's list).
    public func environmentIDs() async throws(WorkError) -> [String] {
        do throws(RedisError) {
            return try await redis.send(RedisCommand("SMEMBERS", key: keys.environments), as: [String].self)
        } catch {
            throw .redis(error)
        }
    }
}
