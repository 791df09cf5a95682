#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A program the tests start and stop: spawned with `posix_spawnp` and reaped with `waitpid`
/// by hand, because Foundation's `Process.waitUntilExit` was seen taking seconds to notice an
/// exit here. The child gets a clean signal mask, so SIGTERM reaches it.
public struct ChildProcess: Sendable {
    /// The child's process id.
    public let pid: pid_t

    /// Starts a program found on PATH.
    /// - Parameters:
    ///   - arguments: The program and its arguments.
    ///   - environment: Variables added to (or replacing) this process's environment.
    ///   - output: A file for stdout and stderr; nil sends them to /dev/null.
    ///   - keepingErrors: False sends stderr to /dev/null instead of `output`.
    public init(_ arguments: [String], environment: [String: String] = [:], output: URL? = nil, keepingErrors: Bool = true) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let sink = output?.path ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, sink, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if keepingErrors {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }

        // The spawning thread may block signals (Dispatch's threads do) and children inherit
        // the mask: without a clean one, a server would never see SIGTERM.
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

        var variables = ProcessInfo.processInfo.environment
        for (name, value) in environment { variables[name] = value }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, arguments[0], &actions, &attributes, &argv, &envp)
        guard status == 0 else { throw HarnessError("cannot start \(arguments[0]): \(String(cString: strerror(status)))") }
        self.pid = pid
    }

    /// Sends a signal.
    public func signal(_ number: Int32) { kill(pid, number) }

    /// The exit status if the child has exited (and reaps it), else nil. Killed by a signal: 128 + signal.
    public func exitStatus() -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return Self.decode(status)
    }

    /// Waits for the child to exit, blocking the calling thread (use ``offCooperativePool(_:)``).
    /// - Parameter limit: How long to wait.
    /// - Returns: The exit status, or nil if it still runs after `limit`.
    public func waitForExit(within limit: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(limit)
        repeat {
            if let status = exitStatus() { return status }
            usleep(10_000)
        } while Date() < deadline
        return nil
    }

    /// SIGTERM (after SIGCONT, so a paused child can act on it), then SIGKILL after `grace`.
    /// - Returns: The exit status.
    @discardableResult
    public func terminate(grace: TimeInterval = 5) -> Int32 {
        signal(SIGCONT)
        signal(SIGTERM)
        if let status = waitForExit(within: grace) { return status }
        signal(SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return Self.decode(status)
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
