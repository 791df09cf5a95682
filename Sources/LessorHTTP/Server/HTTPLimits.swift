/// What one front node allows a client connection, so that slow or hostile clients cannot
/// hold it: how long a request may take to arrive, how large its head may be, how long an
/// idle keep-alive connection stays open, and how many connections it holds at once.
public struct HTTPLimits: Sendable, Equatable {
    /// From a request's first byte, its whole head and body must arrive within this
    /// (`LESSOR_HTTP_READ_TIMEOUT_MS`); else 408 and the connection closes.
    public var readTimeout: Duration
    /// An idle keep-alive connection (no request under way) closes after this
    /// (`LESSOR_HTTP_IDLE_TIMEOUT_MS`).
    public var idleTimeout: Duration
    /// The largest request head: header names and values together, and the request line
    /// (`LESSOR_HTTP_MAX_HEADER_BYTES`); larger: 431 and the connection closes.
    public var maxHeaderBytes: Int
    /// Connections held at once (`LESSOR_HTTP_MAX_CONNECTIONS`); the first request of one more
    /// is answered 503 with `Retry-After: 1`, and that connection closes.
    public var maxConnections: Int

    /// - Parameters:
    ///   - readTimeout: See ``readTimeout`` (default 10 s).
    ///   - idleTimeout: See ``idleTimeout`` (default 75 s).
    ///   - maxHeaderBytes: See ``maxHeaderBytes`` (default 32 KiB).
    ///   - maxConnections: See ``maxConnections`` (default 10,000).
    public init(
        readTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(75), maxHeaderBytes: Int = 32 * 1024,
        maxConnections: Int = 10_000
    ) {
        self.readTimeout = readTimeout
        self.idleTimeout = idleTimeout
        self.maxHeaderBytes = maxHeaderBytes
        self.maxConnections = maxConnections
    }
}
