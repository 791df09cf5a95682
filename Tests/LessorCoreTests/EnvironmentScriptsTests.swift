import Foundation
import LessorCore
import LessorRedis
import RedisServerHarness
import Testing

/// What the library decides for environments (update, archive, delete, listing) and for the
/// behaviour the two work API families do not share (a heartbeat on a stopping or stopped
/// item, the 412's lease state, the polling window), against a real redis-server and Cluster.
@Suite("Environment and family functions against a real redis-server and a real Redis Cluster", .timeLimit(.minutes(2)))
struct EnvironmentScriptsTests {
    let ids = IdentifierGenerator()

    func create(_ environments: Environments, name: String = "byoc", kind: EnvironmentKind = .selfHosted) async throws -> WorkEnvironment {
        try await environments.create(EnvironmentCreate(environmentID: ids.next(.environment), name: name, description: nil, kind: kind, metadata: ["team": "a"]))
    }

    @Test(arguments: RedisBackend.allCases) func anUpdateChangesOnlyWhatItNames(_ backend: RedisBackend) async throws {
        try await withStore(backend) { _, functions, environments in
            let created = try await create(environments)
            #expect(created.description == nil)
            #expect(created.metadata == ["team": "a"])
            let described = try await functions.call(EnvironmentUpdate(environmentID: created.id, description: .set("fleet"), metadata: ["zone": "eu"]))
            #expect(described.name == "byoc")
            #expect(described.description == "fleet")
            #expect(described.metadata == ["team": "a", "zone": "eu"])
            #expect(described.updatedAt > created.updatedAt)
            let renamed = try await functions.call(EnvironmentUpdate(environmentID: created.id, name: "b", description: .clear, metadata: ["team": nil, "zone": ""], kind: .selfHosted))
            #expect(renamed.name == "b")
            #expect(renamed.description == nil)
            #expect(renamed.metadata == [:])
            #expect(await refusal { () async throws(StoreError) in _ = try await functions.call(EnvironmentUpdate(environmentID: created.id, kind: .cloud)) } == .invalidConfigTypeChange(.selfHosted))
            #expect(await refusal { () async throws(StoreError) in _ = try await functions.call(EnvironmentUpdate(environmentID: ids.next(.environment), name: "x")) } == .environmentNotFound)
        }
    }

    @Test(arguments: RedisBackend.allCases) func anArchivedEnvironmentTakesNoNewWorkButLetsHeldLeasesRun(_ backend: RedisBackend) async throws {
        try await withStore(backend) { _, functions, environments in
            let environment = try await create(environments).id
            let held = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            let waiting = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            _ = try await functions.call(WorkAck(environmentID: environment, workID: held.id, workerID: "w", leaseTTL: .seconds(60)))
            let archived = try await functions.call(EnvironmentArchive(environmentID: environment))
            let archivedAt = try #require(archived.archivedAt)
            #expect(try await functions.call(EnvironmentArchive(environmentID: environment)).archivedAt == archivedAt, "archiving again changes nothing")
            #expect(await refusal { () async throws(StoreError) in _ = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s")) } == .environmentArchived)
            #expect(await refusal { () async throws(StoreError) in _ = try await functions.call(WorkPoll(environmentID: environment, workerID: "w")) } == .environmentArchived)
            #expect(await refusal { () async throws(StoreError) in _ = try await functions.call(EnvironmentUpdate(environmentID: environment, name: "x")) } == .environmentArchived)
            let beat = try await functions.call(WorkHeartbeat(environmentID: environment, workID: held.id, workerID: "w", expected: ExpectedLastHeartbeat.none, ttl: .seconds(60)))
            #expect(beat.state == .active)
            #expect(try await functions.call(WorkStop(environmentID: environment, workID: waiting.id, force: false)).state == .stopped)
        }
    }

    @Test(arguments: RedisBackend.allCases) func deletingIsRefusedWhileALeaseIsLiveAndThenLeavesNoKey(_ backend: RedisBackend) async throws {
        try await withStore(backend) { server, functions, environments in
            let kept = try await create(environments, name: "kept")
            let environment = try await create(environments).id
            let held = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            _ = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            _ = try await functions.call(WorkPoll(environmentID: environment, workerID: "w"))
            _ = try await functions.call(WorkAck(environmentID: environment, workID: held.id, workerID: "w", leaseTTL: .seconds(60)))
            #expect(await refusal { () async throws(StoreError) in try await environments.delete(id: environment) } == .conflict(.liveLeases))
            // Its lease ends in a lapse, so the environment's lapse log exists too.
            _ = try await functions.call(WorkExpireLease(environmentID: environment, workID: held.id))
            #expect(try await server.allKeys().contains(functions.keys.environmentKeys(environment)[8]))
            try await environments.delete(id: environment)
            #expect(try await environments.get(id: environment) == nil)
            #expect(try await server.allKeys().filter { $0.contains(environment) }.isEmpty)
            #expect(try await environments.ids() == [kept.id])
            #expect(await refusal { () async throws(StoreError) in try await environments.delete(id: environment) } == .environmentNotFound)
        }
    }

