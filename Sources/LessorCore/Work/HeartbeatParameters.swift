/// A request parameter that cannot be used, named as the API names it.
public struct ParameterError: Error, Sendable, Equatable {
    /// The parameter at fault, as the client spelled it (`desired_ttl_seconds`).
    public let parameter: String
    /// What is wrong with it, for the client.
    public let message: String

    /// Creates an error.
    public init(parameter: String, message: String) {
        self.parameter = parameter
        self.message = message
    }
}

/// The `expected_last_heartbeat` precondition of a heartbeat.
public enum ExpectedLastHeartbeat: Sendable, Equatable {
    /// `NO_HEARTBEAT`: the item must never have had a heartbeat.
    case none
    /// The item's last heartbeat must be this instant (compared at microsecond precision).
    case at(Timestamp)

    /// Parses the query value.
    /// - Parameter text: The value; nil when the parameter is absent.
    /// - Returns: nil when absent (an unconditional heartbeat).
    /// - Throws: ``ParameterError`` for anything but `NO_HEARTBEAT` or an RFC 3339 timestamp.
    public static func parse(_ text: String?) throws(ParameterError) -> ExpectedLastHeartbeat? {
        guard let text else { return nil }
        if text == "NO_HEARTBEAT" { return ExpectedLastHeartbeat.none }
        guard let instant = Timestamp(rfc3339: text) else {
            throw ParameterError(
                parameter: "expected_last_heartbeat",
                message: "expected_last_heartbeat must be NO_HEARTBEAT or an RFC 3339 timestamp")
        }
        return .at(instant)
    }
}

/// The lease TTLs a heartbeat may ask for.
public enum LeaseTTL {
    /// The shortest and longest lease, in seconds.
    public static let seconds: ClosedRange<Int> = 10...600

    /// A TTL of `seconds`, clamped to ``seconds``.
    public static func clamped(seconds: Int) -> Duration {
        .seconds(min(max(seconds, Self.seconds.lowerBound), Self.seconds.upperBound))
    }
}

/// The `desired_ttl_seconds` of a heartbeat.
public enum DesiredTTL {
    /// Parses the query value and clamps it to ``LeaseTTL/seconds``.
    ///
    /// Only decimal digits are accepted (no sign, space or fraction) and the value must be
    /// positive; any positive number, however large, is accepted and clamped to 600.
    /// - Parameter text: The value; nil when the parameter is absent.
    /// - Returns: The clamped TTL, or nil when absent.
    /// - Throws: ``ParameterError`` for an empty, zero, negative, fractional or non-numeric value.
    public static func parse(_ text: String?) throws(ParameterError) -> Duration? {
        guard let text else { return nil }
        let digits = text.utf8
        guard !digits.isEmpty, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              digits.contains(where: { $0 != UInt8(ascii: "0") })
        else {
            throw ParameterError(parameter: "desired_ttl_seconds", message: "desired_ttl_seconds must be a positive integer")
        }
        // Past four significant digits the value is above 600 anyway; avoid overflow.
        let significant = digits.drop { $0 == UInt8(ascii: "0") }
        guard significant.count <= 4, let seconds = Int(String(decoding: significant, as: UTF8.self)) else {
            return .seconds(LeaseTTL.seconds.upperBound)
        }
        return LeaseTTL.clamped(seconds: seconds)
    }
}
