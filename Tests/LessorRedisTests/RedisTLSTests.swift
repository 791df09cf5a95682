import Foundation
import LessorRedis
import RedisServerHarness
import Testing

/// TLS against real TLS-only `redis-server`s with certificates made by `openssl` for the test.
@Suite("Redis over TLS", .timeLimit(.minutes(3)))
struct RedisTLSTests {
    /// Runs `body` with a TLS-only server and its certificates, removed afterwards.
    private func withTLSServer(
        verifyClients: String = "yes", namesOnly: Bool = false, _ body: (RedisServerProcess, TestCertificates) async throws -> Void
    ) async throws {
        let made = try await TestCertificates.make()
        defer { made.remove() }
        let certificates = namesOnly ? made.namesOnly : made
        let server = try await RedisServerProcess.start(tls: certificates, verifyClients: verifyClients)
        do {
            try await body(server, certificates)
            await server.remove()
        } catch {
            await server.remove()
            throw error
        }
    }

    private func client(_ server: RedisServerProcess, tls: RedisTLS?) throws -> RedisClient {
        try makeClient(server) { configuration in
            configuration.tls = tls
            configuration.reconnectBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(100))
        }
    }

    /// The first error of a PING, or nil when it succeeded.
    private func pingError(_ redis: RedisClient) async -> RedisError? {
        do throws(RedisError) {
            try await redis.send(RedisCommand("PING"))
            return nil
        } catch {
            return error
        }
    }

    @Test func verifiedClientWithACertificateTalksToATLSServer() async throws {
        try await withTLSServer { server, certificates in
            let redis = try client(server, tls: try certificates.redisTLS)
            defer { redis.shutDown() }
            #expect(try await redis.send(RedisCommand("SET", key: "k", "v")) == .simpleString("OK"))
            // Pipelined traffic through TLS: many callers at once, every reply to its caller.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let reply = try await redis.send(RedisCommand("ECHO", "message \(index)"), as: String.self)
                        #expect(reply == "message \(index)")
                    }
                }
                try await group.waitForAll()
            }
            // The server sees a TLS connection: redis-cli over TLS reads what the client wrote.
            #expect(try await server.cli("GET", "k") == "v")
        }
    }

    @Test func aPlaintextClientIsRefusedByTheTLSServer() async throws {
        try await withTLSServer(verifyClients: "no") { server, _ in
            let redis = try client(server, tls: nil)
            defer { redis.shutDown() }
            let error = try #require(await pingError(redis))
            #expect(error.code == .connectionUnavailable || error.code == .connectionLost || error.code == .timeout)
            // And redis-cli without --tls gets nothing either.
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-plain-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: output) }
            let cli = try ChildProcess(["redis-cli", "-h", "127.0.0.1", "-p", String(server.port), "PING"], output: output)
            _ = try await offCooperativePool { cli.waitForExit(within: 10) }
            #expect(!((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains("PONG"))
        }
    }

    @Test func aServerCertificateFromAnotherCAFailsAsTLS() async throws {
        try await withTLSServer(verifyClients: "no") { server, certificates in
            let redis = try client(server, tls: try RedisTLS(caFile: certificates.otherCAFile))
            defer { redis.shutDown() }
            let error = try #require(await pingError(redis))
            #expect(error.code == .tlsFailure)
            #expect(error.message.contains("not signed by a trusted CA"), "\(error.message)")
        }
    }

    @Test func aServerCertificateForAnotherNameFailsAsTLS() async throws {
        try await withTLSServer(verifyClients: "no", namesOnly: true) { server, certificates in
            for wrongName in [nil, "other.lessor.test"] {
                let redis = try client(server, tls: try RedisTLS(caFile: certificates.caFile, serverName: wrongName))
                defer { redis.shutDown() }
                let error = try #require(await pingError(redis))
                #expect(error.code == .tlsFailure)
                #expect(error.message.contains("does not name the host"), "\(error.message)")
            }
            // The name the certificate does carry passes, though the node is reached by IP.
            let rightName = try client(server, tls: try RedisTLS(caFile: certificates.caFile, serverName: "redis.lessor.test"))
            defer { rightName.shutDown() }
            #expect(await pingError(rightName) == nil)
        }
    }

    @Test func aServerThatWantsAClientCertificateRefusesAClientWithout() async throws {
        try await withTLSServer(verifyClients: "yes") { server, certificates in
            let redis = try client(server, tls: try RedisTLS(caFile: certificates.caFile))
            defer { redis.shutDown() }
            let error = try #require(await pingError(redis))
            #expect(error.code == .tlsFailure, "\(error)")
            #expect(error.message.contains("client certificate"), "\(error.message)")
        }
    }

    @Test func unreadableFilesAreRefusedWhenTheSettingsAreMade() async throws {
        let missing = "/nonexistent/lessor-ca.pem"
        #expect(throws: RedisError.self) { try RedisTLS(caFile: missing) }
        do {
            _ = try RedisTLS(caFile: missing)
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(missing))
        }
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        // A certificate without its key, and a key file that is not a key.
        #expect(throws: RedisError.self) { try RedisTLS(certificateFile: certificates.clientCertificateFile) }
        #expect(throws: RedisError.self) {
            try RedisTLS(certificateFile: certificates.clientCertificateFile, keyFile: certificates.caFile)
        }
        #expect(throws: RedisError.self) { try RedisTLS(serverName: "127.0.0.1") }
    }

    @Test func aClusterOverTLSRoutesAndRedirects() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        try await withRedisCluster(tls: certificates) { cluster in
            var configuration = cluster.clientConfiguration
            configuration.poolSize = 1
            (configuration.username, configuration.password) = (nil, nil)  // keys outside Lessor's namespace
            let redis = try RedisClient(configuration: configuration)
            defer { redis.shutDown() }
            #expect(configuration.tls != nil)
            // Keys on every primary: the slot map's nodes are reached over TLS too.
            for index in 0..<30 {
                #expect(try await redis.send(RedisCommand("SET", key: "{tag\(index)}:k", "v\(index)")) == .simpleString("OK"))
            }
            for index in 0..<30 {
                #expect(try await redis.send(RedisCommand("GET", key: "{tag\(index)}:k"), as: String.self) == "v\(index)")
            }
            #expect(try await cluster.cli("GET", "{tag7}:k") == "v7")
        }
    }
}
