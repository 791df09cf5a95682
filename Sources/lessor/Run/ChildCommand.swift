import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A command `lessor run` runs for one item: spawned in a process group of its own, so that a
/// signal reaches everything it started; its exit is awaited on a thread of its own (waitpid
/// blocks), never on the cooperative pool.
final class ChildCommand: Sendable {
    /// The child's pid, which is also its process group's id.
    let pid: pid_t
    private let exit: Mutex<ExitState>

    private struct ExitState {
        var status: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }

    /// Spawns `arguments` (found on PATH) with `environment` as its whole environment.
    /// - Throws: ``ChildCommandError`` when it cannot be started.
    init(_ arguments: [String], environment: [String: String]) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (pgid = its pid), and the default signal mask and handlers.
        posix_spawnattr_setpgroup(&attributes, 0)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, arguments[0], nil, &attributes, argv, envp)
        guard result == 0 else { throw ChildCommandError(message: "cannot start \(arguments[0]): \(String(cString: strerror(result)))") }
        self.pid = pid
        exit = Mutex(ExitState())
        let child = pid
        Thread.detachNewThread { [self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            // The shell's convention: the exit code, or 128 + the signal that ended it.
            let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            let waiters = self.exit.withLock { state in
                state.status = code
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: code) }
        }
    }

    /// The exit status once it has exited, else nil.
    var status: Int32? { exit.withLock { $0.status } }

    /// Waits for the exit (cancellation does not end the wait: a child is always reaped).
    func exitStatus() async -> Int32 {
        await withCheckedContinuation { continuation in
            let status: Int32? = exit.withLock { state in
                if let status = state.status { return status }
                state.waiters.append(continuation)
                return nil
            }
            if let status { continuation.resume(returning: status) }
        }
    }

    /// Sends `signal` to the child's whole process group (nothing once it has exited).
    func signal(_ signal: Int32) {
        guard status == nil else { return }
        kill(-pid, signal)
    }
}

struct ChildCommandError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
