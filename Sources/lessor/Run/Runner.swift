import Foundation
import LessorClient
import LessorCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `lessor run`'s engine: polls, acks, runs the command once per item under the item's lease,
/// and stops the item when the command is done. The exclusion guarantee is kept here: with D
/// the lease's deadline (``Lease/deadline``: the send time of the last successful ack or
/// heartbeat plus the granted TTL, on the monotonic clock), the command gets SIGTERM at
/// D − kill-after and SIGKILL at D, whatever the server says or cannot say; on a takeover at
/// once.
final class Runner: Sendable {
    struct Options: Sendable {
        var environment: String
        var worker: String
        var ttl: Duration?
        var concurrency: Int
        var once: Bool
        var killAfter: Duration
        var command: [String]
    }

    let client: LessorClient
    let options: Options
    let logger: Logger
    /// Set by the first SIGTERM/SIGINT: no new polls.
    let draining = Atomic<Bool>(false)
    /// Set by the second: running commands get SIGTERM, then SIGKILL after kill-after.
    let killing = Atomic<Bool>(false)
    /// Set when a lease's TTL turned out too short for --kill-after: the runner exits 64.
    let fatalRefusal = Atomic<Bool>(false)

    init(client: LessorClient, logger: Logger, options: Options) {
        self.client = client
        self.options = options
        self.logger = logger
    }

    /// Runs until drained (or, with `--once`, one item).
    /// - Returns: The exit status of the process: with `--once` the command's, else 0.
    func run() async -> Int32 {
        if options.once {
            guard let item = await pollOnce(block: .milliseconds(999)) else {
                logger.notice("no work: the queue is empty")
                return 0
            }
            let status = await handle(item)
            return fatalRefusal.load(ordering: .acquiring) ? 64 : status ?? 1
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<options.concurrency {
                group.addTask {
                    while !self.draining.load(ordering: .acquiring) {
                        guard let item = await self.pollOnce(block: .milliseconds(999)) else { continue }
                        _ = await self.handle(item)
                    }
                }
            }
        }
        return fatalRefusal.load(ordering: .acquiring) ? 64 : 0
    }

    /// One long poll; nil when nothing came (or the runner is draining, or the poll failed).
    private func pollOnce(block: Duration) async -> WorkItem? {
        do throws(LessorClientError) {
            guard let item = try await client.poll(environment: options.environment, worker: options.worker, block: block) else { return nil }
            // Delivered after the drain began: left unacknowledged, it is redelivered elsewhere.
            return draining.load(ordering: .acquiring) ? nil : item
        } catch {
            logger.warning("poll failed", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return nil
        }
    }

    /// Runs the command for one item under its lease.
    /// - Returns: The command's exit status, or nil when it never ran.
    private func handle(_ item: WorkItem) async -> Int32? {
        let started = ContinuousClock.now
        let exited = Mutex<Int32?>(nil)
        do {
            let status: Int32 = try await client.withLease(environment: item.environmentID, work: item.id, worker: options.worker, ttl: options.ttl) { lease in
                guard self.options.killAfter * 2 < lease.grantedTTL else {
                    // Left to its lease: it lapses and is redelivered to a runner that can keep the guarantee.
                    throw RunError.killAfterTooLong(lease.grantedTTL)
                }
                let child = try ChildCommand(self.options.command, environment: self.environment(for: lease))
                let status = await self.supervise(child, lease)
                exited.withLock { $0 = status }
                if status != 0, lease.end == nil {
                    // Recorded while the lease is held, before the stop.
                    _ = try? await self.client.updateMetadata(
                        environment: item.environmentID, work: item.id, ["lessor.exit_status": String(status)], idempotencyKey: UUID().uuidString)
                }
                return status
            }
            logger.info("\(item.id): exit \(status), stopped (completed)", metadata: ["seconds": "\(ContinuousClock.now - started)"])
            return status
        } catch let lost as LeaseLost {
            let status = exited.withLock { $0 }
            if lost.end == .stopRequested {
                logger.info("\(item.id): stop requested; exit \(status.map(String.init) ?? "none"), stopped")
            } else {
                logger.warning("\(item.id): lease ended (\(lost.end)); exit \(status.map(String.init) ?? "none"); the item is left alone")
            }
            return status
        } catch let error as RunError {
            logger.error("\(item.id): \(error)")
            fatalRefusal.store(true, ordering: .releasing)
            draining.store(true, ordering: .releasing)
            return nil
        } catch {
            logger.error("\(item.id): \(error)")
            return nil
        }
    }

    /// The command's environment: the runner's own without its token, plus the item's.
    private func environment(for lease: Lease) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["LESSOR_TOKEN"] = nil
        let metadata = (try? JSONSerialization.data(withJSONObject: lease.item.metadata, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        environment["LESSOR_ENVIRONMENT_ID"] = lease.item.environmentID
        environment["LESSOR_WORK_ID"] = lease.item.id
        environment["LESSOR_SESSION_ID"] = lease.item.sessionID
        environment["LESSOR_FENCING_TOKEN"] = String(lease.fencingToken)
        environment["LESSOR_WORKER_ID"] = options.worker
        environment["LESSOR_METADATA"] = metadata
        return environment
    }

    /// Waits for the command, signalling it as the lease and the runner's signals require.
    /// Checks every 50 ms by the monotonic clock, so a runner frozen past D acts as soon as it
    /// runs again; it is not cancellable (the command is always waited for).
    private func supervise(_ child: ChildCommand, _ lease: Lease) async -> Int32 {
        var terminatedAt: ContinuousClock.Instant?
        var killAt: ContinuousClock.Instant?
        while child.status == nil {
            let now = ContinuousClock.now
            let deadline = lease.deadline
            switch lease.end {
            case .takenOver?, .lapsed?:
                // Another worker may hold it already: no grace.
                killAt = now
            case .stopped?, .stopRequested?:
                if terminatedAt == nil {
                    terminatedAt = now
                    child.signal(SIGTERM)
                    killAt = min(now + options.killAfter, deadline)
                }
            case .released?, nil:
                if killing.load(ordering: .acquiring), terminatedAt == nil {
                    terminatedAt = now
                    child.signal(SIGTERM)
                    killAt = min(now + options.killAfter, deadline)
                }
            }
            if terminatedAt == nil, now >= deadline - options.killAfter {
                terminatedAt = now
                child.signal(SIGTERM)
                killAt = deadline
            }
            if let killAt, now >= killAt || now >= deadline {
                child.signal(SIGKILL)
            }
            await Self.pause(.milliseconds(50))
        }
        return await child.exitStatus()
    }

    /// A pause that cancellation does not cut short (the supervision loop must go on).
    private static func pause(_ duration: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let nanoseconds = Int(duration / .nanoseconds(1))
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { continuation.resume() }
        }
    }
}

enum RunError: Error, CustomStringConvertible {
    case killAfterTooLong(Duration)

    var description: String {
        switch self {
        case .killAfterTooLong(let ttl):
            return "--kill-after must be below half the lease's TTL (\(ttl)); the item is left to lapse and be redelivered"
        }
    }
}
