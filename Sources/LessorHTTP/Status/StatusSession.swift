import Crypto
import Foundation

/// The status page's sign-in: a cookie any front node can check without Redis, holding its
/// expiry and an HMAC-SHA256 of it under a key derived from the admin token. The token itself
/// never leaves the form post; changing `LESSOR_ADMIN_TOKEN` ends every session.
struct StatusSession: Sendable {
    /// The cookie's name (`Path=/ui`, HttpOnly, SameSite=Lax).
    static let cookieName = "lessor_ui"
    /// How long a sign-in lasts.
    static let lifetime: TimeInterval = 12 * 3600

    /// The MAC key's bytes (`SymmetricKey` is not `Sendable`).
    private let key: [UInt8]?

    /// - Parameter adminToken: The admin token; nil: no session is ever valid.
    init(adminToken: String?) {
        key = adminToken.map { Array(SHA256.hash(data: Data(("lessor status page session\n" + $0).utf8))) }
    }

    /// False on a node without an admin token: nobody can sign in.
    var isEnabled: Bool { key != nil }

    /// A new session's cookie value, `<expiry, Unix seconds>.<hex MAC>`; nil without an admin token.
    func issue(now: Date = Date()) -> String? {
        let expiry = String(Int((now + Self.lifetime).timeIntervalSince1970))
        return mac(expiry).map { expiry + "." + $0 }
    }

    /// True for a value ``issue(now:)`` made with this admin token that has not expired.
    func isValid(_ value: String, now: Date = Date()) -> Bool {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let expiry = Int(parts[0]), Double(expiry) > now.timeIntervalSince1970,
              let expected = mac(String(parts[0]))
        else { return false }
        return constantTimeEqual(Array(parts[1].utf8), Array(expected.utf8))
    }

    private func mac(_ expiry: String) -> String? {
        guard let key else { return nil }
        return HMAC<SHA256>.authenticationCode(for: Data(expiry.utf8), using: SymmetricKey(data: key)).map { String(format: "%02x", $0) }.joined()
    }
}
