#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The kinds of id Lessor mints: a prefix and 32 lowercase hex digits of a UUIDv7.
public enum IdentifierKind: String, Sendable, CaseIterable {
    case environment = "env_"
    case work = "work_"
    case session = "sess_"
    case token = "tok_"

    /// True when `text` is this prefix followed by exactly 32 lowercase hex digits.
    /// - Parameter text: A candidate id.
    public func isValid(_ text: some StringProtocol) -> Bool {
        let utf8 = Array(text.utf8)
        let prefix = Array(rawValue.utf8)
        guard utf8.count == prefix.count + 32, utf8.starts(with: prefix) else { return false }
        return utf8[prefix.count...].allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }
}

/// Mints UUIDv7-based ids that sort in creation order: strictly increasing for one generator
/// (a 12-bit counter in `rand_a` orders ids minted in the same millisecond), ordered to the
/// millisecond across front nodes.
public final class IdentifierGenerator: Sendable {
    private struct Clock: Sendable {
        var millisecond: UInt64 = 0
        var counter: UInt16 = 0
    }

    private let state = Mutex(Clock())
    private let now: @Sendable () -> UInt64

    /// Creates a generator.
    /// - Parameter now: Milliseconds since the Unix epoch; injectable for tests.
    public init(now: @escaping @Sendable () -> UInt64 = IdentifierGenerator.wallClockMilliseconds) {
        self.now = now
    }

    /// The host's wall clock in milliseconds (ids only; no lease decision uses it).
    public static func wallClockMilliseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1000 + UInt64(spec.tv_nsec) / 1_000_000
    }

    /// A new id.
    /// - Parameter kind: Its prefix.
    /// - Returns: `prefix` + 32 lowercase hex digits.
    public func next(_ kind: IdentifierKind) -> String {
        let (millisecond, counter) = state.withLock { clock -> (UInt64, UInt16) in
            let wall = now()
            if wall > clock.millisecond {
                clock.millisecond = wall
                clock.counter = UInt16.random(in: 0..<2048)  // room to count up within the millisecond
            } else if clock.counter < 0x0FFF {
                clock.counter += 1
            } else {
                clock.millisecond += 1  // 4096 ids in one millisecond: borrow the next one
                clock.counter = UInt16.random(in: 0..<2048)
            }
            return (clock.millisecond, clock.counter)
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millisecond >> (40 - 8 * UInt64(index))) }
        bytes[6] = 0x70 | UInt8(counter >> 8)  // version 7
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        var random = UInt64.random(in: .min ... .max)
        for index in 8..<16 {
            bytes[index] = UInt8(truncatingIfNeeded: random)
            random >>= 8
        }
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 9562 variant
        return kind.rawValue + hex(bytes)
    }
}

/// Lowercase hex of bytes.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Den worker ids: `wrk_` + a 26-character TypeID suffix (a UUIDv7 in lowercase Crockford
/// base32, first character `0`–`7`).
public enum WorkerID {
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    /// True when `text` is `wrk_` + 26 characters of the alphabet, the first `0`–`7`.
    public static func isValid(_ text: some StringProtocol) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 30, utf8.starts(with: Array("wrk_".utf8)) else { return false }
        let suffix = utf8[4...]
        guard let first = suffix.first, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(first) else { return false }
        return suffix.allSatisfy(alphabet.contains)
    }

    /// A new worker id.
    public static func next(_ generator: IdentifierGenerator) -> String {
        let hex = Array(generator.next(.work).dropFirst(IdentifierKind.work.rawValue.count).utf8)
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: 32, by: 2) {
            bytes.append(UInt8(String(decoding: hex[index..<(index + 2)], as: UTF8.self), radix: 16)!)
        }
        return "wrk_" + encode(bytes)
    }

    /// TypeID's base32: 128 bits as 26 characters, most significant first (2 leading zero bits).
    static func encode(_ bytes: [UInt8]) -> String {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for byte in bytes[0..<8] { high = high << 8 | UInt64(byte) }
        for byte in bytes[8..<16] { low = low << 8 | UInt64(byte) }
        var out: [UInt8] = []
        for position in (0..<26).reversed() {
            let shift = position * 5  // bit offset of this character's lowest bit
            let value: UInt64
            if shift >= 64 {
                value = high >> UInt64(shift - 64)
            } else if shift > 59 {
                value = (low >> UInt64(shift)) | (high << UInt64(64 - shift))
            } else {
                value = low >> UInt64(shift)
            }
            out.append(alphabet[Int(value & 0x1F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
