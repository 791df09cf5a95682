import LessorCore
import LessorRedis
import RedisServerHarness
import Testing

/// The refusal a call threw, or nil when it succeeded (any other failure is recorded as an issue).
func refusal(_ body: () async throws(StoreError) -> Void) async -> Refusal? {
    do throws(StoreError) {
        try await body()
        return nil
    } catch {
        if case .refused(let refusal) = error { return refusal }
        Issue.record("not a refusal: \(error)")
        return nil
    }
}

extension Refusal {
    /// The reason of a 412, whatever lease state it reports.
    var preconditionReason: PreconditionReason? {
        if case .preconditionFailed(let reason, _) = self { return reason }
        return nil
    }
}

/// Runs `body` with the library's calls (and the environment store) on a fresh Redis of `backend`.
func withStore(_ backend: RedisBackend, _ body: (any RedisDeployment, LessorFunctions, Environments) async throws -> Void) async throws {
    try await withRedis(backend) { server in
        let redis = try RedisClient(configuration: server.clientConfiguration)
        defer { redis.shutDown() }
        let functions = LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor"))
        try await body(server, functions, Environments(functions: functions))
    }
}
