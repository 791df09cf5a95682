/// A cluster node's refusal that says where (or when) to try again, parsed from its error
/// reply: `MOVED 3999 10.0.0.2:6379`, `ASK 3999 10.0.0.2:6379`, `TRYAGAIN ...`, `CLUSTERDOWN ...`.
enum ClusterRedirection: Equatable {
    /// The slot lives on another node for good: update the slot map and go there.
    case moved(slot: Int, to: RedisEndpoint)
    /// The slot is being migrated and this key is already on the target: ask it once, with `ASKING`.
    case ask(slot: Int, to: RedisEndpoint)
    /// The keys are split between the two nodes of a migrating slot: wait and retry.
    case tryAgain
    /// The cluster cannot serve the slot right now (a node failed): refresh the map and retry.
    case clusterDown

    /// Parses a cluster error reply.
    /// - Parameter message: The error text, without the leading `-`.
    /// - Returns: nil for any other error.
    init?(errorMessage message: String) {
        if message.hasPrefix("TRYAGAIN") { self = .tryAgain; return }
        if message.hasPrefix("CLUSTERDOWN") { self = .clusterDown; return }
        let parts = message.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), (0..<HashSlot.count).contains(slot),
              let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...])
        else { return nil }
        var host = String(parts[2][..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let endpoint = RedisEndpoint(host: host, port: port)
        switch parts[0] {
        case "MOVED": self = .moved(slot: slot, to: endpoint)
        case "ASK": self = .ask(slot: slot, to: endpoint)
        default: return nil
        }
    }
}
