import Foundation
import LessorCore
import Synchronization

/// How a lease ended.
public enum LeaseEnd: Sendable, Equatable {
    /// A stop was requested through the API (the item is `stopping`): finish and let go.
    case stopRequested
    /// The item was stopped (or deleted) by someone else.
    case stopped
    /// Another worker holds the item now (a heartbeat answered 412).
    case takenOver
    /// No heartbeat succeeded before the lease's deadline, by this client's clock.
    case lapsed
    /// The holder stopped the item itself.
    case released
}

/// Thrown by ``LessorClient/withLease(environment:work:worker:ttl:_:)`` when the lease ended
/// before the body did (the body was cancelled).
public struct LeaseLost: Error, Sendable, Equatable {
    public var end: LeaseEnd

    public init(end: LeaseEnd) {
        self.end = end
    }
}

/// A held lease on one work item, renewed by ``LessorClient/withLease(environment:work:worker:ttl:_:)``
/// every third of its TTL (with jitter), each heartbeat a compare-and-set on the last one and
/// fenced by the worker id; a transient failure is retried with the same idempotency key until
/// the deadline, never past it.
///
/// The deadline is kept by this process's monotonic clock: the send time of the last
/// successful ack or heartbeat plus the TTL the server granted, so ``remaining`` is never longer
/// than what the server said.
public final class Lease: Sendable {
    /// The item as the ack answered it.
    public let item: WorkItem
    public let workerID: String
    /// Fence every side effect with it: it grows at every ack of the item.
    public var fencingToken: Int { item.fencingToken }

    let client: LessorClient
    let ttl: Duration?

    private struct State {
        var deadline: ContinuousClock.Instant
        var granted: Duration
        var last: ExpectedLastHeartbeat
        var end: LeaseEnd?
        var waiters: [Waiter] = []
    }

    private struct Waiter {
        let id: UUID
        let continuation: CheckedContinuation<LeaseEnd?, Never>
    }

    private let state: Mutex<State>

    init(item: WorkItem, workerID: String, client: LessorClient, ttl: Duration?, sent: ContinuousClock.Instant) {
        self.item = item
        self.workerID = workerID
        self.client = client
        self.ttl = ttl
        // The TTL the server granted, on its own clock: lease_expires_at minus the moment it was
        // set (the ack, or the last heartbeat when the ack answered an item this worker held).
        var granted = ttl ?? .seconds(60)
        let renewedAt = [item.acknowledgedAt, item.latestHeartbeatAt].compactMap { $0 }.max()
        if let expires = item.leaseExpiresAt, let renewedAt {
            granted = .microseconds(expires.microseconds - renewedAt.microseconds)
        }
        // The chain goes on from the item's last heartbeat (none after a first ack).
        let last: ExpectedLastHeartbeat = item.latestHeartbeatAt.map { .at($0) } ?? .none
        state = Mutex(State(deadline: sent + granted, granted: granted, last: last))
    }

    /// What is left of the lease by this client's clock (zero once it is over).
    public var remaining: Duration {
        state.withLock { state in state.end == nil || state.end == .stopRequested ? max(.zero, state.deadline - .now) : .zero }
    }

    /// When the lease ends unless renewed, by this process's monotonic clock: the send time of
    /// the last successful ack or heartbeat plus the TTL the server granted. It stays where it
    /// was once the lease has ended.
    public var deadline: ContinuousClock.Instant { state.withLock { $0.deadline } }

    /// The TTL the server granted at the last successful ack or heartbeat.
    public var grantedTTL: Duration { state.withLock { $0.granted } }

    /// How the lease ended, or nil while it is held.
    public var end: LeaseEnd? { state.withLock { $0.end } }

