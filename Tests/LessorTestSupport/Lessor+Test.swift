import Foundation
import Hummingbird
import HummingbirdTesting
import LessorCore
import LessorHTTP
import LessorRedis
import RedisServerHarness
import Testing

/// Runs `body` against the routes of a front node in process, on `deployment`: the contract
/// suites run the same code on one server, a Redis Cluster or a Sentinel group.
/// - Parameters:
///   - commandTimeout: The Redis command timeout (default 2 s).
///   - waitReplicas: Replicas to `WAIT` for after every library call (0: none).
public func withRoutes(
    on deployment: any RedisDeployment, commandTimeout: Duration? = nil, waitReplicas: Int = 0,
    _ body: @escaping @Sendable (APIClient) async throws -> Void
) async throws {
    var configuration = deployment.clientConfiguration
    if let commandTimeout { configuration.commandTimeout = commandTimeout }
    let wait = waitReplicas > 0 ? try ReplicationWait(replicas: waitReplicas, timeout: configuration.commandTimeout / 2) : nil
    let redis = try RedisClient(configuration: configuration)
    defer { redis.shutDown() }
    let functions = LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor"), wait: wait)
    let app = Application(router: buildRouter(functions: functions, settings: RouteSettings(adminToken: testAdminToken)))
    try await app.test(.router) { http in try await body(APIClient(http)) }
}

/// Creates an environment through the API and returns its id.
public func createEnvironment(_ client: APIClient, type: String = "self_hosted") async throws -> String {
    let reply = try await client.call(.post, "/api/v1/cloud/environments", body: #"{"name":"byoc","config":{"type":"\#(type)"}}"#)
    #expect(reply.status == .created)
    return try #require(reply["id"] as? String)
}

/// The `lessor` binary the end-to-end tests run: `<build folder>/<config>/lessor`, beside the
/// test bundle SwiftPM built with it (scripts/test.sh builds both in release mode, the
/// optimized binary users run).
public var lessorBinary: String {
    let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: runner).deletingLastPathComponent().appendingPathComponent("lessor").path
}

/// A running `lessor serve` process of ``withReplicas(_:on:settings:_:)``.
public struct Replica: Sendable {
    public let process: ChildProcess
    public let port: Int
    /// Where its output goes (removed with the replica).
    public let logFile: URL
    /// Its output so far.
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }
    /// A client of it with the admin token.
    public var client: APIClient { APIClient(port: port) }
}

/// Starts `count` `lessor serve` processes on `redis` (admin token ``testAdminToken``, logs
/// in a temporary directory), waits until each is ready, runs `body`, and kills them.
/// - Parameter settings: More `LESSOR_*` variables for every replica.
public func withReplicas(
    _ count: Int, on redis: any RedisDeployment, settings: [String: String] = [:], _ body: ([Replica]) async throws -> Void
) async throws {
    let logs = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-replicas-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: logs) }
    var replicas: [Replica] = []
    defer { for replica in replicas { replica.process.signal(SIGKILL); _ = replica.process.exitStatus() } }
    for index in 0..<count {
        let port = try freeLoopbackPort()
        let logFile = logs.appendingPathComponent("lessor-\(index).log")
        let process = try ChildProcess(
            [lessorBinary, "serve"],
            environment: redis.lessorSettings.merging(["LESSOR_PORT": String(port), "LESSOR_ADMIN_TOKEN": testAdminToken]) { $1 }
                .merging(settings) { $1 },
            output: logFile)
        replicas.append(Replica(process: process, port: port, logFile: logFile))
    }
    for replica in replicas {
        #expect(try await waitUntilReady(replica.port), "lessor on \(replica.port) never became ready")
    }
    try await body(replicas)
}

/// Polls `GET /readyz` on a loopback port for up to 15 s.
/// - Returns: True once it answered 200.
public func waitUntilReady(_ port: Int) async throws -> Bool {
    for _ in 0..<300 {
        if (try? await APIClient(port: port, token: nil).call(.get, "/readyz"))?.status == .ok { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return false
}

/// ``withRoutes(on:commandTimeout:waitReplicas:_:)`` on a fresh Redis of `backend`.
public func withRoutes(_ backend: RedisBackend, _ body: @escaping @Sendable (APIClient, any RedisDeployment) async throws -> Void) async throws {
    try await withRedis(backend) { redis in try await withRoutes(on: redis) { client in try await body(client, redis) } }
}

/// ``withRoutes(on:commandTimeout:waitReplicas:_:)`` on one fresh redis-server, for tests that
/// stop it or watch it.
public func withRoutesOnOneServer(_ body: @escaping @Sendable (APIClient, RedisServerProcess) async throws -> Void) async throws {
    try await withRedisServer { server in try await withRoutes(on: server) { client in try await body(client, server) } }
}
