import Foundation

/// One entry of an environment's lapse log (`<ns>:{env_X}:lapses`): a lease that lapsed, whose
/// it was and what became of the item. `lua/lessor.lua`'s `log_lapse` writes them; the log
/// keeps the last 100 and none older than the retention of stopped items.
public struct WorkLapse: Sendable, Equatable {
    /// What the lapse did to the item.
    public enum Outcome: String, Sendable {
        /// Queued again, ahead of never-delivered items.
        case requeued
        /// Stopped as a dead letter: it lapsed the environment's `max_lapses` times.
        case deadLettered = "dead_lettered"
        /// Stopped: it was already stopping (`lapsed_while_stopping`).
        case stopped
    }

    /// When the lapse was handled (Redis's clock).
    public var at: Timestamp
    public var workID: String
    /// The Worker-ID that held the lease; nil when the item had none.
    public var workerID: String?
    /// The fencing token of the lease that lapsed.
    public var fencingToken: Int
    /// The item's lapses so far, this one included.
    public var lapseCount: Int
    public var outcome: Outcome

    /// Reads a log member, `[µs, work id, worker id or "", fencing token, lapse count, outcome]`.
    /// - Returns: nil for a member of any other shape.
    public init?(logEntry: String) {
        guard let fields = try? JSONSerialization.jsonObject(with: Data(logEntry.utf8)) as? [Any], fields.count == 6,
              let micros = (fields[0] as? NSNumber)?.int64Value, let workID = fields[1] as? String, let workerID = fields[2] as? String,
              let token = (fields[3] as? NSNumber)?.intValue, let lapses = (fields[4] as? NSNumber)?.intValue,
              let outcome = (fields[5] as? String).flatMap(Outcome.init(rawValue:))
        else { return nil }
        self.at = Timestamp(microseconds: micros)
        self.workID = workID
        self.workerID = workerID.isEmpty ? nil : workerID
        self.fencingToken = token
        self.lapseCount = lapses
        self.outcome = outcome
    }
}
