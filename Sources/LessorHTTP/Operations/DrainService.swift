import Logging
import ServiceLifecycle
import Synchronization

/// Whether this node is draining: once set, `/readyz` answers 503 so load balancers stop
/// sending new requests while in-flight ones (long polls included) finish.
public final class DrainState: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    /// True once graceful shutdown began.
    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    func begin() { draining.store(true, ordering: .relaxed) }
}

/// The first service to hear SIGTERM (it is listed last): it turns readiness to 503, then
/// waits `delay` so load balancers notice before the server stops accepting connections.
public struct DrainService: Service {
    let state: DrainState
    let delay: Duration
    let logger: Logger

    /// Creates the service.
    /// - Parameters:
    ///   - state: The flag `/readyz` reads.
    ///   - delay: How long readiness stays 503 before the server stops accepting.
    ///   - logger: Where the start of draining is logged.
    public init(state: DrainState, delay: Duration, logger: Logger = Logger(label: "lessor.drain")) {
        self.state = state
        self.delay = delay
        self.logger = logger
    }

    public func run() async throws {
        try? await gracefulShutdown()
        state.begin()
        logger.info("draining: /readyz answers 503", metadata: ["drain.delay": "\(delay)"])
        // Not cancellable by design: the delay is the point. Cancellation (a second signal) ends it.
        try? await Task.sleep(for: delay)
    }
}
