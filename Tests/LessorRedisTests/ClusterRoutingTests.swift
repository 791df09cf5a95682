@testable import LessorRedis
import Testing

@Suite("Cluster slot map and redirections (no socket)")
struct ClusterRoutingTests {
    @Test func redirectionsAreParsedFromErrorText() {
        #expect(ClusterRedirection(errorMessage: "MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, to: RedisEndpoint(host: "127.0.0.1", port: 6381)))
        #expect(ClusterRedirection(errorMessage: "ASK 1 [::1]:7000") == .ask(slot: 1, to: RedisEndpoint(host: "::1", port: 7000)))
        #expect(ClusterRedirection(errorMessage: "MOVED 12 :7000") == .moved(slot: 12, to: RedisEndpoint(host: "", port: 7000)))
        #expect(ClusterRedirection(errorMessage: "TRYAGAIN Multiple keys request during rehashing of slot") == .tryAgain)
        #expect(ClusterRedirection(errorMessage: "CLUSTERDOWN The cluster is down") == .clusterDown)
        for other in ["ERR unknown command", "MOVED 16384 a:1", "MOVED x a:1", "MOVED 1 a", "NOSCRIPT No matching script", "MOVED 1 a:1 extra"] {
            #expect(ClusterRedirection(errorMessage: other) == nil, "\(other)")
        }
    }

    @Test func theSlotMapIsReadFromClusterSlotsAndCorrectedByMoved() throws {
        func node(_ host: String, _ port: Int64) -> RESPValue { .array([.bulkString(Array(host.utf8)), .integer(port), .bulkString(Array("id".utf8))]) }
        let reply = RESPValue.array([
            .array([.integer(0), .integer(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7100)]),
            .array([.integer(5461), .integer(10922), node("", 7001)]),
            .array([.integer(10923), .integer(16383), node("127.0.0.1", 7002)]),
        ])
        var map = try ClusterSlotMap(clusterSlots: reply, queried: RedisEndpoint(host: "10.0.0.9", port: 7001))
        #expect(map.coversEverySlot)
        #expect(map.owner(of: 0) == RedisEndpoint(host: "127.0.0.1", port: 7000))
        #expect(map.owner(of: 5461) == RedisEndpoint(host: "10.0.0.9", port: 7001), "an empty host is the queried node's")
        #expect(map.owner(of: 16383) == RedisEndpoint(host: "127.0.0.1", port: 7002))
        #expect(map.primaries.count == 3)
        map.assign(16383, to: RedisEndpoint(host: "127.0.0.1", port: 7000))
        #expect(map.owner(of: 16383) == RedisEndpoint(host: "127.0.0.1", port: 7000))
        #expect(map.primaries.count == 3, "7002 still serves 10923-16382")

        let partial = try ClusterSlotMap(clusterSlots: .array([.array([.integer(0), .integer(10), node("h", 1)])]), queried: RedisEndpoint(host: "h", port: 1))
        #expect(!partial.coversEverySlot)
        #expect(partial.owner(of: 11) == nil)
        #expect(throws: RedisError.self) { try ClusterSlotMap(clusterSlots: .array([.array([.integer(5), .integer(1), node("h", 1)])]), queried: RedisEndpoint(host: "h", port: 1)) }
        #expect(throws: RedisError.self) { try ClusterSlotMap(clusterSlots: .integer(1), queried: RedisEndpoint(host: "h", port: 1)) }
    }
}
