import Foundation
import LessorTestSupport
import RedisServerHarness
import Testing

/// The official clients, unchanged, against live `lessor serve` nodes: the `anthropic` SDK and
/// Qoder's `qca-sdk`, at the versions Tests/Conformance/requirements.txt pins (scripts/test.sh
/// installs them in .build/tools). The suites are Python unittest modules that talk to the
/// nodes only through the SDKs (and Lessor's own admin routes, which no SDK has), run in one
/// Python process (the SDKs' import is the costly part); their output is shown when they fail.
@Suite("Official SDKs against a live server", .timeLimit(.minutes(3)))
struct SDKConformanceTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modules = ["test_anthropic_sdk", "test_qoder_sdk", "test_readme_snippets"]

    @Test func theSDKSuitesPass() async throws {
        let python = Self.repository.appendingPathComponent(".build/tools/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "run scripts/test.sh: it installs the SDKs in .build/tools")
        try await withRedisServer { server in
            // The SDK suites' node has a 10 s default lease (the Anthropic lease loop beats every
            // TTL/2, so its tests take seconds); the README's snippets run against the defaults
            // they describe, on a second node sharing the same Redis.
            try await withReplicas(1, on: server, settings: ["LESSOR_DEFAULT_TTL_SECONDS": "10"]) { short in
                try await withReplicas(1, on: server) { defaults in
                    let output = server.directory.appendingPathComponent("conformance.log")
                    let suite = try ChildProcess(
                        [python, "-W", "ignore::ResourceWarning", "-m", "unittest", "-v"] + Self.modules,
                        environment: [
                            "LESSOR_URL": "http://127.0.0.1:\(short[0].port)", "LESSOR_DEFAULTS_URL": "http://127.0.0.1:\(defaults[0].port)",
                            "LESSOR_ADMIN_TOKEN": testAdminToken,
                            "PYTHONPATH": Self.repository.appendingPathComponent("Tests/Conformance").path,
                            // The SDKs read these; a developer's own must not reach the suite.
                            "ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": "", "ANTHROPIC_BASE_URL": "", "QODER_ACCESS_TOKEN": "", "QODER_PAT": "",
                        ],
                        output: output)
                    let status = try await offCooperativePool { suite.waitForExit(within: 150) }
                    let log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                    #expect(status == 0, "the conformance suites failed:\n\(log)")
                    #expect(log.contains("\nOK"), "the conformance suites did not report OK:\n\(log)")
                    for module in Self.modules { #expect(log.contains("(\(module)."), "\(module) did not run:\n\(log)") }
                }
            }
        }
    }
}
