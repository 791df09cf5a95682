import CHiredis
import NIOCore

/// A value that can be one argument of a Redis command, as bytes.
public protocol RedisArgumentConvertible: Sendable {
    /// The argument's bytes as Redis receives them.
    var redisArgument: [UInt8] { get }
}

extension String: RedisArgumentConvertible {
    public var redisArgument: [UInt8] { Array(utf8) }
}

extension Substring: RedisArgumentConvertible {
    public var redisArgument: [UInt8] { Array(utf8) }
}

extension Array: RedisArgumentConvertible where Element == UInt8 {
    public var redisArgument: [UInt8] { self }
}

extension Int: RedisArgumentConvertible {
    public var redisArgument: [UInt8] { Array(String(self).utf8) }
}

extension Int64: RedisArgumentConvertible {
    public var redisArgument: [UInt8] { Array(String(self).utf8) }
}

/// One Redis command as binary-safe argv, knowing which arguments are keys.
///
/// Keys matter for Redis Cluster, which routes a command by its keys' hash slot.
public struct RedisCommand: Sendable {
    /// Every argument, the command name first.
    public var arguments: [[UInt8]]
    /// Positions in ``arguments`` that hold keys.
    public var keyPositions: [Int]

    /// Creates a command from its argv.
    /// - Parameters:
    ///   - arguments: The command name followed by its arguments.
    ///   - keyPositions: Positions in `arguments` that are keys.
    public init(arguments: [[UInt8]], keyPositions: [Int] = []) {
        self.arguments = arguments
        self.keyPositions = keyPositions
    }

    /// Creates a command that touches no key, or whose keys do not matter for routing.
    /// - Parameters:
    ///   - name: The command name, such as `"PING"`.
    ///   - arguments: Its arguments.
    public init(_ name: String, _ arguments: any RedisArgumentConvertible...) {
        self.init(arguments: [Array(name.utf8)] + arguments.map(\.redisArgument))
    }

    /// Creates a command whose first argument is its only key (`GET k`, `SET k v`, ...).
    /// - Parameters:
    ///   - name: The command name.
    ///   - key: The key.
    ///   - arguments: The arguments after the key.
    public init(_ name: String, key: any RedisArgumentConvertible, _ arguments: any RedisArgumentConvertible...) {
        self.init(
            arguments: [Array(name.utf8), key.redisArgument] + arguments.map(\.redisArgument),
            keyPositions: [1]
        )
    }

    /// The keys this command touches.
    public var keys: [[UInt8]] { keyPositions.map { arguments[$0] } }

    /// The command name, for logs and metrics.
    public var name: String { String(decoding: arguments.first ?? [], as: UTF8.self).uppercased() }

    /// Encodes the command as RESP with hiredis's `redisFormatCommandArgv`.
    /// - Returns: The bytes to write to the socket.
    func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var lengths = arguments.map(\.count)
        var offsets: [Int] = []
        offsets.reserveCapacity(arguments.count)
        // One contiguous copy of all arguments so a single pointer base serves every argv entry;
        // the trailing byte keeps the base address non-nil when every argument is empty.
        var flat: [UInt8] = []
        flat.reserveCapacity(lengths.reduce(1, +))
        for argument in arguments {
            offsets.append(flat.count)
            flat.append(contentsOf: argument)
        }
        flat.append(0)
        return flat.withUnsafeBufferPointer { storage in
            let base = UnsafeRawPointer(storage.baseAddress!)
            var argv: [UnsafePointer<CChar>?] = offsets.map { (base + $0).assumingMemoryBound(to: CChar.self) }
            var target: UnsafeMutablePointer<CChar>?
            let length = redisFormatCommandArgv(&target, Int32(arguments.count), &argv, &lengths)
            guard length >= 0, let target else { fatalError("redisFormatCommandArgv: out of memory") }
            defer { redisFreeCommand(target) }
            var buffer = allocator.buffer(capacity: Int(length))
            buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(length)))
            return buffer
        }
    }
}
