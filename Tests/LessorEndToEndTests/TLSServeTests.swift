import Foundation
import HTTPTypes
import RedisServerHarness
import LessorTestSupport
import Testing

/// `lessor serve` over TLS to Redis, as an operator configures it: `rediss://` and the
/// `LESSOR_REDIS_TLS_*` files, against TLS-only servers that want a client certificate.
@Suite("lessor serve with TLS to Redis", .timeLimit(.minutes(3)))
struct TLSServeTests {
    /// A heartbeat's round trip through the node: enqueue, ack, heartbeat, as a worker does.
    private func leaseOneItem(_ replica: Replica) async throws {
        let client = replica.client
        let environment = try await createEnvironment(client)
        let base = "/api/v1/cloud/environments/\(environment)/work"
        let item = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
        #expect(try await client.call(.post, "\(base)/\(item)/ack", worker: "w1").status == .ok)
        let beat = try await client.call(.post, "\(base)/\(item)/heartbeat", worker: "w1")
        #expect(beat.status == .ok)
        #expect(beat["state"] as? String == "active")
    }

    @Test func aNodeLeasesOverTLSToAServerAndToACluster() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await RedisServerProcess.start(tls: certificates)
        do {
            try await withReplicas(1, on: server) { replicas in try await leaseOneItem(replicas[0]) }
            // The lease is in the TLS server, read back over TLS.
            #expect(try await server.cli("--scan", "--pattern", "lessor:*:lease:*").contains("work_"))
            await server.remove()
        } catch {
            await server.remove()
            throw error
        }
        try await withRedisCluster(tls: certificates) { cluster in
            try await withReplicas(1, on: cluster) { replicas in try await leaseOneItem(replicas[0]) }
        }
    }

    /// Starts `lessor serve` with these settings and waits up to `limit` for it to exit.
    /// - Returns: The exit status (nil if it still ran) and what it printed.
    private func serve(_ settings: [String: String], within limit: TimeInterval) async throws -> (Int32?, String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-tls-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        let port = try freeLoopbackPort()
        let lessor = try ChildProcess(
            [lessorBinary, "serve"], environment: settings.merging(["LESSOR_PORT": String(port), "LESSOR_LOG_FORMAT": "text"]) { $1 },
            output: output)
        let exit = try await offCooperativePool { lessor.waitForExit(within: limit) }
        if exit == nil {
            lessor.signal(SIGKILL)
            _ = try await offCooperativePool { lessor.waitForExit(within: 5) }
        }
        return (exit, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    @Test func aCAFileThatCannotBeReadStopsStartUpNamingIt() async throws {
        let (exit, output) = try await serve(
            ["LESSOR_REDIS_URL": "rediss://127.0.0.1:1", "LESSOR_REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"], within: 10)
        #expect(exit == 64)
        #expect(output.contains("LESSOR_REDIS_TLS_CA_FILE"), "\(output)")
        #expect(output.contains("/nonexistent/ca.pem"), "\(output)")
    }

    @Test func tlsSettingsWithoutARedissURLAreRefused() async throws {
        let (exit, output) = try await serve(
            ["LESSOR_REDIS_URL": "redis://127.0.0.1:1", "LESSOR_REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"], within: 10)
        #expect(exit == 64)
        #expect(output.contains("needs a rediss:// URL"), "\(output)")
    }

    @Test func aServerThatFailsVerificationStopsStartUpWithin10sNamingTheCause() async throws {
        let made = try await TestCertificates.make()
        defer { made.remove() }
        // Verification against the wrong CA, then a certificate that names another host.
        let cases: [(TestCertificates, [String: String], String)] = [
            (made, ["LESSOR_REDIS_TLS_CA_FILE": made.otherCAFile], "not signed by a trusted CA"),
            (made.namesOnly, ["LESSOR_REDIS_TLS_CA_FILE": made.caFile], "does not name the host"),
        ]
        for (certificates, tls, cause) in cases {
            let server = try await RedisServerProcess.start(tls: certificates, verifyClients: "no")
            let started = ContinuousClock.now
            let (exit, output) = try await serve(["LESSOR_REDIS_URL": server.url].merging(tls) { $1 }, within: 10)
            await server.remove()
            #expect(exit != nil && exit != 0, "lessor serve must stop: \(output)")
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(output.contains(cause), "\(output)")
        }
    }

    @Test func anUnreachableTLSServerLeavesTheNodeUpAnswering503() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await RedisServerProcess.start(tls: certificates)
        await server.stop()
        let port = try freeLoopbackPort()
        let lessor = try ChildProcess(
            [lessorBinary, "serve"], environment: server.lessorSettings.merging(["LESSOR_PORT": String(port)]) { $1 })
        defer { lessor.signal(SIGKILL); _ = lessor.exitStatus() }
        var readiness: Int?
        for _ in 0..<100 where readiness == nil {
            readiness = try? await APIClient(port: port, token: nil).call(.get, "/readyz").status.code
            if readiness == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(readiness == 503)
        #expect(lessor.exitStatus() == nil, "the node keeps running while Redis is away")
        // Once the server is back, the node serves over TLS.
        try await server.restart()
        #expect(try await waitUntilReady(port))
        await server.remove()
    }
}
