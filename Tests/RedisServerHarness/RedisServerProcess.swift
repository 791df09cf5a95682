#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import LessorCore
import Synchronization

/// A real `redis-server` on a free 127.0.0.1 port, in its own temporary directory, with
/// persistence off. Tests start one, use it, and stop it; nothing binds beyond loopback.
public final class RedisServerProcess: Sendable {
    /// The TCP port it listens on (kept across ``restart()``).
    public let port: Int
    /// Its working directory (log file: `redis.log`).
    public let directory: URL
    private let extraArguments: [String]
    private let configurationFile: String?
    /// The certificates of a TLS-only server (``port`` is then its TLS port); nil for plaintext.
    public let tls: TestCertificates?
    private let verifyClients: String
    /// The password ``cli(_:)`` signs in with (a server with `requirepass`).
    private let cliPassword: String?
    private let child: Mutex<ChildProcess?>

    private init(
        port: Int, directory: URL, extraArguments: [String], configurationFile: String?, tls: TestCertificates?, verifyClients: String,
        cliPassword: String?
    ) {
        self.port = port
        self.directory = directory
        self.extraArguments = extraArguments
        self.configurationFile = configurationFile
        self.tls = tls
        self.verifyClients = verifyClients
        self.cliPassword = cliPassword
        self.child = Mutex(nil)
    }

    /// Starts a server on a free port and waits until it accepts connections.
    /// - Parameters:
    ///   - arguments: Extra `redis-server` options, e.g. `["--requirepass", "s3cret"]`.
    ///   - configurationFile: Text of a configuration file to start from (a sentinel needs
    ///     one it can rewrite); written to the server's directory.
    ///   - tls: Certificates for a server that speaks only TLS.
    ///   - verifyClients: With TLS, `tls-auth-clients`: `yes`, `optional` or `no`.
    ///   - cliPassword: The password ``cli(_:)`` signs in with, for a server that requires one.
    /// - Returns: The running server.
    public static func start(
        _ arguments: [String] = [], configurationFile: String? = nil, tls: TestCertificates? = nil, verifyClients: String = "yes",
        cliPassword: String? = nil
    ) async throws -> RedisServerProcess {
        try await offCooperativePool {
            try startBlocking(arguments, configurationFile: configurationFile, tls: tls, verifyClients: verifyClients, cliPassword: cliPassword)
        }
    }

