import Foundation
import LessorCore
import LessorHTTP
import LessorRedis
import Testing
import Logging
@testable import lessor

@Suite("Front-node configuration from LESSOR_* values")
struct LessorConfigurationTests {
    @Test func defaultsMatchTheContract() throws {
        let configuration = try LessorConfiguration([:])
        #expect(configuration.redis.host == "127.0.0.1")
        #expect(configuration.redis.port == 6379)
        #expect(configuration.namespace == "lessor")
        #expect(configuration.port == 8080)
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.defaultLeaseTTL == .seconds(60))
        #expect(configuration.workerPresenceTTL == .seconds(90))
        #expect(configuration.adminToken == nil)
        #expect(configuration.httpLimits.readTimeout == .seconds(10))
        #expect(configuration.httpLimits.idleTimeout == .seconds(75))
    }

    @Test func everySettingIsRead() throws {
        let configuration = try LessorConfiguration([
            "LESSOR_REDIS_URL": "redis://:pw@10.0.0.5:6380/2",
            "LESSOR_REDIS_POOL_SIZE": "8",
            "LESSOR_REDIS_CONNECT_TIMEOUT_MS": "500",
            "LESSOR_REDIS_COMMAND_TIMEOUT_MS": "750",
            "LESSOR_NAMESPACE": "staging.lessor-1",
            "LESSOR_HOST": "::1",
            "LESSOR_PORT": "9090",
            "LESSOR_ADMIN_TOKEN": "admin-secret",
            "LESSOR_DEFAULT_TTL_SECONDS": "120",
            "LESSOR_WORKER_TTL_SECONDS": "30",
            "LESSOR_LOG_FORMAT": "JSON",
            "LESSOR_LOG_LEVEL": "debug",
            "LESSOR_HTTP_READ_TIMEOUT_MS": "2500",
            "LESSOR_HTTP_IDLE_TIMEOUT_MS": "30000",
            "LESSOR_HTTP_MAX_HEADER_BYTES": "4096",
            "LESSOR_HTTP_MAX_CONNECTIONS": "64",
            "PATH": "/usr/bin",
        ])
        #expect(configuration.redis.host == "10.0.0.5")
        #expect(configuration.redis.port == 6380)
        #expect(configuration.redis.database == 2)
        #expect(configuration.redis.password == "pw")
        #expect(configuration.redis.poolSize == 8)
        #expect(configuration.redis.connectTimeout == .milliseconds(500))
        #expect(configuration.redis.commandTimeout == .milliseconds(750))
        #expect(configuration.namespace == "staging.lessor-1")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 9090)
        #expect(configuration.adminToken == "admin-secret")
        #expect(configuration.defaultLeaseTTL == .seconds(120))
        #expect(configuration.workerPresenceTTL == .seconds(30))
        #expect(configuration.logFormat == .json)
        #expect(configuration.logLevel == "debug")
        #expect(configuration.httpLimits == HTTPLimits(
            readTimeout: .milliseconds(2500), idleTimeout: .seconds(30), maxHeaderBytes: 4096, maxConnections: 64))
    }

    @Test func clusterAndSentinelTopologies() throws {
        let cluster = try LessorConfiguration([
            "LESSOR_REDIS_CLUSTER": "10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002",
            "LESSOR_REDIS_URL": "redis://:pw@ignored:1",
        ])
        #expect(cluster.redis.topology == .cluster(seeds: [
            RedisEndpoint(host: "10.0.0.1", port: 7000), RedisEndpoint(host: "10.0.0.2", port: 7001), RedisEndpoint(host: "::1", port: 7002),
        ]))
        #expect(cluster.redis.password == "pw")
        let sentinel = try LessorConfiguration([
            "LESSOR_REDIS_SENTINELS": "s1:26379,s2:26379", "LESSOR_REDIS_MASTER_NAME": "leases",
            "LESSOR_REDIS_WAIT_REPLICAS": "1", "LESSOR_REDIS_COMMAND_TIMEOUT_MS": "3000",
        ])
        #expect(sentinel.redis.topology == .sentinel(sentinels: [RedisEndpoint(host: "s1", port: 26379), RedisEndpoint(host: "s2", port: 26379)], masterName: "leases"))
        #expect(sentinel.replicationWait == (try ReplicationWait(replicas: 1, timeout: .milliseconds(1500))))
        #expect(try LessorConfiguration([:]).replicationWait == nil)
        #expect(throws: ConfigurationError.self) {
            try LessorConfiguration(["LESSOR_REDIS_CLUSTER": "a:1", "LESSOR_REDIS_SENTINELS": "b:2", "LESSOR_REDIS_MASTER_NAME": "m"])
        }
        #expect(throws: ConfigurationError.self) { try LessorConfiguration(["LESSOR_REDIS_CLUSTER": "a:1", "LESSOR_REDIS_URL": "redis://a/3"]) }
    }

    @Test(arguments: [("5", 10), ("10", 10), ("600", 600), ("601", 600), ("100000", 600)])
    func defaultTTLIsClamped(value: String, seconds: Int) throws {
        let configuration = try LessorConfiguration(["LESSOR_DEFAULT_TTL_SECONDS": value])
        #expect(configuration.defaultLeaseTTL == .seconds(seconds))
    }

    @Test func emptyValuesCountAsUnset() throws {
        let configuration = try LessorConfiguration(["LESSOR_PORT": "", "LESSOR_ADMIN_TOKEN": ""])
        #expect(configuration.port == 8080)
        #expect(configuration.adminToken == nil)
    }

    @Test(arguments: [
        ("LESSOR_PORT", "0", "from 1 to 65535"),
        ("LESSOR_PORT", "eighty", "whole number"),
        ("LESSOR_DEFAULT_TTL_SECONDS", "-5", "whole number"),
        ("LESSOR_DEFAULT_TTL_SECONDS", "1.5", "whole number"),
        ("LESSOR_REDIS_URL", "http://x", "redis://"),
        ("LESSOR_REDIS_POOL_SIZE", "0", "from 1 to 64"),
        ("LESSOR_NAMESPACE", "a{b}", "A-Z"),
        ("LESSOR_NAMESPACE", "has space", "A-Z"),
        ("LESSOR_LOG_FORMAT", "xml", "json or text"),
        ("LESSOR_LOG_LEVEL", "loud", "must be one of"),
        ("LESSOR_REDIS_CLUSTER", "127.0.0.1", "host:port"),
        ("LESSOR_REDIS_CLUSTER", ",", "host:port"),
        ("LESSOR_REDIS_SENTINELS", "127.0.0.1:26379", "LESSOR_REDIS_MASTER_NAME"),
        ("LESSOR_REDIS_WAIT_REPLICAS", "17", "from 0 to 16"),
        ("LESSOR_PROT", "8080", "is not a Lessor setting"),
    ])
    func badValuesNameTheirVariableAndFlag(variable: String, value: String, expected: String) {
        do {
            _ = try LessorConfiguration([variable: value])
            Issue.record("\(variable)=\(value) was accepted")
        } catch {
            #expect(error.variable == variable)
            #expect(error.description.contains(expected), "\(error)")
            #expect(error.description.hasPrefix(variable))
        }
    }

    @Test func theWorkerSidesVariablesAreNotTyposOfSettings() throws {
        // A shell that runs the walkthrough or `lessor run` holds these beside the node's settings.
        let configuration = try LessorConfiguration(["LESSOR_URL": "http://127.0.0.1:8080", "LESSOR_TOKEN": "lsr_pat_x", "LESSOR_ENV": "env_1", "LESSOR_PORT": "9000"])
        #expect(configuration.port == 9000)
        #expect(LessorConfiguration.workerSide.isDisjoint(with: LessorConfiguration.settings.map(\.variable)))
    }

    @Test func flagsAreDerivedFromVariables() {
        let flags = LessorConfiguration.settings.map(\.flag)
        #expect(flags.contains("--redis-url"))
        #expect(flags.contains("--default-ttl-seconds"))
        #expect(Set(flags).count == flags.count)
        #expect(ConfigurationError(variable: "LESSOR_PORT", message: "x").description == "LESSOR_PORT (--port) x")
    }

    @Test func flagsWinOverVariablesInBothSpellings() throws {
        let values = try LessorConfiguration.values(
            environment: ["LESSOR_PORT": "1", "LESSOR_HOST": "::1", "PATH": "/bin"],
            flags: ["--port", "9000", "--namespace=a=b", "--log-level", "debug"])
        #expect(values == ["LESSOR_PORT": "9000", "LESSOR_HOST": "::1", "LESSOR_NAMESPACE": "a=b", "LESSOR_LOG_LEVEL": "debug"])
        #expect(throws: ConfigurationError.self) { try LessorConfiguration.values(environment: [:], flags: ["--prot", "1"]) }
        #expect(throws: ConfigurationError.self) { try LessorConfiguration.values(environment: [:], flags: ["--port"]) }
        #expect(throws: ConfigurationError.self) { try LessorConfiguration.values(environment: [:], flags: ["9000"]) }
    }

    /// One declaration: `--help` lists every setting with its variable, and docs/operations.md's
    /// table is `lessor settings`' output, row for row.
    @Test func helpAndTheOperationsGuideTableComeFromTheOneList() throws {
        for setting in LessorConfiguration.settings {
            #expect(LessorConfiguration.helpText.contains("\(setting.flag) <value>  [\(setting.variable)]"))
        }
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "<!-- lessor settings -->\n"))
        let end = try #require(readme.range(of: "\n<!-- /lessor settings -->"))
        #expect(String(readme[start.upperBound..<end.lowerBound]) == LessorConfiguration.markdownTable,
                "docs/operations.md's configuration table is stale: paste the output of `lessor settings`")
    }

    /// Writes `text` to a temporary file and returns its path.
    private func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-secret-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func secretsComeFromFilesAsKubernetesMountsThem() throws {
        let token = try file("file-admin-token\n")
        let url = try file("redis://:from-file@10.1.2.3:6390\r\n")
        let sentinel = try file("sentinel-secret\n")
        defer { for path in [token, url, sentinel] { try? FileManager.default.removeItem(atPath: path) } }
        let configuration = try LessorConfiguration([
            "LESSOR_ADMIN_TOKEN_FILE": token, "LESSOR_REDIS_URL_FILE": url,
            "LESSOR_REDIS_SENTINELS": "127.0.0.1:26379", "LESSOR_REDIS_MASTER_NAME": "main",
            "LESSOR_REDIS_SENTINEL_USERNAME": "watcher", "LESSOR_REDIS_SENTINEL_PASSWORD_FILE": sentinel,
        ])
        #expect(configuration.adminToken == "file-admin-token")
        #expect(configuration.redis.password == "from-file")
        #expect(configuration.redis.port == 6390)
        #expect(configuration.redis.sentinelPassword == "sentinel-secret")
        #expect(configuration.redis.sentinelUsername == "watcher")

        #expect(throws: ConfigurationError(variable: "LESSOR_ADMIN_TOKEN_FILE", message: "cannot be combined with LESSOR_ADMIN_TOKEN: set one of them")) {
            try LessorConfiguration(["LESSOR_ADMIN_TOKEN_FILE": token, "LESSOR_ADMIN_TOKEN": "x"])
        }
        do {
            _ = try LessorConfiguration(["LESSOR_REDIS_URL_FILE": "/nonexistent/url"])
            Issue.record("a missing file must be refused")
        } catch {
            #expect(error.variable == "LESSOR_REDIS_URL_FILE")
            #expect(error.message.contains("/nonexistent/url"))
        }
        // A bad URL read from a file is blamed on the file's variable, without its password.
        let bad = try file("redis://:hunter2@host:99999")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        do {
            _ = try LessorConfiguration(["LESSOR_REDIS_URL_FILE": bad])
            Issue.record("a bad URL must be refused")
        } catch {
            #expect(error.variable == "LESSOR_REDIS_URL_FILE")
            #expect(!error.description.contains("hunter2"))
        }
        #expect(throws: ConfigurationError.self) { try LessorConfiguration(["LESSOR_REDIS_SENTINEL_PASSWORD": "x"]) }
    }

    @Test func tlsNeedsRedissAndReadableFiles() throws {
        let tls = try LessorConfiguration(["LESSOR_REDIS_URL": "rediss://redis.example:6380"])
        #expect(tls.redis.tls != nil)
        #expect(try LessorConfiguration([:]).redis.tls == nil)
        do {
            _ = try LessorConfiguration(["LESSOR_REDIS_TLS_SERVER_NAME": "redis.example"])
            Issue.record("TLS settings without rediss:// must be refused")
        } catch {
            #expect(error.variable == "LESSOR_REDIS_TLS_SERVER_NAME")
            #expect(error.message.contains("rediss://"))
        }
        do {
            _ = try LessorConfiguration(["LESSOR_REDIS_URL": "rediss://h", "LESSOR_REDIS_TLS_CERT_FILE": "/nonexistent/c.pem"])
            Issue.record("a certificate without its key must be refused")
        } catch {
            #expect(error.variable.hasPrefix("LESSOR_REDIS_TLS_"))
        }
    }
}

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    @Test func aLineIsOneJSONObjectWhateverItsValuesHold() throws {
        let handler = JSONLogHandler(label: "lessor.access", metadata: ["node": "n1"])
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7} slash / é 🎉"
        let event = LogEvent(
            level: .info, message: "request \(tricky)", metadata: ["route": .string(tricky), "count": .stringConvertible(3), "ts": "overridden?"],
            source: "test", file: #fileID, function: #function, line: #line)
        let line = handler.line(for: event)
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false, "one line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: String])
        #expect(object["route"] == tricky)
        #expect(object["msg"] == "request \(tricky)")
        #expect(object["count"] == "3")
        #expect(object["node"] == "n1")
        #expect(object["level"] == "info" && object["logger"] == "lessor.access")
        #expect(object["ts"].flatMap(Timestamp.init(rfc3339:)) != nil, "the handler's own ts wins")
        // Keys in byte order, as before.
        let text = String(decoding: line, as: UTF8.self)
        let keys = ["count", "level", "logger", "msg", "node", "route", "ts"].map { "\"\($0)\":" }
        let positions = keys.map { text.range(of: $0)!.lowerBound }
        #expect(positions == positions.sorted())
    }
}
