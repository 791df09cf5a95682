import Hummingbird
import LessorCore

/// An environment as the API shows it.
struct EnvironmentResponse: ResponseEncodable {
    let environment: WorkEnvironment

    private enum CodingKeys: String, CodingKey {
        case id, type, name, description, config, status, archived, archivedAt = "archived_at"
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(environment.id, forKey: .id)
        try container.encode("environment", forKey: .type)
        try container.encode(environment.name, forKey: .name)
        try container.encode(environment.description, forKey: .description)
        try container.encode(["type": environment.kind.rawValue], forKey: .config)
        try container.encode("ready", forKey: .status)
        try container.encode(false, forKey: .archived)
        try container.encode(String?.none, forKey: .archivedAt)
        try container.encode(environment.createdAt, forKey: .createdAt)
        try container.encode(environment.updatedAt, forKey: .updatedAt)
    }
}