    private static func startBlocking(
        _ arguments: [String], configurationFile: String?, tls: TestCertificates?, verifyClients: String, cliPassword: String?
    ) throws -> RedisServerProcess {
        var lastError: (any Error)?
        for _ in 0..<5 {  // a port can be taken between probing and binding; try another
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("lessor-redis-\(UUID().uuidString)", isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = RedisServerProcess(
                port: try freeLoopbackPort(), directory: directory, extraArguments: arguments, configurationFile: configurationFile,
                tls: tls, verifyClients: verifyClients, cliPassword: cliPassword)
            do {
                try server.launch()
                return server
            } catch {
                lastError = error
                server.stopBlocking()
            }
        }
        throw lastError ?? HarnessError("redis-server did not start")
    }

    /// The least-privilege user every data server of the harness has (a sentinel has none):
    /// the rules `lessor redis-acl` prints, so every test that runs Lessor code through
    /// ``clientConfiguration`` or ``lessorSettings`` runs it as that user. The default user
    /// (``url``, ``cli(_:)``) stays unrestricted for the tests' own setup and checks.
    public static let lessorUser = (name: "lessor", password: "lessor-test-password")

    static var lessorUserArguments: [String] {
        ["--user", lessorUser.name, "reset", "on", ">" + lessorUser.password] + RedisPermissions(namespace: "lessor").aclRules
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` with TLS), as the unrestricted default user.
    public var url: String { "\(tls == nil ? "redis" : "rediss")://127.0.0.1:\(port)" }

    private func launch() throws {
        var file: [String] = []
        if let configurationFile {
            let path = directory.appendingPathComponent("server.conf")
            if !FileManager.default.fileExists(atPath: path.path) {
                try configurationFile.write(to: path, atomically: true, encoding: .utf8)
            }
            file = [path.path]
        }
        let ports = tls?.serverArguments(port: port, verifyClients: verifyClients) ?? ["--port", String(port)]
        let arguments = ["redis-server"] + file + ports + [
            "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path,
            "--enable-debug-command", "local",
            // A replica's first sync starts at once instead of after Redis's default 5 s.
            "--repl-diskless-sync-delay", "0",
        ] + (extraArguments.contains("--sentinel") ? [] : Self.lessorUserArguments) + extraArguments
        let child = try ChildProcess(arguments)
        self.child.withLock { $0 = child }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if child.exitStatus() != nil {
                self.child.withLock { $0 = nil }
                throw HarnessError("redis-server exited at start: \(log.suffix(500))")
            }
            if Self.acceptsConnections(port: port) { return }
            usleep(10_000)
        }
        throw HarnessError("redis-server did not listen on \(port) within 10 s")
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit.
    public func stop() async {
        try? await offCooperativePool { self.stopBlocking() }
    }

    private func stopBlocking() {
        let child = self.child.withLock { current -> ChildProcess? in
            defer { current = nil }
            return current
        }
        child?.terminate()
    }

    /// Stops the server and starts it again on the same port (an empty dataset).
    public func restart() async throws {
        try await offCooperativePool {
            self.stopBlocking()
            var lastError: (any Error)?
            for _ in 0..<20 {  // the port may linger briefly
                do { try self.launch(); return } catch { lastError = error; self.stopBlocking(); usleep(100_000) }
            }
            throw lastError ?? HarnessError("restart failed")
        }
    }

    /// Kills the server with SIGKILL, as a crash would: no shutdown, no last sync to replicas.
    public func kill() async {
        signal(SIGKILL)
        await stop()
    }

    /// Freezes the server with SIGSTOP: connections stay open but nothing is answered.
    public func pause() { signal(SIGSTOP) }

    /// Thaws a paused server.
    public func resume() { signal(SIGCONT) }

    private func signal(_ number: Int32) {
        child.withLock { $0?.signal(number) }
    }

    /// Stops the server and removes its directory.
    public func remove() async {
        await stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `redis-cli -p <port> <arguments>` and returns its standard output, trimmed.
    /// - Parameter arguments: The command and arguments.
    @discardableResult
    public func cli(_ arguments: String...) async throws -> String {
        try await cli(arguments)
    }

    /// Runs `redis-cli -p <port> <arguments>` and returns its standard output, trimmed.
    @discardableResult
    public func cli(_ arguments: [String]) async throws -> String {
        try await offCooperativePool { try self.cliBlocking(arguments) }
    }

    private func cliBlocking(_ arguments: [String]) throws -> String {
        // ChildProcess, not Foundation's Process: its exit was seen taking seconds to notice
        // on a loaded machine, which made tests that poll with redis-cli slow and flaky.
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lessor-cli-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = try ChildProcess(
            ["redis-cli", "-h", "127.0.0.1", "-p", String(port)] + (tls?.cliArguments ?? []) + arguments,
            environment: cliPassword.map { ["REDISCLI_AUTH": $0] } ?? [:], output: output, keepingErrors: false)
        guard process.waitForExit(within: 30) != nil else {
            process.signal(SIGKILL)
            _ = process.waitForExit(within: 5)
            throw HarnessError("redis-cli \(arguments.joined(separator: " ")) did not finish within 30 s")
        }
        let data = (try? Data(contentsOf: output)) ?? Data()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The server's log so far.
    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
    }

    deinit {
        // A test that forgot ``remove()``: do not leave a server behind, but do not wait either.
        child.withLock { $0?.signal(SIGKILL) }
    }
}

/// Runs `body` with a fresh server and removes the server afterwards, even when `body` throws.
/// - Parameters:
///   - arguments: Extra `redis-server` options.
///   - body: The test.
public func withRedisServer<T>(
    _ arguments: [String] = [],
    _ body: (RedisServerProcess) async throws -> T
) async throws -> T {
    try await using(try await RedisServerProcess.start(arguments), removedBy: { await $0.remove() }, body)
}

/// Runs `body` with `resource`, then `remove`s it whether `body` returned or threw.
func using<Resource, T>(
    _ resource: Resource, removedBy remove: (Resource) async -> Void, _ body: (Resource) async throws -> T
) async throws -> T {
    configureTestLogging()
    do {
        let result = try await body(resource)
        await remove(resource)
        return result
    } catch {
        await remove(resource)
        throw error
    }
}

/// Runs blocking work (process waits, sleeps, pipe reads) on a thread of its own, so that
/// tests running in parallel never starve Swift's small cooperative pool (2 threads here).
public func offCooperativePool<T: Sendable>(_ body: @Sendable @escaping () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// An error of the harness itself, not of the code under test.
public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Ports this test process has handed out. Tests stop servers and restart them on the same
/// port while other tests run in parallel; never handing a port out twice keeps a parallel
/// test from starting its server on a port that is only free for a moment.
private let handedOutPorts = Mutex(Set<Int>())

/// A port on 127.0.0.1 that was free a moment ago and that no other test of this process got.
public func freeLoopbackPort() throws -> Int {
    for _ in 0..<100 {
        let port = try kernelChosenPort()
        if handedOutPorts.withLock({ $0.insert(port).inserted }) { return port }
    }
    throw HarnessError("no unused loopback port found")
}

private func kernelChosenPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket() failed") }
    defer { close(fd) }
    var address = loopback(port: 0)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw HarnessError("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw HarnessError("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

extension RedisServerProcess {
    fileprivate static func acceptsConnections(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

private func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}
