import Hummingbird
import LessorCore

/// An environment as the API shows it (both families).
struct EnvironmentResponse: ResponseEncodable {
    let environment: WorkEnvironment

    private enum CodingKeys: String, CodingKey {
        case id, type, name, description, config, metadata, maxLapses = "max_lapses", status, archived, archivedAt = "archived_at"
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(environment.id, forKey: .id)
        try container.encode("environment", forKey: .type)
        try container.encode(environment.name, forKey: .name)
        try container.encode(environment.description, forKey: .description)
        try container.encode(["type": environment.kind.rawValue], forKey: .config)
        try container.encode(environment.metadata, forKey: .metadata)
        try container.encode(environment.maxLapses, forKey: .maxLapses)
        try container.encode(environment.archivedAt == nil ? "ready" : "archived", forKey: .status)
        try container.encode(environment.archivedAt != nil, forKey: .archived)
        try container.encode(environment.archivedAt, forKey: .archivedAt)
        try container.encode(environment.createdAt, forKey: .createdAt)
        try container.encode(environment.updatedAt, forKey: .updatedAt)
    }
}

/// `DELETE .../environments/{id}`.
struct EnvironmentDeletedResponse: ResponseEncodable {
    let id: String
    let type = "environment_deleted"
}
