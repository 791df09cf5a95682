import Foundation
import LessorTestSupport
import RedisServerHarness
import Testing

/// The official clients, unchanged, against a live `lessor serve`: the `anthropic` SDK and
/// Qoder's `qca-sdk`, at the versions Tests/Conformance/requirements.txt pins (scripts/test.sh
/// installs them in .build/tools). Each suite is a Python unittest module that talks to the
/// node only through its SDK (and Lessor's own admin routes, which no SDK has); its output is
/// shown when it fails.
@Suite("Official SDKs against a live server", .timeLimit(.minutes(3)))
struct SDKConformanceTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Each module, and the node's settings: a 10 s default lease for the SDK suites (the
    /// Anthropic lease loop beats every TTL/2, so its tests take seconds); the README's
    /// snippets run against the defaults they describe.
    static let suites: [(module: String, settings: [String: String])] = [
        ("test_anthropic_sdk", ["LESSOR_DEFAULT_TTL_SECONDS": "10"]),
        ("test_qoder_sdk", ["LESSOR_DEFAULT_TTL_SECONDS": "10"]),
        ("test_readme_snippets", [:]),
    ]

    @Test(arguments: suites.map(\.module))
    func theSuitePasses(_ module: String) async throws {
        let python = Self.repository.appendingPathComponent(".build/tools/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "run scripts/test.sh: it installs the SDKs in .build/tools")
        let settings = Self.suites.first { $0.module == module }?.settings ?? [:]
        try await withRedisServer { server in
            try await withReplicas(1, on: server, settings: settings) { replicas in
                let output = server.directory.appendingPathComponent("\(module).log")
                let suite = try ChildProcess(
                    [python, "-W", "ignore::ResourceWarning", "-m", "unittest", "-v", module],
                    environment: [
                        "LESSOR_URL": "http://127.0.0.1:\(replicas[0].port)", "LESSOR_ADMIN_TOKEN": testAdminToken,
                        "PYTHONPATH": Self.repository.appendingPathComponent("Tests/Conformance").path,
                        // The SDKs read these; a developer's own must not reach the suite.
                        "ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": "", "ANTHROPIC_BASE_URL": "", "QODER_ACCESS_TOKEN": "", "QODER_PAT": "",
                    ],
                    output: output)
                let status = try await offCooperativePool { suite.waitForExit(within: 150) }
                let log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                #expect(status == 0, "\(module) failed:\n\(log)")
                #expect(log.contains("\nOK"), "\(module) did not report OK:\n\(log)")
            }
        }
    }
}
