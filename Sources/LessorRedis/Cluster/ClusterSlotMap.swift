/// Which primary serves each of the 16384 hash slots, from `CLUSTER SLOTS`.
///
/// A value type with no I/O, so parsing and `MOVED` updates are tested without a cluster.
struct ClusterSlotMap: Sendable, Equatable {
    /// Every node named so far, in the order first named (some may no longer serve a slot).
    private var nodes: [RedisEndpoint] = []
    /// For each slot, an index into ``primaries``, or -1 when no node serves it.
    private var owners = [Int16](repeating: -1, count: HashSlot.count)

    /// An empty map: every slot unserved.
    init() {}

    /// Parses a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...], replica...], ...]`.
    /// - Parameters:
    ///   - reply: The reply.
    ///   - queried: The node that answered; an empty host in the reply means this node's host.
    /// - Throws: `unexpectedReply` for any other shape.
    init(clusterSlots reply: RESPValue, queried: RedisEndpoint) throws(RedisError) {
        guard case .array(let ranges) = reply else {
            throw RedisError(.unexpectedReply, "CLUSTER SLOTS replied \(reply.kind)")
        }
        for range in ranges {
            guard case .array(let fields) = range, fields.count >= 3,
                  case .integer(let start) = fields[0], case .integer(let end) = fields[1],
                  0 <= start, start <= end, end < HashSlot.count,
                  case .array(let primary) = fields[2], primary.count >= 2,
                  case .integer(let port) = primary[1], let hostBytes = primary[0].bulkBytes
            else { throw RedisError(.unexpectedReply, "CLUSTER SLOTS has a malformed range: \(range)") }
            let host = String(decoding: hostBytes, as: UTF8.self)
            let endpoint = RedisEndpoint(host: host.isEmpty || host == "?" ? queried.host : host, port: Int(port))
            for slot in Int(start)...Int(end) { assign(slot, to: endpoint) }
        }
    }

    /// The primary that serves `slot`, if any.
    func owner(of slot: Int) -> RedisEndpoint? {
        let index = owners[slot]
        return index < 0 ? nil : nodes[Int(index)]
    }

    /// The primaries that serve at least one slot.
    var primaries: [RedisEndpoint] {
        let serving = Set(owners)
        return nodes.indices.filter { serving.contains(Int16($0)) }.map { nodes[$0] }
    }

    /// True when every slot has a primary.
    var coversEverySlot: Bool { !owners.contains(-1) }

    /// Records that `slot` now lives on `endpoint` (after a `MOVED`).
    mutating func assign(_ slot: Int, to endpoint: RedisEndpoint) {
        if let index = nodes.firstIndex(of: endpoint) {
            owners[slot] = Int16(index)
        } else {
            nodes.append(endpoint)
            owners[slot] = Int16(nodes.count - 1)
        }
    }
}
