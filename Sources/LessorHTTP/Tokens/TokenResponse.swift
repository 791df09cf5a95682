import Hummingbird
import LessorCore

/// `POST /api/v1/tokens` (with the secret, shown once) and `DELETE` (revoked).
enum TokenResponse: ResponseEncodable {
    case created(AccessToken, secret: String)
    case revoked(id: String)

    private enum CodingKeys: String, CodingKey {
        case type, id, token, name, environmentIDs = "environment_ids", createdAt = "created_at", expiresAt = "expires_at", revoked
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("token", forKey: .type)
        switch self {
        case .created(let token, let secret):
            try container.encode(token.id, forKey: .id)
            try container.encode(secret, forKey: .token)
            try container.encode(token.name, forKey: .name)
            try container.encode(token.environmentIDs, forKey: .environmentIDs)
            try container.encode(token.createdAt, forKey: .createdAt)
            try container.encode(token.expiresAt, forKey: .expiresAt)
        case .revoked(let id):
            try container.encode(id, forKey: .id)
            try container.encode(true, forKey: .revoked)
        }
    }
}
