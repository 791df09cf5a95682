import Foundation
import LessorClient
import LessorCore
import LessorRedis
import LessorTestSupport
import RedisServerHarness
import Testing

/// `LessorClient` against a real `lessor serve` (leases of 10 s): the typed calls of both
/// families and their one error type, and `withLease` holding a lease for longer than its TTL
/// and ending, with its reason, when the item is stopped, a stop is requested, or another
/// worker takes it.
@Suite("LessorClient against a live server", .timeLimit(.minutes(2)))
struct LessorClientTests {
    static let settings = ["LESSOR_DEFAULT_TTL_SECONDS": "10"]

    func withClient(_ body: (LessorClient, LessorClient, LessorFunctions) async throws -> Void) async throws {
        try await withRedisServer { server in
            try await withReplicas(1, on: server, settings: Self.settings) { replicas in
                let url = "http://127.0.0.1:\(replicas[0].port)"
                let redis = try RedisClient(configuration: server.clientConfiguration)
                defer { redis.shutDown() }
                try await body(
                    LessorClient(url: url, token: testAdminToken), LessorClient(url: url, token: testAdminToken, family: .anthropic),
                    LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor")))
            }
        }
    }

    @Test func typedCallsOfBothFamiliesAndOneError() async throws {
        try await withClient { qoder, anthropic, _ in
            let env = try await createEnvironment(APIClient(port: Int(qoder.url.split(separator: ":").last!)!))
            for client in [qoder, anthropic] {
                let queued = try await client.enqueue(environment: env, metadata: ["k": "v"])
                #expect(queued.state == .queued && queued.metadata == ["k": "v"])
                let polled = try #require(try await client.poll(environment: env, worker: "w", block: .milliseconds(100)))
                #expect(polled.id == queued.id)
                #expect(try await client.poll(environment: env, worker: "w", block: .milliseconds(10)) == nil)
                let acked = try await client.ack(environment: env, work: queued.id, worker: "w")
                #expect(acked.state == .starting && acked.fencingToken == 1 && acked.workerID == "w")
                let first = try await client.heartbeat(environment: env, work: queued.id, worker: "w", expected: ExpectedLastHeartbeat.none, ttl: .seconds(30))
                #expect(first.state == .active && first.ttl == .seconds(30))
                let stamp = try #require(first.lastHeartbeat)
                #expect(try await client.heartbeat(environment: env, work: queued.id, worker: "w", expected: .at(stamp)).lastHeartbeat! > stamp)
                do throws(LessorClientError) {
                    _ = try await client.heartbeat(environment: env, work: queued.id, worker: "w", expected: .at(stamp))
                    Issue.record("a stale expectation was accepted")
                } catch {
                    #expect(error.status == 412 && error.type == "precondition_failed_error" && error.requestID != nil, "\(error)")
                    #expect(!error.isTransient)
                }
                #expect(try await client.updateMetadata(environment: env, work: queued.id, ["k": nil, "n": "1"]).metadata == ["n": "1"])
                #expect(try await client.get(environment: env, work: queued.id).latestHeartbeatAt != nil)
                #expect(try await client.stats(environment: env).workersPolling == 1)
                let stopped = try await client.stop(environment: env, work: queued.id, worker: "w")
                #expect(stopped.state == .stopped && stopped.stopReason == .completed)
            }
            let page = try await qoder.list(environment: env, limit: 1)
            #expect(page.items.count == 1 && page.nextPage != nil)
            #expect(try await qoder.list(environment: env, limit: 1, page: page.nextPage).items.first?.id != page.items.first?.id)
            do throws(LessorClientError) {
                _ = try await qoder.get(environment: env, work: "work_00000000000000000000000000000000")
                Issue.record("an unknown item was found")
            } catch {
                #expect(error.status == 404 && error.type == "not_found_error")
            }
            do throws(LessorClientError) {
                _ = try await LessorClient(url: "http://127.0.0.1:1", token: "x").stats(environment: env)
                Issue.record("nothing listens on port 1")
            } catch {
                #expect(error.status == nil && error.isTransient)
            }
        }
    }

    @Test func aLeaseOutlivesItsTTLAndIsReleasedWhenTheBodyReturns() async throws {
        try await withClient { client, _, _ in
            let env = try await createEnvironment(APIClient(port: Int(client.url.split(separator: ":").last!)!))
            let item = try await client.enqueue(environment: env)
            let started = ContinuousClock.now
            let token = try await client.withLease(environment: env, work: item.id, worker: "holder") { lease in
                // Two and a half 10 s leases: only the renewals keep it.
                try await Task.sleep(for: .seconds(25))
                #expect(lease.end == nil)
                #expect(lease.remaining > .seconds(3) && lease.remaining <= .seconds(10))
                return lease.fencingToken
            }
            #expect(ContinuousClock.now - started >= .seconds(25))
            #expect(token == 1)
            let after = try await client.get(environment: env, work: item.id)
            #expect(after.state == .stopped && after.stopReason == .completed && after.lapseCount == 0 && after.deliveryCount == 1)
        }
    }

    @Test func aLeaseOnAnItemTheWorkerHoldsGoesOnFromItsLastHeartbeat() async throws {
        try await withClient { client, _, _ in
            let env = try await createEnvironment(APIClient(port: Int(client.url.split(separator: ":").last!)!))
            let item = try await client.enqueue(environment: env)
            _ = try await client.ack(environment: env, work: item.id, worker: "w")
            _ = try await client.heartbeat(environment: env, work: item.id, worker: "w", expected: ExpectedLastHeartbeat.none)
            // The ack answers the held item unchanged; the first renewal (after a third of 10 s)
            // must expect that heartbeat, not NO_HEARTBEAT.
            let end = try await client.withLease(environment: env, work: item.id, worker: "w") { lease in
                try await Task.sleep(for: .seconds(5))
                return lease.end
            }
            #expect(end == nil)
            #expect(try await client.get(environment: env, work: item.id).stopReason == .completed)

            // A TTL of its own: asked for by a heartbeat right after the ack.
            let other = try await client.enqueue(environment: env)
            let granted = try await client.withLease(environment: env, work: other.id, worker: "w", ttl: .seconds(30)) { lease in
                try await Task.sleep(for: .seconds(1))
                let held = try await client.get(environment: env, work: other.id)
                let latest = try #require(held.latestHeartbeatAt)
                // lease_expires_at is the lease key's expiry, which Redis keeps in milliseconds.
                let granted = try #require(held.leaseExpiresAt).microseconds - latest.microseconds
                #expect(abs(granted - 30_000_000) < 2_000, "\(granted)")
                return lease.grantedTTL
            }
            #expect(granted == .seconds(30))
        }
    }

    @Test func aLostLeaseCancelsTheBodyAndSaysWhy() async throws {
        try await withClient { client, _, functions in
            let env = try await createEnvironment(APIClient(port: Int(client.url.split(separator: ":").last!)!))

            // A force stop: the next beat finds it stopped.
            let forced = try await client.enqueue(environment: env)
            let stopper = Task {
                try await Task.sleep(for: .seconds(1))
                _ = try await client.stop(environment: env, work: forced.id, worker: nil, force: true)
            }
            await #expect(throws: LeaseLost(end: .stopped)) {
                try await client.withLease(environment: env, work: forced.id, worker: "w1") { _ in try await Task.sleep(for: .seconds(30)) }
            }
            try await stopper.value

            // A stop requested through the API: the body is cancelled, then the holder stops it.
            let requested = try await client.enqueue(environment: env)
            Task {
                try await Task.sleep(for: .seconds(1))
                _ = try await client.stop(environment: env, work: requested.id, worker: nil)
            }
            await #expect(throws: LeaseLost(end: .stopRequested)) {
                try await client.withLease(environment: env, work: requested.id, worker: "w2") { _ in try await Task.sleep(for: .seconds(30)) }
            }
            #expect(try await client.get(environment: env, work: requested.id).state == .stopped)

            // Taken over: the lease is expired by hand and another worker acks the item before
            // the holder's next beat, which then meets 412.
            let taken = try await client.enqueue(environment: env)
            Task {
                try await Task.sleep(for: .seconds(1))
                _ = try await functions.call(WorkExpireLease(environmentID: env, workID: taken.id))
                _ = try await client.ack(environment: env, work: taken.id, worker: "thief")
            }
            await #expect(throws: LeaseLost(end: .takenOver)) {
                try await client.withLease(environment: env, work: taken.id, worker: "w3") { _ in try await Task.sleep(for: .seconds(30)) }
            }
            let held = try await client.get(environment: env, work: taken.id)
            #expect(held.workerID == "thief" && held.state == .starting, "the loser never touched it again")
        }
    }
}
