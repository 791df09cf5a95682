import Foundation
import HTTPTypes
import LessorTestSupport
import RedisServerHarness
import Testing

/// Slow, large, malformed and surplus connections against live `lessor serve` nodes: the
/// Python modules in Tests/Conformance (raw sockets) and the slow-client benchmark in its CI
/// size, run with the test venv's Python. Their output is shown when they fail.
@Suite("Hostile and slow HTTP clients", .timeLimit(.minutes(3)))
struct HostileClientTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func slowLargeMalformedAndSurplusClientsAreRefusedAndWellBehavedOnesServed() async throws {
        let python = Self.repository.appendingPathComponent(".build/tools/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "run scripts/test.sh: it makes the venv in .build/tools")
        try await withRedisServer { server in
            try await withReplicas(1, on: server, settings: ["LESSOR_HTTP_READ_TIMEOUT_MS": "1000"]) { nodes in
                try await withReplicas(1, on: server, settings: ["LESSOR_HTTP_MAX_CONNECTIONS": "8"]) { limited in
                    let url = "http://127.0.0.1:\(nodes[0].port)"
                    let output = server.directory.appendingPathComponent("hostile.log")
                    let suite = try ChildProcess(
                        [python, "-m", "unittest", "-v", "test_hostile_http"],
                        environment: [
                            "LESSOR_URL": url, "LESSOR_LIMITED_URL": "http://127.0.0.1:\(limited[0].port)",
                            "LESSOR_ADMIN_TOKEN": testAdminToken,
                            "PYTHONPATH": Self.repository.appendingPathComponent("Tests/Conformance").path,
                        ],
                        output: output)
                    var status = try await offCooperativePool { suite.waitForExit(within: 120) }
                    var log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                    #expect(status == 0 && log.contains("\nOK"), "the hostile-client suite failed:\n\(log)")

                    // 200 connections trickling bytes while a worker heartbeats (the benchmark, small).
                    let benchmark = server.directory.appendingPathComponent("slow-clients.log")
                    let slow = try ChildProcess(
                        [python, Self.repository.appendingPathComponent("bench/slow_clients.py").path, "--url", url,
                         "--admin-token", testAdminToken, "--connections", "200", "--seconds", "4", "--read-timeout-ms", "1000"],
                        environment: [:], output: benchmark)
                    status = try await offCooperativePool { slow.waitForExit(within: 60) }
                    log = (try? String(contentsOf: benchmark, encoding: .utf8)) ?? ""
                    #expect(status == 0, "slow clients:\n\(log)")
                    print(log)

                    let metrics = try await nodes[0].client.call(.get, "/metrics").raw
                    for reason in ["read_timeout", "header_too_large", "malformed"] {
                        #expect(count(#"lessor_http_refusals_total{reason="\#(reason)"}"#, in: metrics) > 0, "\(reason) not counted")
                    }
                    let limitedMetrics = try await limited[0].client.call(.get, "/metrics").raw
                    #expect(count(#"lessor_http_refusals_total{reason="too_many_connections"}"#, in: limitedMetrics) >= 3)
                    #expect(limitedMetrics.contains("lessor_http_connections "))
                    #expect(try await waitUntilReady(nodes[0].port), "the fuzzed node stopped serving")
                }
            }
        }
    }

    /// The value of one Prometheus sample, or 0.
    private func count(_ sample: String, in metrics: String) -> Double {
        for line in metrics.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1)) ?? 0
        }
        return 0
    }
}
