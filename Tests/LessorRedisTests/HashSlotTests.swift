import Testing

@testable import LessorRedis

@Suite("Cluster hash slots")
struct HashSlotTests {
    @Test func crc16MatchesTheClusterSpec() {
        // The Redis Cluster specification's check value for CRC16-XMODEM.
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
    }

    @Test func hashTagsFollowTheSpec() {
        #expect(HashSlot.of("{user1000}.following") == HashSlot.of("{user1000}.followers"))
        #expect(HashSlot.of("foo{}{bar}") == HashSlot.of("foo{}{bar}"))
        #expect(HashSlot.of("foo{}{bar}") != HashSlot.of("bar") || HashSlot.of("foo{}{bar}") == HashSlot.of("foo{}{bar}"))
        #expect(HashSlot.of("foo{{bar}}zap") == HashSlot.of("{bar"))
        #expect(HashSlot.of("foo{bar}{zap}") == HashSlot.of("bar"))
        #expect(HashSlot.of("") == 0)
        #expect((0..<HashSlot.count).contains(HashSlot.of("lessor:{env_0123456789abcdef0123456789abcdef}:env")))
    }
}
