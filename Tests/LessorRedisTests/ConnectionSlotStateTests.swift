import NIOCore
import NIOPosix
import Testing

@testable import LessorRedis

@Suite("Pooled connection state machine (no socket)")
struct ConnectionSlotStateTests {
    final class FakeConnection: Sendable {}
    typealias Slot = ConnectionSlotState<FakeConnection>
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0)

    @Test func connectsOnDemandThenServesTheConnection() {
        var slot = Slot()
        guard case .connect = slot.acquire(now: .now()) else { Issue.record("idle slot must connect"); return }
        let promise = loop.makePromise(of: FakeConnection.self)
        slot.connecting(promise.futureResult)
        guard case .wait = slot.acquire(now: .now()) else { Issue.record("callers wait for the attempt"); return }
        let connection = FakeConnection()
        let kept = slot.connected(connection)
        #expect(kept)
        guard case .use(let used) = slot.acquire(now: .now()) else { Issue.record("ready slot serves"); return }
        #expect(used === connection)
        promise.succeed(connection)
    }

    @Test func failsFastDuringBackoffThenRetries() {
        var slot = Slot()
        let start = NIODeadline.now()
        slot.connectFailed(RedisError(.connectionUnavailable, "refused"), now: start, backoff: backoff)
        guard case .fail(let error) = slot.acquire(now: start + .milliseconds(50)) else { Issue.record("must fail fast"); return }
        #expect(error.code == .connectionUnavailable)
        #expect(error.message.contains("refused"))
        guard case .connect = slot.acquire(now: start + .milliseconds(100)) else { Issue.record("must retry after backoff"); return }
        slot.connectFailed(RedisError(.connectionUnavailable, "refused"), now: start, backoff: backoff)
        #expect(slot.consecutiveFailures == 2)
        guard case .fail = slot.acquire(now: start + .milliseconds(150)) else { Issue.record("second backoff is 200 ms"); return }
        let kept = slot.connected(FakeConnection())
        #expect(kept)
        #expect(slot.consecutiveFailures == 0)
    }

    @Test func aDroppedConnectionReconnectsAtOnce() {
        var slot = Slot()
        let connection = FakeConnection()
        _ = slot.connected(connection)
        slot.closed(FakeConnection())  // some other, older connection: ignored
        #expect(slot.isReady)
        slot.closed(connection)
        guard case .connect = slot.acquire(now: .now()) else { Issue.record("must reconnect"); return }
    }

    @Test func shutDownRefusesAndDropsLateConnections() {
        var slot = Slot()
        let connection = FakeConnection()
        _ = slot.connected(connection)
        let closed = slot.shutDown()
        #expect(closed === connection)
        guard case .fail(let error) = slot.acquire(now: .now()) else { Issue.record("must refuse"); return }
        #expect(error.code == .shutdown)
        let late = slot.connected(FakeConnection())
        #expect(!late)
    }
}
