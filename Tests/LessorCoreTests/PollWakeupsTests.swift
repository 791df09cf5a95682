import LessorCore
import Testing

@Suite("Long-poll wakeups")
struct PollWakeupsTests {
    @Test func aSignalBeforeTheWaitIsKept() async {
        let wakeups = PollWakeups()
        let waiter = wakeups.register(environment: "env_a")
        wakeups.notify(channel: "lessor:{env_a}:wakeup")
        let clock = ContinuousClock()
        let started = clock.now
        await waiter.wait(until: clock.now + .seconds(30))
        #expect(clock.now - started < .seconds(10))
        wakeups.unregister(waiter)
        #expect(wakeups.waiting == 0)
    }

    @Test func aWaitEndsAtItsDeadline() async {
        let wakeups = PollWakeups()
        let waiter = wakeups.register(environment: "env_a")
        defer { wakeups.unregister(waiter) }
        wakeups.notify(environment: "env_b")  // another environment: no effect
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(200)
        await waiter.wait(until: deadline)
        #expect(clock.now >= deadline)
    }

    @Test func aSignalDuringTheWaitEndsIt() async {
        let wakeups = PollWakeups()
        let waiter = wakeups.register(environment: "env_a")
        defer { wakeups.unregister(waiter) }
        let clock = ContinuousClock()
        let started = clock.now
        async let waited: Void = waiter.wait(until: clock.now + .seconds(30))
        try? await Task.sleep(for: .milliseconds(50))
        wakeups.notify(environment: "env_a")
        await waited
        #expect(clock.now - started < .seconds(10))
        // The signal was used up: the next wait runs to its deadline.
        let deadline = clock.now + .milliseconds(100)
        await waiter.wait(until: deadline)
        #expect(clock.now >= deadline)
    }

    @Test func malformedChannelsAreIgnored() {
        let wakeups = PollWakeups()
        wakeups.notify(channel: "no-braces")
        wakeups.notify(channel: "lessor:{unclosed")
        #expect(wakeups.waiting == 0)
    }
}
