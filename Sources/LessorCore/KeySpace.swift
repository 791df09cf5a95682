/// Redis key names: an interface, because SREs read them with `redis-cli`.
///
/// Every key of one environment carries the environment id as its hash tag
/// (`lessor:{env_X}:...`), so one script touches one cluster slot. The scripts derive the
/// other keys of an environment from the prefix of ``environment(_:)``.
public struct KeySpace: Sendable, Equatable {
    /// The prefix of every key (`LESSOR_NAMESPACE`).
    public let namespace: String

    /// Creates a key space.
    /// - Parameter namespace: The prefix, without a trailing colon.
    public init(namespace: String) {
        self.namespace = namespace
    }

    /// `<ns>:{env_X}:env`, the environment's hash; KEYS[1] of every work script.
    public func environment(_ environmentID: String) -> String { "\(namespace):{\(environmentID)}:env" }

    /// `<ns>:{env_X}:work:work_Y`, a work item's hash.
    public func item(_ environmentID: String, _ workID: String) -> String { "\(namespace):{\(environmentID)}:work:\(workID)" }

    /// `<ns>:{env_X}:lease:work_Y`, the live lease: its TTL is the remaining lease.
    public func lease(_ environmentID: String, _ workID: String) -> String { "\(namespace):{\(environmentID)}:lease:\(workID)" }

    /// `<ns>:{tokens}:hash:`, the prefix of token records keyed by the SHA-256 of their secret.
    public var tokenRecordPrefix: String { "\(namespace):{tokens}:hash:" }

    /// `<ns>:{tokens}:hash:<sha256>`, a personal access token's record.
    public func tokenRecord(digest: String) -> String { tokenRecordPrefix + digest }

    /// `<ns>:{tokens}:id:<tok_...>`, the digest of a token by its id.
    public func tokenID(_ id: String) -> String { "\(namespace):{tokens}:id:\(id)" }

    /// `<ns>:{wrk_X}:worker`, a Den worker's hash.
    public func worker(_ workerID: String) -> String { "\(namespace):{\(workerID)}:worker" }

    /// `<ns>:{wrk_X}:presence`, the worker's presence lease: its TTL is the remaining presence.
    public func presence(_ workerID: String) -> String { "\(namespace):{\(workerID)}:presence" }

    /// `<ns>:workers`, a set of every worker id, for listing.
    public var workers: String { "\(namespace):workers" }

    /// `<ns>:environments`, a set of every environment id, for the reaper.
    public var environments: String { "\(namespace):environments" }
}
