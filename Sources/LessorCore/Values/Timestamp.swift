/// An instant at microsecond precision: how Lessor stores, compares and prints time.
///
/// Printed as RFC 3339 UTC with `Z` and exactly six fractional digits
/// (`2026-07-01T08:15:06.120394Z`), the form every response and every Redis hash uses.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public let microseconds: Int64

    /// Creates an instant.
    /// - Parameter microseconds: Microseconds since the Unix epoch.
    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    public var description: String { rfc3339 }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Written into one 27-byte string, not interpolated: every
    /// heartbeat's answer carries one.
    public var rfc3339: String {
        let (days, micros) = microseconds.floorDivided(by: 86_400_000_000)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        let seconds = micros / 1_000_000
        guard (0...9999).contains(year) else {
            return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2)).\(pad(micros % 1_000_000, 6))Z"
        }
        return String(unsafeUninitializedCapacity: 27) { bytes in
            var index = 0
            func digits(_ value: Int64, _ width: Int, then separator: UInt8) {
                var value = value
                for offset in stride(from: width - 1, through: 0, by: -1) {
                    bytes[index + offset] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                bytes[index + width] = separator
                index += width + 1
            }
            digits(year, 4, then: UInt8(ascii: "-"))
            digits(month, 2, then: UInt8(ascii: "-"))
            digits(day, 2, then: UInt8(ascii: "T"))
            digits(seconds / 3600, 2, then: UInt8(ascii: ":"))
            digits(seconds / 60 % 60, 2, then: UInt8(ascii: ":"))
            digits(seconds % 60, 2, then: UInt8(ascii: "."))
            digits(micros % 1_000_000, 6, then: UInt8(ascii: "Z"))
            return index
        }
    }

    /// Parses the RFC 3339 `date-time` production: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    ///
    /// The date must exist (Gregorian leap years), hours run 00–23 (`24:00` is refused) and
    /// seconds 00–59 (a leap second `:60` is refused: Unix time cannot hold it). `T` and `Z`
    /// may be lower case, as RFC 3339 allows. Fractions beyond six digits are truncated.
    /// - Parameter text: The text.
    /// - Returns: The instant, or nil when `text` is not such a timestamp.
    public init?(rfc3339 text: some StringProtocol) {
        var scanner = DigitScanner(Array(text.utf8))
        guard let year = scanner.number(digits: 4), scanner.skip("-"),
              let month = scanner.number(digits: 2), scanner.skip("-"),
              let day = scanner.number(digits: 2),
              scanner.skip("T") || scanner.skip("t"),
              let time = scanner.timeOfDay(secondsRequired: true)
        else { return nil }
        var offsetMinutes = 0
        if scanner.skip("Z") || scanner.skip("z") {
            offsetMinutes = 0
        } else if let sign = scanner.sign(), let hours = scanner.number(digits: 2), scanner.skip(":"),
                  let minutes = scanner.number(digits: 2), hours <= 23, minutes <= 59 {
            offsetMinutes = sign * (hours * 60 + minutes)
        } else {
            return nil
        }
        guard scanner.atEnd, let days = daysSinceEpoch(year: year, month: month, day: day) else { return nil }
        self.init(microseconds: Int64(days) * 86_400_000_000 + time - Int64(offsetMinutes) * 60_000_000)
    }
}

extension Timestamp {
    /// Parses the Den heartbeat's `sentAt` / `lastActivityAt` pattern: RFC 3339 in UTC with `Z`
    /// only (upper case, no offsets), seconds optional, fraction optional (only after seconds),
    /// and a real calendar date. Fractions beyond six digits are truncated.
    /// - Parameter text: The text.
    /// - Returns: The instant, or nil.
    public init?(denUTC text: some StringProtocol) {
        var scanner = DigitScanner(Array(text.utf8))
        guard let year = scanner.number(digits: 4), scanner.skip("-"),
              let month = scanner.number(digits: 2), scanner.skip("-"),
              let day = scanner.number(digits: 2), scanner.skip("T"),
              let time = scanner.timeOfDay(secondsRequired: false), scanner.skip("Z"), scanner.atEnd,
              let days = daysSinceEpoch(year: year, month: month, day: day)
        else { return nil }
        self.init(microseconds: Int64(days) * 86_400_000_000 + time)
    }
}

/// Reads fixed-width numbers and punctuation from ASCII bytes.
struct DigitScanner {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position == bytes.count }

    mutating func skip(_ character: Character) -> Bool {
        guard position < bytes.count, bytes[position] == character.asciiValue else { return false }
        position += 1
        return true
    }

    mutating func number(digits: Int) -> Int? {
        guard position + digits <= bytes.count else { return nil }
        var value = 0
        for byte in bytes[position..<(position + digits)] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        position += digits
        return value
    }

    /// `+` → 1, `-` → -1.
    mutating func sign() -> Int? {
        if skip("+") { return 1 }
        if skip("-") { return -1 }
        return nil
    }

    /// `HH:MM[:SS][.fraction]` as microseconds into the day; fraction digits past six are dropped.
    mutating func timeOfDay(secondsRequired: Bool) -> Int64? {
        guard let hour = number(digits: 2), skip(":"), let minute = number(digits: 2), hour <= 23, minute <= 59 else { return nil }
        var second = 0
        var micros = 0
        if skip(":") {
            guard let value = number(digits: 2), value <= 59 else { return nil }
            second = value
            if skip(".") {
                var count = 0
                while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                    if count < 6 { micros = micros * 10 + Int(bytes[position] - UInt8(ascii: "0")) }
                    count += 1
                    position += 1
                }
                guard count > 0 else { return nil }
                for _ in count..<max(count, 6) { micros *= 10 }
            }
        } else if secondsRequired {
            return nil
        }
        return Int64((hour * 60 + minute) * 60 + second) * 1_000_000 + Int64(micros)
    }
}

/// Days since 1970-01-01 of a Gregorian date, or nil when the date does not exist.
func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int? {
    guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
    // Howard Hinnant's days_from_civil.
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}

/// The Gregorian date of a day count since 1970-01-01 (Hinnant's civil_from_days).
func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}

func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: return isLeapYear(year) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

/// The Gregorian rule: every fourth year, but not centuries, but every fourth century.
func isLeapYear(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

private func pad(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

extension Int64 {
    /// Division rounding toward minus infinity, with a non-negative remainder.
    fileprivate func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = self / divisor, remainder = self % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }
}

extension Timestamp: Encodable {
    /// Encodes the instant as its RFC 3339 text, the form every response uses.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}