    /// Waits until the lease ends (a stop request counts).
    /// - Returns: How it ended; nil when the waiting task was cancelled first.
    public func ended() async -> LeaseEnd? {
        let id = UUID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<LeaseEnd?, Never>) in
                let now: LeaseEnd?? = state.withLock { state in
                    if let end = state.end { return .some(end) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: nil)
        }
    }

    /// Records how the lease ended and wakes the waiters. The first end wins, except that a stop
    /// request may still be followed by the end it leads to.
    func finish(_ end: LeaseEnd) {
        let waiters: [Waiter] = state.withLock { state in
            guard state.end == nil || (state.end == .stopRequested && end != .stopRequested) else { return [] }
            state.end = end
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: end) }
    }

    /// Renews the lease until it ends or the task is cancelled. After ``LeaseEnd/stopRequested``
    /// it goes on renewing (the holder is finishing), and it stops for good at any other end.
    func renew() async {
        // The ack grants the server's default TTL; a lease asked for another one gets it at once.
        var first = ttl != nil && ttl != state.withLock { $0.granted }
        while !Task.isCancelled {
            let (deadline, granted) = state.withLock { ($0.deadline, $0.granted) }
            // Every third of the TTL, ±10 %: a fleet's beats do not fall into step.
            let jitter = Double.random(in: 0.9...1.1)
            let next = first ? .now : min(ContinuousClock.now + granted / 3 * jitter, deadline)
            first = false
            try? await Task.sleep(until: next, clock: .continuous)
            if Task.isCancelled { return }
            guard await beat() else { return }
        }
    }

    /// One renewal, retried while transient until the deadline.
    /// - Returns: False when the lease is over.
    private func beat() async -> Bool {
        let key = UUID().uuidString
        // A retry may be answered from the first try's record, whose lease began no earlier
        // than the first send: the deadline counts from there.
        let firstSent = ContinuousClock.now
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            let (deadline, last) = state.withLock { ($0.deadline, $0.last) }
            let now = ContinuousClock.now
            guard now < deadline else {
                finish(.lapsed)
                return false
            }
            do {
                let result = try await client.heartbeat(
                    environment: item.environmentID, work: item.id, worker: workerID, expected: last, ttl: ttl,
                    idempotencyKey: key, timeout: min(deadline - now, client.requestTimeout))
                state.withLock { state in
                    state.deadline = firstSent + result.ttl
                    state.granted = result.ttl
                    if let stamp = result.lastHeartbeat { state.last = .at(stamp) }
                }
                switch result.state {
                case .stopping: finish(.stopRequested)
                case .stopped, .queued:
                    finish(.stopped)
                    return false
                case .starting, .active: break
                }
                return true
            } catch {
                switch error.status {
                case 412?:
                    finish(.takenOver)
                    return false
                case 409?, 404?:
                    // Queued again (it lapsed on the server) or stopped: either way not ours.
                    let current = try? await client.get(environment: item.environmentID, work: item.id)
                    finish(current?.state == .stopped || error.status == 404 ? .stopped : .lapsed)
                    return false
                case let status? where status < 500:
                    // Refused for good (401, 403, 400): the lease cannot be renewed.
                    finish(.lapsed)
                    return false
                default:
                    try? await Task.sleep(for: min(backoff, max(.zero, deadline - .now)))
                    backoff = min(backoff * 2, .seconds(2))
                }
            }
        }
        return false
    }

    /// Stops the item as its holder (`stopped`, `completed`); the lease ends as ``LeaseEnd/released``.
    /// Does nothing once the lease was lost: another worker may hold the item.
    public func release() async throws(LessorClientError) {
        guard end == nil || end == .stopRequested else { return }
        let key = UUID().uuidString
        while true {
            let failure: LessorClientError
            do {
                _ = try await client.stop(environment: item.environmentID, work: item.id, worker: workerID, idempotencyKey: key)
                finish(.released)
                return
            } catch {
                failure = error
            }
            guard failure.isTransient, remaining > .zero else { throw failure }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }
}

extension LessorClient {
    /// The ack of a lease, retried with one idempotency key while the failure is transient (20
    /// tries, growing pauses), and the time its successful try was sent.
    private func acknowledge(environment: String, work: String, worker: String) async throws(LessorClientError) -> (WorkItem, ContinuousClock.Instant) {
        let key = UUID().uuidString
        // As for a heartbeat: a retry's answer may be the first try's, so time runs from it.
        let sent = ContinuousClock.now
        var tries = 0
        while true {
            let failure: LessorClientError
            do {
                return (try await ack(environment: environment, work: work, worker: worker, idempotencyKey: key), sent)
            } catch {
                failure = error
            }
            tries += 1
            guard failure.isTransient, tries < 20 else { throw failure }
            try? await Task.sleep(for: .milliseconds(100 * tries))
        }
    }

    /// Acknowledges `work` under `worker`, renews its lease while `body` runs, and stops the
    /// item as its holder when `body` returns. When the lease ends first (taken over, lapsed,
    /// stopped, or a stop was requested), `body` is cancelled and ``LeaseLost`` is thrown once it
    /// has returned; after a stop request the item is then stopped. When `body` throws, the
    /// error is rethrown and the item is left to its lease, which lapses (and the item is
    /// redelivered) unless another call stops it.
    /// - Parameters:
    ///   - ttl: The lease the heartbeats ask for; the ack grants the server default, so a first
    ///     heartbeat right after it asks for this one.
    ///   - body: The work; check `Task.isCancelled` (or call cancellable APIs) to notice a loss.
    public func withLease<T: Sendable>(
        environment: String, work: String, worker: String, ttl: Duration? = nil, _ body: @escaping @Sendable (Lease) async throws -> T
    ) async throws -> T {
        let (item, sent) = try await acknowledge(environment: environment, work: work, worker: worker)
        let lease = Lease(item: item, workerID: worker, client: self, ttl: ttl, sent: sent)
        let outcome: T? = try await withThrowingTaskGroup(of: LeaseOutcome<T>.self) { group in
            group.addTask {
                await lease.renew()
                return .ended
            }
            // Any end, a stop request included (after which the renewal goes on).
            group.addTask {
                _ = await lease.ended()
                return .ended
            }
            group.addTask { .finished(try await body(lease)) }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if case .finished(let value) = next { return value }
                guard lease.end != nil else { continue }
                // The lease ended first: cancel the body and wait until it has returned.
                group.cancelAll()
                while true {
                    guard case .ended? = try? await group.next() else { break }
                }
                return nil
            }
            return nil
        }
        if let outcome {
            try await lease.release()
            return outcome
        }
        let end = lease.end ?? .lapsed
        if end == .stopRequested { try? await lease.release() }
        throw LeaseLost(end: end)
    }
}

/// What ends a lease's scope first: the body, or the lease.
enum LeaseOutcome<Value: Sendable>: Sendable {
    case finished(Value)
    case ended
}
