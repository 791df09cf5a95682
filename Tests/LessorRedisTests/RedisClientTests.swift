import Foundation
import LessorRedis
import RedisServerHarness
import Testing

/// A client for a test server, with short timeouts so failures show quickly.
func makeClient(
    _ server: RedisServerProcess,
    poolSize: Int = 2,
    commandTimeout: Duration = .seconds(2),
    configure: (inout RedisConfiguration) -> Void = { _ in }
) throws -> RedisClient {
    var configuration = try RedisConfiguration(url: server.url)
    configuration.poolSize = poolSize
    configuration.commandTimeout = commandTimeout
    configuration.connectTimeout = .seconds(2)
    configuration.reconnectBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))
    configure(&configuration)
    return try RedisClient(configuration: configuration)
}

@Suite("Redis client against a real redis-server", .timeLimit(.minutes(2)))
struct RedisClientTests {
    @Test func decodesEveryReplyType() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server)
            defer { redis.shutDown() }
            #expect(try await redis.send(RedisCommand("SET", key: "k", "v")) == .simpleString("OK"))
            #expect(try await redis.send(RedisCommand("GET", key: "k")) == .bulkString(Array("v".utf8)))
            #expect(try await redis.send(RedisCommand("GET", key: "missing")) == .null)
            #expect(try await redis.send(RedisCommand("INCRBY", key: "n", -5)) == .integer(-5))
            #expect(try await redis.send(RedisCommand("LRANGE", key: "empty", 0, -1)) == .array([]))
            #expect(try await redis.send(RedisCommand("SET", key: "e", "")) == .simpleString("OK"))
            #expect(try await redis.send(RedisCommand("GET", key: "e")) == .bulkString([]))
            let nested = try await redis.send(RedisCommand("EVAL", "return {1, {'a', {2, redis.error_reply('ERR inner')}}, redis.status_reply('FINE')}", 0))
            #expect(nested == .array([.integer(1), .array([.bulkString([97]), .array([.integer(2), .error("ERR inner")])]), .simpleString("FINE")]))
            #expect(try await redis.send(RedisCommand("GET", key: "k"), as: String.self) == "v")
            #expect(try await redis.send(RedisCommand("GET", key: "missing"), as: String?.self) == nil)
            #expect(try await redis.send(RedisCommand("INCR", key: "n"), as: Int.self) == -4)
            await #expect(throws: RedisError.self) { try await redis.send(RedisCommand("GET", key: "k"), as: [String].self) }
        }
    }

    @Test func errorRepliesAreThrownWithRedisText() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server)
            defer { redis.shutDown() }
            do throws(RedisError) {
                try await redis.send(RedisCommand("NOSUCHCOMMAND", "x"))
                Issue.record("an error reply must throw")
            } catch {
                #expect(error.code == .serverError)
                #expect(error.message.hasPrefix("ERR unknown command"))
                #expect(!error.isOutcomeUnknown)
            }
            // The connection stays usable after an error reply.
            #expect(await redis.ping())
        }
    }

    @Test func argumentsAndValuesAreBinarySafe() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server)
            defer { redis.shutDown() }
            let key: [UInt8] = [0x6B, 0x00, 0xFF, 0x0D, 0x0A]
            let value: [UInt8] = [0x00, 0xC3, 0x28, 0xFE, 0x0A, 0x0D, 0x00]
            try await redis.send(RedisCommand("SET", key: key, value))
            #expect(try await redis.send(RedisCommand("GET", key: key)) == .bulkString(value))
            #expect(try await redis.send(RedisCommand("STRLEN", key: key)) == .integer(Int64(value.count)))
            #expect(try await redis.send(RedisCommand("GET", key: Array(key.prefix(1)))) == .null)
        }
    }

    @Test func tenThousandConcurrentCommandsEachGetTheirOwnReply() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server, poolSize: 4)
            defer { redis.shutDown() }
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<100 {
                    group.addTask {
                        var wrong = 0
                        for index in 0..<100 {
                            let token = "t\(task)-\(index)-\(UInt64.random(in: 0...UInt64.max))"
                            if try await redis.send(RedisCommand("ECHO", token)) != .bulkString(Array(token.utf8)) { wrong += 1 }
                        }
                        return wrong
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)
            // Every command reached Redis once: the ECHO count in commandstats is exact.
            let stats = try await redis.send(RedisCommand("INFO", "commandstats"), as: String.self)
            #expect(stats.contains("cmdstat_echo:calls=10000,"))
        }
    }

    @Test func aStalledServerTimesOutWithinTheCommandTimeout() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server, commandTimeout: .milliseconds(300))
            defer { redis.shutDown() }
            // Connected first (under a loaded test run the first PING may miss its 300 ms).
            var connected = false
            for _ in 0..<20 where !connected { connected = await redis.ping() }
            #expect(connected)
            server.pause()
            defer { server.resume() }
            let clock = ContinuousClock()
            let started = clock.now
            do throws(RedisError) {
                try await redis.send(RedisCommand("SET", key: "k", "v"))
                Issue.record("a frozen server cannot answer")
            } catch {
                #expect(error.code == .timeout)
                #expect(error.isOutcomeUnknown)
                #expect(error.message.contains("outcome unknown"))
            }
            let elapsed = clock.now - started
            #expect(elapsed >= .milliseconds(300))
            #expect(elapsed < .seconds(5), "took \(elapsed)")
            server.resume()
            // Fresh connections serve once the server is back.
            try await eventually { await redis.ping() }
        }
    }

    @Test func aServerThatAcceptsButNeverAnswersIsUnavailableNotUnknown() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server, poolSize: 1) { $0.connectTimeout = .milliseconds(300) }
            defer { redis.shutDown() }
            server.pause()  // the kernel still accepts TCP connections; the handshake gets no reply
            defer { server.resume() }
            let clock = ContinuousClock()
            let started = clock.now
            do throws(RedisError) {
                try await redis.send(RedisCommand("SET", key: "k", "v"))
                Issue.record("a frozen server cannot complete the handshake")
            } catch {
                #expect(error.code == .connectionUnavailable)
                #expect(!error.isOutcomeUnknown)
                // The handshake gets no reply; on a loaded machine the TCP connect itself may be the part that times out.
                #expect(error.message.contains("handshake") || error.message.contains("connect"), "\(error.message)")
            }
            #expect(clock.now - started < .seconds(5))
            server.resume()
            try await eventually { await redis.ping() }
            #expect(try await redis.send(RedisCommand("EXISTS", key: "k")) == .integer(0))
        }
    }

    @Test func debugSleepTimesOutAndTheClientRecovers() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server, poolSize: 1, commandTimeout: .milliseconds(200))
            defer { redis.shutDown() }
            do throws(RedisError) {
                try await redis.send(RedisCommand("DEBUG", "SLEEP", "1"))
                Issue.record("DEBUG SLEEP 1 outlives a 200 ms timeout")
            } catch {
                #expect(error.code == .timeout)
            }
            try await eventually { await redis.ping() }
        }
    }

    @Test func aConnectionKilledMidCommandReportsOutcomeUnknown() async throws {
        try await withRedisServer { server in
            // Generous timeouts: on a loaded machine the test may take seconds to see the block.
            let redis = try makeClient(server, poolSize: 1, commandTimeout: .seconds(60))
            defer { redis.shutDown() }
            #expect(await redis.ping())
            async let blocked = capture { () async throws(RedisError) in try await redis.send(RedisCommand("BLPOP", key: "never", 50)) }
            try await eventually { try await server.cli("CLIENT", "LIST").contains("flags=b ") }
            try await server.cli("CLIENT", "KILL", "TYPE", "normal")
            switch await blocked {
            case .success(let reply): Issue.record("the connection was killed, yet got \(reply)")
            case .failure(let error):
                #expect(error.code == .connectionLost)
                #expect(error.isOutcomeUnknown)
            }
            // Not retried behind our back: BLPOP ran exactly once.
            let stats = try await redis.send(RedisCommand("INFO", "commandstats"), as: String.self)
            #expect(stats.contains("cmdstat_blpop:calls=1,"))
        }
    }

    @Test func reconnectsAfterTheServerRestartsOnTheSamePort() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server)
            defer { redis.shutDown() }
            try await redis.send(RedisCommand("SET", key: "before", "1"))
            await server.stop()
            do throws(RedisError) {
                try await redis.send(RedisCommand("PING"))
                Issue.record("the server is down")
            } catch {
                #expect([.connectionUnavailable, .connectionLost].contains(where: { $0 == error.code }))
            }
            // While it is down, commands fail fast instead of hanging.
            let clock = ContinuousClock()
            let started = clock.now
            #expect(await !redis.ping())
            #expect(clock.now - started < .seconds(3))
            try await server.restart()
            try await eventually { await redis.ping() }
            #expect(try await redis.send(RedisCommand("GET", key: "before")) == .null)  // a fresh, empty server
        }
    }

    @Test func nothingListeningFailsFastAsUnavailable() async throws {
        let port = try freeLoopbackPort()
        var configuration = RedisConfiguration(host: "127.0.0.1", port: port)
        configuration.poolSize = 1
        let redis = try RedisClient(configuration: configuration)
        defer { redis.shutDown() }
        do throws(RedisError) {
            try await redis.send(RedisCommand("PING"))
            Issue.record("nothing listens on \(port)")
        } catch {
            #expect(error.code == .connectionUnavailable)
            #expect(error.message.contains("127.0.0.1:\(port)"))
            #expect(!error.isOutcomeUnknown)
        }
    }

    @Test func scriptsRecoverFromNoScript() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server)
            defer { redis.shutDown() }
            let script = RedisScript(source: "redis.call('INCRBY', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])")
            #expect(try await redis.evaluate(script, keys: ["counter"], arguments: [2]) == .bulkString(Array("2".utf8)))
            #expect(try await server.cli("SCRIPT", "EXISTS", script.sha1) == "1")
            try await server.cli("SCRIPT", "FLUSH")
            #expect(try await server.cli("SCRIPT", "EXISTS", script.sha1) == "0")
            #expect(try await redis.evaluate(script, keys: ["counter"], arguments: [3]) == .bulkString(Array("5".utf8)))
            #expect(try await server.cli("SCRIPT", "EXISTS", script.sha1) == "1")
            // Redis hashes the same bytes to the same SHA1 we computed.
            #expect(try await server.cli("SCRIPT", "LOAD", script.source) == script.sha1)
            // A failing script is an error reply, thrown as serverError, not retried.
            let failing = RedisScript(source: "return redis.error_reply('LESSOR boom')")
            await #expect(throws: RedisError.self) { try await redis.evaluate(failing) }
        }
    }

    @Test func functionLibrariesLoadWhereMissingAndRunOnce() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server)
            defer { redis.shutDown() }
            let library = try RedisFunctionLibrary(source: """
                #!lua name=test_v1
                redis.register_function('test_v1_add', function(keys, args)
                  redis.call('INCRBY', keys[1], args[1])
                  return redis.call('GET', keys[1])
                end)
                redis.register_function('test_v1_fail', function() return redis.error_reply('LESSOR boom') end)
                """)
            #expect(library.name == "test_v1")
            // The server lacks it: "Function not found" loads it, the call runs once.
            #expect(try await redis.call("test_v1_add", in: library, keys: ["counter"], arguments: [2]) == .bulkString(Array("2".utf8)))
            try await redis.forEachPrimary { node throws(RedisError) in
                #expect(try await library.loadedSource(on: node) == library.source)
            }
            try await server.cli("FUNCTION", "FLUSH")
            #expect(try await redis.call("test_v1_add", in: library, keys: ["counter"], arguments: [3]) == .bulkString(Array("5".utf8)))
            // An error reply of the function is thrown as serverError, not retried, and is no
            // transient trouble: retrying cannot help.
            do throws(RedisError) {
                try await redis.call("test_v1_fail", in: library, keys: [], arguments: [])
                Issue.record("no error")
            } catch {
                #expect(error.code == .serverError)
                #expect(!error.isTransient)
            }
            #expect(throws: RedisError.self) { try RedisFunctionLibrary(source: "return 1") }
        }
    }

    @Test func transientErrorsAreTheServersStateNotTheCommands() {
        for message in ["LOADING Redis is loading", "BUSY Redis is busy", "OOM command not allowed", "READONLY You can't write", "TRYAGAIN Multiple keys", "CLUSTERDOWN The cluster is down", "MASTERDOWN Link down"] {
            #expect(RedisError(.serverError, message).isTransient, "\(message)")
        }
        for message in ["ERR user_function:5: attempt to index a nil value", "WRONGTYPE Operation against a key", "ERR Function not found", "LESSOR boom"] {
            #expect(!RedisError(.serverError, message).isTransient, "\(message)")
        }
        #expect(RedisError(.connectionLost, "x").isTransient)
        #expect(RedisError(.timeout, "x").isTransient)
        #expect(RedisError(.notReplicated, "x").isTransient)
        #expect(RedisError(.connectionUnavailable, "x").isTransient)
        #expect(!RedisError(.unexpectedReply, "x").isTransient)
    }

    @Test func authFailuresSayWhatHappenedWithoutThePassword() async throws {
        try await withRedisServer(["--requirepass", "right-password"]) { server in
            let wrong = try makeClient(server) { $0.password = "wrong-password" }
            defer { wrong.shutDown() }
            do throws(RedisError) {
                try await wrong.send(RedisCommand("PING"))
                Issue.record("a wrong password must be refused")
            } catch {
                #expect(error.code == .authenticationFailed)
                #expect(error.message.contains("AUTH"))
                #expect(error.message.contains("WRONGPASS") || error.message.contains("invalid password"))
                #expect(!error.message.contains("wrong-password"))
            }
            let none = try makeClient(server)
            defer { none.shutDown() }
            do throws(RedisError) {
                try await none.send(RedisCommand("PING"))
                Issue.record("a missing password must be refused")
            } catch {
                #expect(error.code == .authenticationFailed)
                #expect(error.message.contains("requires a password"))
            }
            let right = try RedisClient(configuration: try RedisConfiguration(url: "redis://:right-password@127.0.0.1:\(server.port)/2"))
            defer { right.shutDown() }
            try await right.send(RedisCommand("SET", key: "in-db-2", "yes"))
            #expect(try await server.cli("-a", "right-password", "--no-auth-warning", "-n", "2", "GET", "in-db-2") == "yes")
            #expect(try await server.cli("-a", "right-password", "--no-auth-warning", "-n", "0", "EXISTS", "in-db-2") == "0")
        }
    }

    @Test func aclUserAndPassword() async throws {
        try await withRedisServer { server in
            try await server.cli("ACL", "SETUSER", "lessor", "on", ">pa:ss@word", "~*", "+@all")
            var configuration = try RedisConfiguration(url: "redis://lessor:pa%3Ass%40word@127.0.0.1:\(server.port)")
            configuration.clientName = "lessor-test"
            let redis = try RedisClient(configuration: configuration)
            defer { redis.shutDown() }
            #expect(try await redis.send(RedisCommand("ACL", "WHOAMI"), as: String.self) == "lessor")
            #expect(try await server.cli("CLIENT", "LIST").contains("name=lessor-test"), "CLIENT SETNAME in the handshake")
        }
    }

    @Test func aDatabaseOutOfRangeIsAConfigurationError() async throws {
        try await withRedisServer { server in
            let redis = try RedisClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:\(server.port)/99"))
            defer { redis.shutDown() }
            do throws(RedisError) {
                try await redis.send(RedisCommand("PING"))
                Issue.record("database 99 does not exist")
            } catch {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains("SELECT 99"))
            }
        }
    }

    @Test func shutDownRefusesLaterCommands() async throws {
        try await withRedisServer { server in
            let redis = try makeClient(server)
            #expect(await redis.ping())
            redis.shutDown()
            do throws(RedisError) {
                try await redis.send(RedisCommand("PING"))
                Issue.record("shut down")
            } catch {
                #expect([.shutdown, .connectionUnavailable, .connectionLost].contains(where: { $0 == error.code }))
            }
        }
    }
}

