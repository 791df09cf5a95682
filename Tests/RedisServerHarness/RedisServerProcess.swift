#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A real `redis-server` on a free 127.0.0.1 port, in its own temporary directory, with
/// persistence off. Tests start one, use it, and stop it; nothing binds beyond loopback.
public final class RedisServerProcess: Sendable {
    /// The TCP port it listens on (kept across ``restart()``).
    public let port: Int
    /// Its working directory (log file: `redis.log`).
    public let directory: URL
    private let extraArguments: [String]
    /// The server's pid while it runs; spawned and reaped by hand (posix_spawn/waitpid), because
    /// Foundation's `Process.waitUntilExit` was seen taking seconds to notice an exit here.
    private let pid: Mutex<pid_t?>

    private init(port: Int, directory: URL, extraArguments: [String]) {
        self.port = port
        self.directory = directory
        self.extraArguments = extraArguments
        self.pid = Mutex(nil)
    }

    /// Starts a server on a free port and waits until it accepts connections.
    /// - Parameter arguments: Extra `redis-server` options, e.g. `["--requirepass", "s3cret"]`.
    /// - Returns: The running server.
    public static func start(_ arguments: [String] = []) async throws -> RedisServerProcess {
        try await offCooperativePool { try startBlocking(arguments) }
    }

    private static func startBlocking(_ arguments: [String]) throws -> RedisServerProcess {
        var lastError: (any Error)?
        for _ in 0..<5 {  // a port can be taken between probing and binding; try another
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("lessor-redis-\(UUID().uuidString)", isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = RedisServerProcess(port: try freeLoopbackPort(), directory: directory, extraArguments: arguments)
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

    /// `redis://127.0.0.1:<port>`.
    public var url: String { "redis://127.0.0.1:\(port)" }

    private func launch() throws {
        let arguments = [
            "redis-server",
            "--port", String(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path,
            "--enable-debug-command", "local",
        ] + extraArguments
        let pid = try spawn(arguments)
        self.pid.withLock { $0 = pid }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                self.pid.withLock { $0 = nil }
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
        guard let pid = self.pid.withLock({ current -> pid_t? in
            defer { current = nil }
            return current
        }) else { return }
        kill(pid, SIGCONT)  // a paused server cannot act on SIGTERM
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<500 {  // 5 s to shut down, then SIGKILL
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
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

    /// Freezes the server with SIGSTOP: connections stay open but nothing is answered.
    public func pause() { signal(SIGSTOP) }

    /// Thaws a paused server.
    public func resume() { signal(SIGCONT) }

    private func signal(_ number: Int32) {
        if let pid = pid.withLock({ $0 }) { kill(pid, number) }
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
        try await offCooperativePool { try self.cliBlocking(arguments) }
    }

    private func cliBlocking(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["redis-cli", "-h", "127.0.0.1", "-p", String(port)] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The server's log so far.
    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
    }

    deinit {
        // A test that forgot ``remove()``: do not leave a server behind, but do not wait either.
        if let pid = pid.withLock({ $0 }) { kill(pid, SIGKILL) }
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
    let server = try await RedisServerProcess.start(arguments)
    do {
        let result = try await body(server)
        await server.remove()
        return result
    } catch {
        await server.remove()
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

/// A port on 127.0.0.1 that was free a moment ago (the kernel picks it).
public func freeLoopbackPort() throws -> Int {
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

/// Starts a program found on PATH with stdin, stdout and stderr on /dev/null.
private func spawn(_ arguments: [String]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd in Int32(0)...2 {
        posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
    }
    // The spawning thread may block signals (Dispatch's threads do) and children inherit the
    // mask: without a clean one, redis-server would never see SIGTERM.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var emptyMask = sigset_t()
    sigemptyset(&emptyMask)
    posix_spawnattr_setsigmask(&attributes, &emptyMask)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for number in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, number) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let status = posix_spawnp(&pid, arguments[0], &actions, &attributes, &argv, environ)
    guard status == 0 else { throw HarnessError("cannot start \(arguments[0]): \(String(cString: strerror(status)))") }
    return pid
}
