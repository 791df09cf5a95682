/// One RESP2 reply, copied out of hiredis into Swift memory.
///
/// Bulk strings are bytes, not `String`, because Redis values are binary-safe.
public enum RESPValue: Sendable, Hashable {
    /// A status reply such as `+OK`.
    case simpleString(String)
    /// An error reply such as `-ERR unknown command`. Top-level errors are thrown by
    /// ``RedisClient/send(_:)``; errors nested in arrays (e.g. from a Lua table) stay values.
    case error(String)
    /// An integer reply (`:42`).
    case integer(Int64)
    /// A bulk string reply, binary-safe.
    case bulkString([UInt8])
    /// The null bulk string or null array.
    case null
    /// An array reply; elements may nest.
    case array([RESPValue])
}

extension RESPValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .simpleString(let text): return "+\(text)"
        case .error(let text): return "-\(text)"
        case .integer(let value): return ":\(value)"
        case .bulkString(let bytes): return "$\(String(decoding: bytes, as: UTF8.self).debugDescription)"
        case .null: return "(nil)"
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// A Swift type that can be read from a reply.
public protocol RESPDecodable: Sendable {
    /// Reads a value from a reply.
    /// - Parameter value: The reply.
    /// - Throws: ``RedisError/Code/unexpectedReply`` when the reply has another shape.
    init(fromRESP value: RESPValue) throws(RedisError)
}

extension RESPValue: RESPDecodable {
    public init(fromRESP value: RESPValue) { self = value }
}

extension String: RESPDecodable {
    public init(fromRESP value: RESPValue) throws(RedisError) {
        switch value {
        case .simpleString(let text): self = text
        case .bulkString(let bytes): self = String(decoding: bytes, as: UTF8.self)
        case .integer(let number): self = String(number)
        default: throw RedisError(.unexpectedReply, "expected a string, got \(value.kind)")
        }
    }
}

extension Int64: RESPDecodable {
    public init(fromRESP value: RESPValue) throws(RedisError) {
        switch value {
        case .integer(let number): self = number
        case .bulkString(let bytes):
            guard let number = Int64(String(decoding: bytes, as: UTF8.self)) else {
                throw RedisError(.unexpectedReply, "expected an integer, got a non-numeric string")
            }
            self = number
        default: throw RedisError(.unexpectedReply, "expected an integer, got \(value.kind)")
        }
    }
}

extension Int: RESPDecodable {
    public init(fromRESP value: RESPValue) throws(RedisError) {
        self = Int(try Int64(fromRESP: value))
    }
}

extension Array: RESPDecodable where Element: RESPDecodable {
    public init(fromRESP value: RESPValue) throws(RedisError) {
        guard case .array(let values) = value else {
            throw RedisError(.unexpectedReply, "expected an array, got \(value.kind)")
        }
        var result: [Element] = []
        result.reserveCapacity(values.count)
        for element in values { result.append(try Element(fromRESP: element)) }
        self = result
    }
}

extension Optional: RESPDecodable where Wrapped: RESPDecodable {
    public init(fromRESP value: RESPValue) throws(RedisError) {
        if case .null = value { self = .none } else { self = .some(try Wrapped(fromRESP: value)) }
    }
}

extension RESPValue {
    /// The bytes of a bulk string reply, else nil.
    public var bulkBytes: [UInt8]? {
        if case .bulkString(let bytes) = self { return bytes }
        return nil
    }

    /// A short name of the reply's kind, for error messages.
    var kind: String {
        switch self {
        case .simpleString: return "a status reply"
        case .error: return "an error reply"
        case .integer: return "an integer"
        case .bulkString: return "a bulk string"
        case .null: return "null"
        case .array: return "an array"
        }
    }
}