    @Test(arguments: RedisBackend.allCases) func listingPagesInCreationOrderAndHidesArchivedOnes(_ backend: RedisBackend) async throws {
        try await withStore(backend) { _, functions, environments in
            var created: [String] = []
            for index in 0..<5 { created.append(try await create(environments, name: "e\(index)").id) }
            _ = try await functions.call(EnvironmentArchive(environmentID: created[1]))
            let first = try await environments.list(after: nil, limit: 2, includeArchived: false) { _ in true }
            #expect(first.environments.map(\.id) == [created[0], created[2]])
            #expect(first.hasMore)
            let rest = try await environments.list(after: created[2], limit: 2, includeArchived: false) { _ in true }
            #expect(rest.environments.map(\.id) == [created[3], created[4]])
            #expect(!rest.hasMore)
            let all = try await environments.list(after: nil, limit: 100, includeArchived: true) { $0 != created[0] }
            #expect(all.environments.map(\.id) == Array(created.dropFirst()))
        }
    }

    /// The Anthropic family: a stopping item's heartbeat is not compared, a stopped one answers
    /// with its state; the Qoder family keeps its 412 and 409.
    @Test(arguments: RedisBackend.allCases) func aHeartbeatOnAStoppingOrStoppedItemFollowsItsFamily(_ backend: RedisBackend) async throws {
        try await withStore(backend) { _, functions, environments in
            let environment = try await create(environments).id
            let item = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: nil, leaseTTL: .seconds(60)))
            func beat(_ handling: WorkHeartbeat.StopHandling, _ expected: ExpectedLastHeartbeat?) async throws(StoreError) -> HeartbeatResult {
                try await functions.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: nil, expected: expected, ttl: .seconds(60), stopHandling: handling))
            }
            let first = try await beat(.report, ExpectedLastHeartbeat.none)
            _ = try await functions.call(WorkStop(environmentID: environment, workID: item.id, force: false))
            #expect(await refusal { () async throws(StoreError) in _ = try await beat(.refuse, ExpectedLastHeartbeat.none) }?.preconditionReason == .lastHeartbeatMismatch)
            let stopping = try await beat(.report, ExpectedLastHeartbeat.none)
            #expect(stopping.state == .stopping)
            #expect(stopping.leaseExtended)
            #expect(stopping.lastHeartbeat! > first.lastHeartbeat!)
            _ = try await functions.call(WorkStop(environmentID: environment, workID: item.id, force: true))
            #expect(await refusal { () async throws(StoreError) in _ = try await beat(.refuse, nil) } == .conflict(.stopped))
            let stopped = try await beat(.report, .at(first.lastHeartbeat!))
            #expect(stopped == HeartbeatResult(lastHeartbeat: stopping.lastHeartbeat, leaseExtended: false, state: .stopped, ttl: .zero, fencingToken: 1))

            let never = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            _ = try await functions.call(WorkStop(environmentID: environment, workID: never.id, force: false))
            let neverBeaten = try await functions.call(WorkHeartbeat(environmentID: environment, workID: never.id, workerID: nil, expected: nil, ttl: .seconds(60), stopHandling: .report))
            #expect(neverBeaten.lastHeartbeat == nil)
            #expect(neverBeaten.state == .stopped)
        }
    }

    @Test(arguments: RedisBackend.allCases) func aRefusedHeartbeatReportsTheLeaseAsTheServerHoldsIt(_ backend: RedisBackend) async throws {
        try await withStore(backend) { _, functions, environments in
            let environment = try await create(environments).id
            let item = try await functions.call(WorkEnqueue(environmentID: environment, workID: ids.next(.work), sessionID: "s"))
            _ = try await functions.call(WorkAck(environmentID: environment, workID: item.id, workerID: "w", leaseTTL: .seconds(60)))
            let early = await refusal { () async throws(StoreError) in
                _ = try await functions.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: nil, expected: .at(Timestamp(microseconds: 1)), ttl: .seconds(30)))
            }
            guard case .preconditionFailed(.lastHeartbeatMismatch, let before)? = early else {
                Issue.record("not a 412: \(String(describing: early))")
                return
            }
            #expect(before.state == .starting)
            #expect(before.lastHeartbeat == nil)
            #expect((.seconds(55)...(.seconds(60))).contains(before.remaining ?? .zero))
            let beat = try await functions.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: "w", expected: ExpectedLastHeartbeat.none, ttl: .seconds(30)))
            let refused = await refusal { () async throws(StoreError) in
                _ = try await functions.call(WorkHeartbeat(environmentID: environment, workID: item.id, workerID: "other", expected: nil, ttl: .seconds(30)))
            }
            guard case .preconditionFailed(.heldByAnotherWorker, let current)? = refused else {
                Issue.record("not a 412: \(String(describing: refused))")
                return
            }
            #expect(current.state == .active)
            #expect(current.lastHeartbeat == beat.lastHeartbeat)
            #expect((.seconds(25)...(.seconds(30))).contains(current.remaining ?? .zero))
        }
    }

    @Test(arguments: RedisBackend.allCases) func workersPollingCountsTheFamilysWindow(_ backend: RedisBackend) async throws {
        try await withStore(backend) { server, functions, environments in
            let environment = try await create(environments).id
            _ = try await functions.call(WorkPoll(environmentID: environment, workerID: "recent"))
            // A poll 45 s ago: inside Qoder's 60 s window, outside Anthropic's 30 s one.
            let now = Int(try await server.cli("TIME").split(separator: "\n")[0])! * 1000
            try await server.cli("ZADD", KeySpace(namespace: "lessor").environmentKeys(environment)[6], String(now - 45_000), "earlier")
            #expect(try await functions.call(WorkStats(environmentID: environment, pollingWindow: .seconds(60))).workersPolling == 2)
            #expect(try await functions.call(WorkStats(environmentID: environment, pollingWindow: .seconds(30))).workersPolling == 1)
        }
    }
}
