/// Redis key names: an interface, because SREs read them with `redis-cli`. This is their one
/// home: the Lua library builds no key name itself; it gets each key it may touch from here,
/// in KEYS, or (for items found in an index) a prefix from here, in ARGV.
///
/// Every key of one environment carries the environment id as its hash tag
/// (`lessor:{env_X}:...`), every key of one worker its worker id, every token key `{tokens}`,
/// so the keys of one call share one cluster slot.
public struct KeySpace: Sendable, Equatable {
    /// The prefix of every key (`LESSOR_NAMESPACE`).
    public let namespace: String

    /// Creates a key space.
    /// - Parameter namespace: The prefix, without a trailing colon.
    public init(namespace: String) {
        self.namespace = namespace
    }

    /// `<ns>:{env_X}:`, what every key of an environment starts with.
    private func environmentPrefix(_ environmentID: String) -> String { "\(namespace):{\(environmentID)}:" }

    /// `<ns>:{env_X}:env`, the environment's hash.
    public func environment(_ environmentID: String) -> String { environmentPrefix(environmentID) + "env" }

    /// `<ns>:{env_X}:work:`, the prefix of the environment's item hashes.
    public func itemPrefix(_ environmentID: String) -> String { environmentPrefix(environmentID) + "work:" }

    /// `<ns>:{env_X}:work:work_Y`, a work item's hash.
    public func item(_ environmentID: String, _ workID: String) -> String { itemPrefix(environmentID) + workID }

    /// `<ns>:{env_X}:lease:`, the prefix of the environment's lease keys.
    public func leasePrefix(_ environmentID: String) -> String { environmentPrefix(environmentID) + "lease:" }

    /// `<ns>:{env_X}:lease:work_Y`, the live lease: its TTL is the remaining lease.
    public func lease(_ environmentID: String, _ workID: String) -> String { leasePrefix(environmentID) + workID }

    /// `<ns>:{env_X}:deadlines`, leased items by lease deadline in ms (a lower bound).
    public func deadlines(_ environmentID: String) -> String { environmentPrefix(environmentID) + "deadlines" }

    /// The four keys `work_heartbeat` declares: the environment, the item, its lease and the
    /// deadlines index (the environment's prefix built once: this runs on every heartbeat).
    public func heartbeatKeys(_ environmentID: String, _ workID: String) -> [String] {
        let prefix = environmentPrefix(environmentID)
        return [prefix + "env", prefix + "work:" + workID, prefix + "lease:" + workID, prefix + "deadlines"]
    }

    /// `<ns>:{env_X}:wakeup`, the Pub/Sub channel told of every newly pollable item.
    public func wakeup(_ environmentID: String) -> String { environmentPrefix(environmentID) + "wakeup" }

    /// The `PSUBSCRIBE` pattern matching every environment's ``wakeup(_:)`` channel.
    public var wakeupPattern: String { "\(namespace):*:wakeup" }

    /// `<ns>:{tag}:slot-guard` for a key `<ns>:{tag}:...`: a key never written, in the key's
    /// slot. Every call declares it on a cluster: while a slot migrates, a node refuses a call
    /// with a missing key (`TRYAGAIN` on both sides), so no call runs against half of a hash
    /// tag whose keys it finds in data (poll, list, reap). nil for a key without a hash tag.
    public func slotGuard(for key: String) -> String? {
        guard let open = key.utf8.firstIndex(of: UInt8(ascii: "{")),
              let close = key.utf8[key.utf8.index(after: open)...].firstIndex(of: UInt8(ascii: "}")),
              close > key.utf8.index(after: open)
        else { return nil }
        return String(key.utf8[...close])! + ":slot-guard"
    }

    /// The environment keys, in the order every whole-environment work function of
    /// `lua/lessor.lua` declares them first: env, queue, delivered, available, deadlines,
    /// items, pollers, stopped, lapses.
    public func environmentKeys(_ environmentID: String) -> [String] {
        let prefix = environmentPrefix(environmentID)
        return ["env", "queue", "delivered", "available", "deadlines", "items", "pollers", "stopped", "lapses"].map { prefix + $0 }
    }

    /// The three ARGV every whole-environment work function starts with: the item and lease
    /// key prefixes and the wakeup channel.
    public func environmentArguments(_ environmentID: String) -> [String] {
        [itemPrefix(environmentID), leasePrefix(environmentID), wakeup(environmentID)]
    }

    /// `<ns>:{tokens}:hash:`, the prefix of token records keyed by the SHA-256 of their secret.
    public var tokenRecordPrefix: String { "\(namespace):{tokens}:hash:" }

    /// `<ns>:{tokens}:hash:<sha256>`, a personal access token's record.
    public func tokenRecord(digest: String) -> String { tokenRecordPrefix + digest }

    /// `<ns>:{tokens}:id:<tok_...>`, the digest of a token by its id.
    public func tokenID(_ id: String) -> String { "\(namespace):{tokens}:id:\(id)" }

    /// `<ns>:{tag}:idem:<record id>`: an idempotency record on the slot of `key`
    /// (`<ns>:{tag}:...`), the first key of the call it protects.
    public func idempotencyRecord(beside key: String, recordID: String) -> String {
        guard let guardKey = slotGuard(for: key) else { return "\(namespace):idem:\(recordID)" }
        return guardKey.dropLast("slot-guard".utf8.count) + "idem:" + recordID
    }

    /// `<ns>:{principal}:reservation:<record id>`: the id an idempotent create reserved
    /// (`principal` is `admin` or a token id), on one slot per principal.
    public func idempotencyReservation(principal: String, recordID: String) -> String {
        "\(namespace):{\(principal)}:reservation:\(recordID)"
    }

    /// `<ns>:{wrk_X}:worker`, a Den worker's hash.
    public func worker(_ workerID: String) -> String { "\(namespace):{\(workerID)}:worker" }

    /// `<ns>:{wrk_X}:presence`, the worker's presence lease: its TTL is the remaining presence.
    public func presence(_ workerID: String) -> String { "\(namespace):{\(workerID)}:presence" }

    /// `<ns>:workers`, a set of every worker id, for listing.
    public var workers: String { "\(namespace):workers" }

    /// `<ns>:environments`, a set of every environment id, for the reaper.
    public var environments: String { "\(namespace):environments" }
}
