import Crypto
import Foundation

/// A client's `Idempotency-Key`: 1–256 printable ASCII bytes. The key itself never reaches
/// Redis: records are named by a hash of it and the principal, and a secret a record keeps is
/// sealed under a key derived from it.
public struct IdempotencyKey: Sendable, Equatable {
    /// How long a record answers retries: 24 hours.
    public static let lifetime: Duration = .seconds(86_400)

    /// The key as the client sent it.
    public let text: String

    /// Validates a key.
    /// - Parameter text: The header's value.
    /// - Returns: nil when it is empty, longer than 256 bytes, or not printable ASCII (0x20–0x7E).
    public init?(_ text: String) {
        guard (1...256).contains(text.utf8.count), text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else { return nil }
        self.text = text
    }
}

/// One request sent with an ``IdempotencyKey`` by one principal: which record answers it,
/// what makes another request "the same", and the cipher for a secret the record keeps.
public struct Idempotency: Sendable {
    /// The key.
    public let key: IdempotencyKey
    /// Names the record: 32 hex digits of SHA-256 over the principal and the key, so keys are
    /// scoped per principal and a record does not reveal its key.
    public let recordID: String
    /// 32 hex digits of SHA-256 over what makes the request this request (method, path,
    /// parameters, worker header, body).
    public let fingerprint: String
    /// The principal, for the slot of a create's reservation (`admin`, `tok_...`).
    public let principal: String
    /// The 32 bytes of the AES key a secret is sealed under (bytes: `SymmetricKey` is not `Sendable`).
    private let cipherKey: [UInt8]

    /// Scopes a key to a principal and a request.
    /// - Parameters:
    ///   - key: The client's key.
    ///   - principal: Who sent it: `admin`, a token id, or a Den worker's token digest.
    ///   - request: The parts of the request that make it the same request, in a fixed order.
    public init(key: IdempotencyKey, principal: String, request: [[UInt8]]) {
        self.key = key
        self.principal = principal
        recordID = String(hex(SHA256.hash(data: Array("lessor idempotency record\n\(principal)\n\(key.text)".utf8))).prefix(32))
        var hasher = SHA256()
        for part in request {
            // Length-prefixed, so no two different requests run together into the same bytes.
            hasher.update(data: Array("\(part.count):".utf8))
            hasher.update(data: part)
        }
        fingerprint = String(hex(hasher.finalize()).prefix(32))
        cipherKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(key.text.utf8)), salt: Array(principal.utf8),
            info: Array("lessor idempotency secret".utf8), outputByteCount: 32
        ).withUnsafeBytes { Array($0) }
    }

    /// A secret sealed for the record (AES-GCM, base64): only a client holding the key opens it.
    /// - Parameter secret: The secret shown once (a token, a worker's activity token).
    public func seal(_ secret: String) -> String {
        // AES-GCM with a random nonce cannot fail for a 32-byte key.
        guard let box = try? AES.GCM.seal(Array(secret.utf8), using: SymmetricKey(data: cipherKey)), let combined = box.combined else {
            preconditionFailure("AES-GCM sealing failed")
        }
        return combined.base64EncodedString()
    }

    /// The secret a record kept, or nil when it was not sealed under this key.
    /// - Parameter sealed: What ``seal(_:)`` returned.
    public func open(_ sealed: String) -> String? {
        guard let data = Data(base64Encoded: sealed), let box = try? AES.GCM.SealedBox(combined: data),
              let bytes = try? AES.GCM.open(box, using: SymmetricKey(data: cipherKey))
        else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
