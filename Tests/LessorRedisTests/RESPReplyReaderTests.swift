import NIOCore
import Testing

@testable import LessorRedis

@Suite("RESP reader (hiredis redisReader, no socket)")
struct RESPReplyReaderTests {
    private func read(_ text: String) throws -> [RESPValue] {
        try read(Array(text.utf8))
    }

    private func read(_ bytes: [UInt8]) throws -> [RESPValue] {
        let reader = RESPReplyReader()
        try reader.feed(bytes)
        var replies: [RESPValue] = []
        while let reply = try reader.next() { replies.append(reply) }
        return replies
    }

    @Test func everyRESP2Type() throws {
        #expect(try read("+OK\r\n") == [.simpleString("OK")])
        #expect(try read("-ERR wrong\r\n") == [.error("ERR wrong")])
        #expect(try read(":-42\r\n") == [.integer(-42)])
        #expect(try read(":9223372036854775807\r\n") == [.integer(.max)])
        #expect(try read("$5\r\nhello\r\n") == [.bulkString(Array("hello".utf8))])
        #expect(try read("$0\r\n\r\n") == [.bulkString([])])
        #expect(try read("$-1\r\n") == [.null])
        #expect(try read("*-1\r\n") == [.null])
        #expect(try read("*0\r\n") == [.array([])])
        #expect(try read("*3\r\n:1\r\n$-1\r\n+x\r\n") == [.array([.integer(1), .null, .simpleString("x")])])
    }

    @Test func nestedArrays() throws {
        let reply = try read("*2\r\n*2\r\n:1\r\n*1\r\n$1\r\na\r\n-ERR inner\r\n")
        #expect(reply == [.array([.array([.integer(1), .array([.bulkString([97])])]), .error("ERR inner")])])
    }

    @Test func bulkStringsAreBinarySafe() throws {
        let payload: [UInt8] = [0, 255, 13, 10, 0xC3, 0x28]
        let reply = try read(Array("$6\r\n".utf8) + payload + Array("\r\n".utf8))
        #expect(reply == [.bulkString(payload)])
    }

    @Test func repliesSplitAcrossReadsAndSeveralInOneRead() throws {
        let reader = RESPReplyReader()
        var replies: [RESPValue] = []
        for byte in Array("*2\r\n$3\r\nfoo\r\n:7\r\n+PONG\r\n:1\r\n".utf8) {
            try reader.feed([byte])
            while let reply = try reader.next() { replies.append(reply) }
        }
        #expect(replies == [.array([.bulkString(Array("foo".utf8)), .integer(7)]), .simpleString("PONG"), .integer(1)])
    }

    @Test func garbageIsAProtocolError() throws {
        let reader = RESPReplyReader()
        try reader.feed(Array("?what\r\n".utf8))
        #expect(throws: RedisError.self) { try reader.next() }
        do {
            _ = try reader.next()
        } catch {
            #expect(error.code == .protocolError)
            #expect(error.message.contains("invalid RESP"))
        }
    }
}

@Suite("Command encoding (redisFormatCommandArgv)")
struct RedisCommandTests {
    private func encoded(_ command: RedisCommand) -> [UInt8] {
        var buffer = command.encoded()
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    @Test func argvIsBinarySafe() {
        let command = RedisCommand(arguments: [Array("SET".utf8), [0, 1], [], [0xFF]])
        #expect(encoded(command) == Array("*4\r\n$3\r\nSET\r\n$2\r\n".utf8) + [0, 1] + Array("\r\n$0\r\n\r\n$1\r\n".utf8) + [0xFF] + Array("\r\n".utf8))
    }

    @Test func allEmptyArguments() {
        #expect(encoded(RedisCommand(arguments: [[]])) == Array("*1\r\n$0\r\n\r\n".utf8))
    }

    @Test func keysAreKnown() {
        let command = RedisCommand("SET", key: "k", "v")
        #expect(command.keys == [Array("k".utf8)])
        #expect(command.name == "SET")
        #expect(RedisCommand("PING").keys.isEmpty)
    }

    @Test func scriptSHA1MatchesRedis() {
        // `redis-cli SCRIPT LOAD "return 1"` prints this digest.
        #expect(RedisScript(source: "return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}
