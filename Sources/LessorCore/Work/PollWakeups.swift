import Synchronization

/// Wakes this node's long polls when an item becomes pollable in their environment.
///
/// Enqueue and requeue scripts `PUBLISH` the item id on `<ns>:{env_X}:wakeup`; one
/// subscriber connection per node feeds ``notify(channel:)``. A long poll registers a
/// ``Waiter`` *before* its first poll, so an item published between an empty poll and the
/// wait is not missed, then waits for a wakeup or its deadline, whichever comes first.
public final class PollWakeups: Sendable {
    private let waiters = Mutex<[String: [ObjectIdentifier: Waiter]]>([:])

    public init() {}

    /// Registers a waiter for an environment; unregister it when the poll ends.
    public func register(environment: String) -> Waiter {
        let waiter = Waiter(environment: environment)
        waiters.withLock { $0[environment, default: [:]][ObjectIdentifier(waiter)] = waiter }
        return waiter
    }

    /// Removes a waiter.
    public func unregister(_ waiter: Waiter) {
        waiters.withLock { all in
            all[waiter.environment]?[ObjectIdentifier(waiter)] = nil
            if all[waiter.environment]?.isEmpty == true { all[waiter.environment] = nil }
        }
    }

    /// Wakes every waiter of an environment.
    public func notify(environment: String) {
        let woken = waiters.withLock { $0[environment].map { Array($0.values) } ?? [] }
        for waiter in woken { waiter.signal() }
    }

    /// Wakes the waiters of the environment named by a wakeup channel (`<ns>:{env_X}:wakeup`).
    public func notify(channel: String) {
        guard let open = channel.firstIndex(of: "{"), let close = channel[open...].firstIndex(of: "}") else { return }
        notify(environment: String(channel[channel.index(after: open)..<close]))
    }

    /// How many polls wait now (for metrics and tests).
    public var waiting: Int { waiters.withLock { $0.values.reduce(0) { $0 + $1.count } } }
}

/// One long poll's wakeup: a signal that is remembered until the next ``wait(until:)``.
public final class Waiter: Sendable {
    private struct State {
        var signalled = false
        var suspended: CheckedContinuation<Void, Never>?
        /// Counts waits, so a late timer cannot end a later wait.
        var generation = 0
    }

    let environment: String
    private let state = Mutex(State())

    init(environment: String) {
        self.environment = environment
    }

    /// Wakes the current wait, or the next one if none is under way.
    func signal() {
        let suspended = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let suspended = state.suspended else {
                state.signalled = true
                return nil
            }
            state.suspended = nil
            return suspended
        }
        suspended?.resume()
    }

    /// Returns at the first signal since the last wait, or at `deadline`.
    public func wait(until deadline: ContinuousClock.Instant) async {
        let generation = state.withLock { state -> Int? in
            if state.signalled {
                state.signalled = false
                return nil
            }
            state.generation += 1
            return state.generation
        }
        guard let generation else { return }
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            self?.expire(generation)
        }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.signalled || state.generation != generation {
                    state.signalled = false
                    return true
                }
                state.suspended = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer.cancel()
    }

    private func expire(_ generation: Int) {
        let suspended = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation, let suspended = state.suspended else {
                if state.generation == generation { state.generation += 1 }  // not suspended yet: make it return at once
                return nil
            }
            state.suspended = nil
            return suspended
        }
        suspended?.resume()
    }
}
