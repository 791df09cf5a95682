import Foundation

/// Certificates a TLS test makes for itself with `openssl`, in a temporary directory: a CA,
/// a server certificate it signs for `127.0.0.1` and `localhost` (and, for tests of name
/// checks, `redis.lessor.test`), a client certificate it signs, and a second CA that signed
/// nothing here (a "wrong CA" for tests of verification). P-256 keys, valid for two days.
public struct TestCertificates: Sendable {
    /// The directory that holds the files.
    public let directory: URL

    /// The CA that signed the server and client certificates.
    public var caFile: String { path("ca.crt") }
    /// A CA that signed none of them.
    public var otherCAFile: String { path("other-ca.crt") }
    /// The server's certificate: IP 127.0.0.1, DNS localhost and redis.lessor.test; or, in
    /// the set from ``namesOnly``, DNS redis.lessor.test alone (no IP address).
    public var serverCertificateFile: String { path("\(serverLeaf).crt") }
    /// The server's key.
    public var serverKeyFile: String { path("\(serverLeaf).key") }
    private var serverLeaf = "server"

    /// The same files, but servers present a certificate that names only `redis.lessor.test`,
    /// so a client that reaches them by IP must be told that name.
    public var namesOnly: TestCertificates {
        var copy = self
        copy.serverLeaf = "named"
        return copy
    }
    /// A client certificate signed by the CA.
    public var clientCertificateFile: String { path("client.crt") }
    /// The client certificate's key.
    public var clientKeyFile: String { path("client.key") }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Makes a fresh set.
    /// - Throws: `HarnessError` with openssl's output when a step fails.
    public static func make() async throws -> TestCertificates {
        try await offCooperativePool { try makeBlocking() }
    }

    private static func makeBlocking() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-tls-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for ca in ["ca", "other-ca"] {
            try certificates.openssl(["req", "-x509"] + key + ["-days", "2", "-subj", "/CN=Lessor test \(ca)", "-keyout", "\(ca).key", "-out", "\(ca).crt"])
        }
        let leaves = [
            // Nodes of a TLS cluster and replicas present their server certificate as clients too.
            ("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:redis.lessor.test\nextendedKeyUsage=serverAuth,clientAuth\n"),
            ("named", "/CN=redis.lessor.test", "subjectAltName=DNS:redis.lessor.test\nextendedKeyUsage=serverAuth,clientAuth\n"),
            ("client", "/CN=lessor-test-client", "extendedKeyUsage=clientAuth\n"),
        ]
        for (name, subject, extensions) in leaves {
            try extensions.write(to: directory.appendingPathComponent("\(name).ext"), atomically: true, encoding: .utf8)
            try certificates.openssl(["req"] + key + ["-subj", subject, "-keyout", "\(name).key", "-out", "\(name).csr"])
            try certificates.openssl([
                "x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", "\(name).ext", "-out", "\(name).crt",
            ])
        }
        return certificates
    }

    private func openssl(_ arguments: [String]) throws {
        let log = directory.appendingPathComponent("openssl.log")
        // openssl reads and writes its files relative to the working directory; name them whole.
        let absolute = arguments.map { argument in
            argument.hasSuffix(".key") || argument.hasSuffix(".crt") || argument.hasSuffix(".csr") || argument.hasSuffix(".ext")
                ? path(argument) : argument
        }
        let process = try ChildProcess(["openssl"] + absolute, output: log)
        guard process.waitForExit(within: 30) == 0 else {
            throw HarnessError("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
    }

    /// `redis-server` options for a TLS-only server: no plaintext port, TLS on `port`.
    /// - Parameters:
    ///   - port: The TLS port.
    ///   - verifyClients: `yes` (a client certificate is required), `optional` or `no`.
    func serverArguments(port: Int, verifyClients: String) -> [String] {
        [
            "--port", "0", "--tls-port", String(port),
            "--tls-cert-file", serverCertificateFile, "--tls-key-file", serverKeyFile, "--tls-ca-cert-file", caFile,
            "--tls-auth-clients", verifyClients, "--tls-replication", "yes", "--tls-cluster", "yes",
        ]
    }

    /// `redis-cli` options that reach a TLS server as a verified client.
    var cliArguments: [String] {
        ["--tls", "--cacert", caFile, "--cert", clientCertificateFile, "--key", clientKeyFile]
    }

    /// Removes the files.
    public func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