/// Polls `condition` every 50 ms for at most `limit`; fails the test if it never holds.
func eventually(
    within limit: Duration = .seconds(10),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition did not hold within \(limit)", sourceLocation: sourceLocation)
}

/// The outcome of a call as a value, so it can cross an `async let`.
func capture<T: Sendable>(_ body: () async throws(RedisError) -> T) async -> Result<T, RedisError> {
    do throws(RedisError) { return .success(try await body()) } catch { return .failure(error) }
}

@Suite("WAIT for replicas after script calls", .timeLimit(.minutes(1)))
struct ReplicationWaitTests {
    @Test func aScriptCallIsAcknowledgedOnlyOnceAReplicaHasIt() async throws {
        try await withRedisServer { primary in
            // The command timeout only has to outlast WAIT's 200 ms; at 1 s it expired under
            // the full suite's load on two cores and a call went unsent (n was not 2).
            let redis = try makeClient(primary, commandTimeout: .seconds(5))
            defer { redis.shutDown() }
            let wait = try ReplicationWait(replicas: 1, timeout: .milliseconds(200))
            let script = RedisScript(source: "return redis.call('INCR', KEYS[1])")
            // No replica: the write runs but is not acknowledged — on the first call too, when
            // the script is loaded after NOSCRIPT and sent again.
            await #expect(throws: RedisError.self) { try await redis.evaluate(script, keys: ["n"], wait: wait) }
            await #expect(throws: RedisError.self) { try await redis.evaluate(script, keys: ["n"], wait: wait) }
            #expect(try await primary.cli("GET", "n") == "2")
            do throws(RedisError) {
                try await redis.evaluate(script, keys: ["n"], wait: wait)
            } catch {
                #expect(error.code == .notReplicated)
                #expect(error.isOutcomeUnknown)
            }

            try await withRedisServer(["--replicaof", "127.0.0.1", String(primary.port)]) { replica in
                for _ in 0..<100 where !(try await replica.cli("INFO", "replication")).contains("master_link_status:up") {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(try await redis.evaluate(script, keys: ["n"], wait: wait) == .integer(4))
                #expect(try await replica.cli("GET", "n") == "4", "acknowledged means the replica has it")
            }
        }
    }
}
