/// A Redis Functions library (Redis 7+): Lua source whose first line is `#!lua name=<name>`,
/// loaded with `FUNCTION LOAD REPLACE` and called with `FCALL`.
///
/// Functions persist in RDB and AOF and replicate, unlike the script cache; a server may
/// still lack them (a new node, `FUNCTION FLUSH`), which `FCALL` reports as "Function not
/// found" before running anything, so loading and calling again cannot run a call twice.
public struct RedisFunctionLibrary: Sendable, Hashable {
    /// The library's name, from its first line.
    public let name: String
    /// The source, byte for byte as the server stores it (`FUNCTION LIST WITHCODE`).
    public let source: String

    /// Creates a library.
    /// - Parameter source: Lua source starting with `#!lua name=<name>`.
    /// - Throws: `invalidConfiguration` when the first line names no library.
    public init(source: String) throws(RedisError) {
        let firstLine = source.prefix { $0 != "\n" }
        let prefix = "#!lua name="
        guard firstLine.hasPrefix(prefix), let name = firstLine.dropFirst(prefix.count).split(separator: " ").first, !name.isEmpty else {
            throw RedisError(.invalidConfiguration, "a function library must start with \(prefix)<name>")
        }
        self.name = String(name)
        self.source = source
    }
}

extension RedisFunctionLibrary: RedisLoadable {
    /// True for `ERR Function not found`.
    public func isMissing(_ error: RedisError) -> Bool {
        error.code == .serverError && error.message.hasPrefix("ERR Function not found")
    }

    /// `FUNCTION LOAD REPLACE`, checking the name the server reports.
    public func load(on node: RedisNodeClient) async throws(RedisError) {
        let loaded = try await node.send(RedisCommand("FUNCTION", "LOAD", "REPLACE", source), as: String.self)
        guard loaded == name else {
            throw RedisError(.unexpectedReply, "FUNCTION LOAD returned \(loaded), expected \(name)")
        }
    }

    /// The library's code as one server holds it, or nil when it holds none of that name.
    /// - Throws: As ``RedisNodeClient/send(_:)``, or `unexpectedReply` for a malformed listing.
    public func loadedSource(on node: RedisNodeClient) async throws(RedisError) -> String? {
        let reply = try await node.send(RedisCommand("FUNCTION", "LIST", "LIBRARYNAME", name, "WITHCODE"))
        guard case .array(let libraries) = reply else { throw RedisError(.unexpectedReply, "FUNCTION LIST replied \(reply.kind)") }
        for case .array(let fields) in libraries {
            var library: String?
            var code: String?
            var index = fields.startIndex
            while index + 1 < fields.endIndex {
                switch try? String(fromRESP: fields[index]) {
                case "library_name"?: library = try? String(fromRESP: fields[index + 1])
                case "library_code"?: code = try? String(fromRESP: fields[index + 1])
                default: break
                }
                index += 2
            }
            if library == name { return code }
        }
        return nil
    }
}

extension RedisClient {
    /// Calls a function of a library with `FCALL`; when the node lacks the library it is
    /// loaded there and the call is sent once more (it did not run, so it cannot run twice).
    /// - Parameters:
    ///   - function: The function's name.
    ///   - library: The library that registers it.
    ///   - keys: The keys it declares; the first one routes the call on a cluster.
    ///   - arguments: Its other arguments.
    ///   - wait: When given, the call is acknowledged only once that many replicas have it.
    /// - Returns: The function's reply.
    /// - Throws: As ``send(_:)``; `notReplicated` when the replicas of `wait` did not
    ///   acknowledge it in time.
    @discardableResult
    public func call(
        _ function: String,
        in library: RedisFunctionLibrary,
        keys: [any RedisArgumentConvertible],
        arguments: [any RedisArgumentConvertible],
        wait: ReplicationWait? = nil
    ) async throws(RedisError) -> RESPValue {
        var argv: [[UInt8]] = []
        argv.reserveCapacity(3 + keys.count + arguments.count)
        argv.append(Array("FCALL".utf8))
        argv.append(Array(function.utf8))
        argv.append(keys.count.redisArgument)
        for key in keys { argv.append(key.redisArgument) }
        for argument in arguments { argv.append(argument.redisArgument) }
        return try await execute(RedisCommand(arguments: argv, keyPositions: Array(3..<(3 + keys.count))), script: library, wait: wait)
    }
}
