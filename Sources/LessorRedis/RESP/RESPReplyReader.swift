import CHiredis
import NIOCore

/// Turns bytes from a socket into ``RESPValue``s with hiredis's `redisReader`.
///
/// Owns one C reader and frees it in `deinit`. Not thread-safe: it lives on the
/// event loop of the channel it reads for.
final class RESPReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else {
            // hiredis only returns NULL when malloc fails.
            fatalError("redisReaderCreate: out of memory")
        }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    /// Hands bytes to the reader; replies become available through ``next()``.
    func feed(_ buffer: ByteBuffer) throws(RedisError) {
        let status = buffer.withUnsafeReadableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return REDIS_OK }
            return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        if status != REDIS_OK { throw protocolError() }
    }

    /// Hands raw bytes to the reader (tests and fuzzing).
    func feed(_ bytes: [UInt8]) throws(RedisError) {
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        try feed(buffer)
    }

    /// The next complete reply, or nil when more bytes are needed.
    /// - Throws: ``RedisError/Code/protocolError`` when the bytes are not RESP.
    func next() throws(RedisError) -> RESPValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw protocolError() }
        guard let raw else { return nil }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return Self.copy(reply)
    }

    private func protocolError() -> RedisError {
        let text = withUnsafeBytes(of: &reader.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return RedisError(.protocolError, "invalid RESP from Redis: \(text)")
    }

    /// Copies a hiredis reply tree into Swift values (the C tree is freed right after).
    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STATUS:
            return .simpleString(text(r.str, r.len))
        case REDIS_REPLY_ERROR:
            return .error(text(r.str, r.len))
        case REDIS_REPLY_INTEGER:
            return .integer(r.integer)
        case REDIS_REPLY_STRING:
            guard let str = r.str, r.len > 0 else { return .bulkString([]) }
            return .bulkString(Array(UnsafeRawBufferPointer(start: str, count: r.len)))
        case REDIS_REPLY_ARRAY:
            var values: [RESPValue] = []
            values.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                if let element = r.element[index] { values.append(copy(element)) } else { values.append(.null) }
            }
            return .array(values)
        default:
            return .null  // REDIS_REPLY_NIL: null bulk string and null array alike
        }
    }

    private static func text(_ str: UnsafeMutablePointer<CChar>?, _ len: Int) -> String {
        guard let str, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: len), as: UTF8.self)
    }
}
