/// Finds the server for a command, and decides what to do when a server refuses it.
/// One implementation per ``RedisTopology``.
protocol RedisRouter: Sendable {
    /// The pool a command goes to first.
    /// - Parameter command: The command; its keys route it on a cluster.
    /// - Throws: `connectionUnavailable` when no server can be found.
    func pool(for command: RedisCommand) async throws(RedisError) -> RedisNodePool

    /// What to do after a server refused a command or could not be reached.
    /// - Parameters:
    ///   - error: What the attempt threw.
    ///   - pool: Where the attempt went.
    ///   - attempt: 1 for the first attempt.
    /// - Returns: Where to retry, or ``RetryDecision/dontRetry``.
    func decision(after error: RedisError, from pool: RedisNodePool, attempt: Int) async -> RetryDecision

    /// Every primary, for what must reach all of them (`SCAN`, loading scripts).
    /// - Throws: `connectionUnavailable` when they cannot be found.
    func primaries() async throws(RedisError) -> [RedisNodePool]

    /// Opens connections ahead of the first command.
    func warmUp() async

    /// Follows the topology's own announcements (Sentinel's failovers) until cancelled;
    /// returns at once where there are none.
    func watch() async

    /// Closes every connection.
    func shutDown()
}

extension RedisRouter {
    func watch() async {}
}

/// The answer to "a server refused this; now what?". Only outcomes where the command
/// certainly did not run (a redirection, `TRYAGAIN`, no connection) are ever retried.
enum RetryDecision {
    /// Send it again to `pool`, after `delay`; with `asking`, prefixed by `ASKING`.
    case retry(RedisNodePool, asking: Bool, after: Duration)
    /// Route it afresh (the slot map or the primary may have changed) after `delay`.
    case reroute(after: Duration)
    /// Give the error to the caller.
    case dontRetry
}

/// The one-server topology: nothing to decide.
struct StandaloneRouter: RedisRouter {
    let node: RedisNodePool

    func pool(for command: RedisCommand) async throws(RedisError) -> RedisNodePool { node }
    func decision(after error: RedisError, from pool: RedisNodePool, attempt: Int) async -> RetryDecision { .dontRetry }
    func primaries() async throws(RedisError) -> [RedisNodePool] { [node] }
    func warmUp() async { node.warmUp() }
    func shutDown() { node.shutDown() }
}
