import HTTPTypes
import Hummingbird
import LessorCore
import LessorRedis
import Synchronization

/// Who a bearer token belongs to.
public enum Principal: Sendable, Equatable {
    /// `LESSOR_ADMIN_TOKEN`: every route, every environment.
    case admin
    /// A personal access token: the work API of the environments it lists (nil: all).
    case token(id: String, environmentIDs: Set<String>?)

    /// Throws 403 unless this is the admin token.
    public func requireAdmin() throws(RequestError) {
        guard self == .admin else { throw .forbidden("this route needs the admin token") }
    }

    /// True when the principal may use the work API of `environmentID`.
    public func mayUse(environment environmentID: String) -> Bool {
        switch self {
        case .admin: return true
        case .token(_, let environments): return environments?.contains(environmentID) ?? true
        }
    }
}

/// Checks `Authorization: Bearer` tokens (or, when no `Authorization` is sent, `x-api-key`): the admin token by constant-time comparison, PATs by
/// the SHA-256 of the secret in Redis, cached for one second so a steady heartbeat costs no
/// extra round trip and a revoked or expired token is refused everywhere within two seconds.
public final class TokenAuthenticator: Sendable {
    private struct Cached: Sendable {
        var principal: Principal?
        var until: ContinuousClock.Instant
    }

    private let adminDigest: [UInt8]?
    private let tokens: AccessTokens
    private let cache = Mutex<[String: Cached]>([:])
    private let lifetime: Duration = .seconds(1)
    private let clock = ContinuousClock()

    /// Creates the authenticator.
    /// - Parameters:
    ///   - adminToken: The admin token, if any.
    ///   - tokens: The PAT store.
    public init(adminToken: String?, tokens: AccessTokens) {
        self.adminDigest = adminToken.map { Array(AccessTokens.digest(of: $0).utf8) }
        self.tokens = tokens
    }

    /// The principal of a request.
    /// - Throws: ``RequestError/unauthenticated(_:)`` for a missing, malformed, unknown, revoked
    ///   or expired token; `RedisError` when Redis cannot be asked.
    public func principal(for request: Request) async throws -> Principal {
        let secret: String
        if let header = request.headers[.authorization] {
            guard let bearer = Self.bearerSecret(header) else {
                throw RequestError.unauthenticated("malformed Authorization header; send Authorization: Bearer <token>")
            }
            secret = bearer
        } else if let key = request.headers[.apiKey], !key.isEmpty {
            // The Anthropic SDK sends its api_key this way; the same tokens are accepted.
            secret = key
        } else {
            throw RequestError.unauthenticated("missing Authorization header; send Authorization: Bearer <token>")
        }
        guard let principal = try await principal(forSecret: secret) else {
            throw RequestError.unauthenticated("invalid, revoked or expired token")
        }
        return principal
    }

    /// The secret of an `Authorization: Bearer <secret>` value (scheme case-insensitive), or nil.
    /// Works on UTF-8 bytes: this runs on every request, and character-by-character String
    /// walking showed in the heartbeat's profile.
    static func bearerSecret(_ header: String) -> String? {
        let bytes = header.utf8
        guard bytes.count > 7,
              zip(bytes.prefix(7), "bearer ".utf8).allSatisfy({ $0 | 0x20 == $1 }), // ASCII lower-casing; no NUL in headers
              !bytes.dropFirst(7).contains(UInt8(ascii: " "))
        else { return nil }
        return String(header.utf8.dropFirst(7))
    }

    /// The principal of a secret (the status page's sign-in form sends one), nil for none.
    func principal(forSecret secret: String) async throws(RedisError) -> Principal? {
        let digest = AccessTokens.digest(of: secret)
        if let adminDigest, constantTimeEqual(Array(digest.utf8), adminDigest) { return .admin }
        // A damaged or made-up `lsr_pat_…` is refused here: a flood of them costs Redis nothing.
        if TokenSecret.isMalformed(secret) { return nil }
        let now = clock.now
        if let cached = cache.withLock({ $0[digest] }), cached.until > now { return cached.principal }
        var principal: Principal?
        if let record = try await tokens.record(digest: digest), !record.revoked {
            principal = .token(id: record.id, environmentIDs: record.environmentIDs.map(Set.init))
        }
        cache.withLock { entries in
            if entries.count > 10_000 { entries = entries.filter { $0.value.until > now } }
            entries[digest] = Cached(principal: principal, until: now + lifetime)
        }
        return principal
    }
}

/// True when `a` and `b` hold the same bytes, compared in a time that does not depend on
/// where they first differ (secrets, MACs).
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}

extension HTTPField.Name {
    /// `x-api-key`: a token as the Anthropic SDK sends an `api_key`.
    static let apiKey = Self("x-api-key")!
}
