import Testing

@testable import LessorRedis

@Suite("redis:// URLs and settings")
struct RedisConfigurationTests {
    @Test func defaults() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 6379)
        #expect(configuration.database == 0)
        #expect(configuration.username == nil)
        #expect(configuration.password == nil)
    }

    @Test func everyPart() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:p%40ss%3Aword@cache.internal:6380/3")
        #expect(configuration.host == "cache.internal")
        #expect(configuration.port == 6380)
        #expect(configuration.username == "alice")
        #expect(configuration.password == "p@ss:word")
        #expect(configuration.database == 3)
    }

    @Test func passwordOnlyAndIPv6() throws {
        let configuration = try RedisConfiguration(url: "REDIS://:secret@[::1]:7000/")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 7000)
        #expect(configuration.username == nil)
        #expect(configuration.password == "secret")
        #expect(configuration.endpointDescription == "[::1]:7000")
        #expect(configuration.tls == nil)
    }

    @Test func redissTurnsTLSOnWithTheSystemRoots() throws {
        let configuration = try RedisConfiguration(url: "rediss://:secret@redis.example:6380/2")
        #expect(configuration.tls == (try RedisTLS()))
        #expect(configuration.tls?.caFile == nil)
        #expect((configuration.host, configuration.port, configuration.database) == ("redis.example", 6380, 2))
    }

    @Test(arguments: [
        ("http://localhost", "must start with redis:// or rediss://"),
        ("rediss://", "no host"),
        ("redis://", "no host"),
        ("redis://:6379", "no host"),
        ("redis://host:0", "port"),
        ("redis://host:65536", "port"),
        ("redis://host:abc", "port"),
        ("redis://host:-1", "port"),
        ("redis://host/x", "database"),
        ("redis://host/-1", "database"),
        ("redis://host/1/2", "database"),
        ("redis://host?db=1", "query"),
        ("redis://user@host", "no password"),
        ("redis://user:@host", "password in the URL is empty"),
        ("redis://:a%zz@host", "%-escape"),
        ("redis://::1:6379", "brackets"),
        ("redis://[::1", "closed"),
    ])
    func malformedURLsSayWhatIsWrong(url: String, expected: String) {
        do {
            _ = try RedisConfiguration(url: url)
            Issue.record("\(url) was accepted")
        } catch {
            #expect(error.code == .invalidURL)
            #expect(error.message.contains(expected), "\(url): \(error.message)")
        }
    }

    @Test func errorsNeverEchoThePassword() {
        do {
            _ = try RedisConfiguration(url: "redis://:hunter2@host:99999")
        } catch {
            #expect(!error.message.contains("hunter2"))
        }
    }

    @Test func poolSizeIsChecked() {
        var configuration = RedisConfiguration()
        configuration.poolSize = 0
        #expect(throws: RedisError.self) { try configuration.validate() }
        configuration.poolSize = 4
        #expect(throws: Never.self) { try configuration.validate() }
    }

    @Test func backoffDoublesToItsCapWithJitterBelow() {
        let backoff = ReconnectBackoff(initial: .milliseconds(50), maximum: .seconds(2), jitter: 0.2)
        #expect(backoff.delay(afterFailures: 1, random: 0) == .milliseconds(50))
        #expect(backoff.delay(afterFailures: 2, random: 0) == .milliseconds(100))
        #expect(backoff.delay(afterFailures: 6, random: 0) == .milliseconds(1600))
        #expect(backoff.delay(afterFailures: 7, random: 0) == .seconds(2))
        #expect(backoff.delay(afterFailures: 1000, random: 0) == .seconds(2))
        #expect(backoff.delay(afterFailures: 7, random: 0.5) == .milliseconds(1800))
    }
}
