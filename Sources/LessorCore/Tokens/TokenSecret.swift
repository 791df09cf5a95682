/// The form of the secrets Lessor issues, made for secret scanners: a fixed prefix that names
/// the kind, 32 random base62 characters (190 bits), and 6 base62 characters of the CRC-32 of
/// everything before them, so a scanner (or Lessor itself) can tell a real token from a
/// look-alike without asking Redis:
///
///     lsr_pat_<32 random><6 checksum>    a personal access token
///     lsr_wrk_<32 random><6 checksum>    a Den worker's activity token
///
/// Regular expression: `lsr_(pat|wrk)_[0-9A-Za-z]{38}`. Secrets issued before this form
/// (`lsr_` or `wat_` + 64 hex digits) are still accepted: a secret is looked up by its digest,
/// whatever its form.
public enum TokenSecret {
    /// What a secret is for; its raw value is the part of the prefix that names it.
    public enum Kind: String, Sendable, CaseIterable {
        /// A personal access token (`POST /api/v1/tokens`).
        case personalAccess = "pat"
        /// A Den worker's activity token (`POST /v1/workers`).
        case workerActivity = "wrk"

        /// `lsr_pat_` or `lsr_wrk_`.
        public var prefix: String { "lsr_\(rawValue)_" }
    }

    static let randomLength = 32
    static let checksumLength = 6
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A new secret of `kind`, its random part from the system's cryptographic generator.
    /// - Parameter kind: What the secret is for.
    /// - Returns: The secret, shown once to its owner and stored only as a digest.
    public static func generate(_ kind: Kind) -> String {
        var random = SystemRandomNumberGenerator()
        // 62 * 4 = 248: bytes at or above it are drawn again, so every character is equally likely.
        var body = Array(kind.prefix.utf8)
        while body.count < kind.prefix.utf8.count + randomLength {
            let byte = UInt8.random(in: .min ... .max, using: &random)
            if byte < 248 { body.append(alphabet[Int(byte % 62)]) }
        }
        return String(decoding: body + checksum(of: body), as: UTF8.self)
    }

    /// Whether `secret` claims this form (it starts with `lsr_pat_` or `lsr_wrk_`) but is not a
    /// secret Lessor issued: wrong length, a character outside base62, or a checksum that does not
    /// match. Such a secret is refused without a Redis round trip; secrets of older forms are not
    /// malformed.
    /// - Parameter secret: A presented secret.
    /// - Returns: True when the secret is a damaged or forged token of this form.
    public static func isMalformed(_ secret: String) -> Bool {
        let bytes = Array(secret.utf8)
        guard Kind.allCases.contains(where: { bytes.starts(with: $0.prefix.utf8) }) else { return false }
        let prefixLength = Kind.personalAccess.prefix.utf8.count
        guard bytes.count == prefixLength + randomLength + checksumLength,
              bytes[prefixLength...].allSatisfy(alphabet.contains)
        else { return true }
        let body = bytes[..<(prefixLength + randomLength)]
        return Array(bytes[(prefixLength + randomLength)...]) != checksum(of: body)
    }

    /// The CRC-32 of `body` in base62, left-padded with `0` to six characters.
    static func checksum(of body: some Collection<UInt8>) -> [UInt8] {
        var value = crc32(body)
        var digits = [UInt8](repeating: alphabet[0], count: checksumLength)
        for index in digits.indices.reversed() {
            digits[index] = alphabet[Int(value % 62)]
            value /= 62
        }
        return digits
    }

    /// CRC-32 (IEEE 802.3, the one zlib and secret scanners use).
    static func crc32(_ bytes: some Collection<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
