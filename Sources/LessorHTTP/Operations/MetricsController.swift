import Hummingbird
import Prometheus

/// `GET /metrics`: every metric in Prometheus text format (unauthenticated, like `/healthz`).
public struct MetricsController<Context: RequestContext>: Sendable {
    let registry: PrometheusCollectorRegistry

    /// Creates the controller.
    /// - Parameter registry: The registry `MetricsSystem` was bootstrapped with.
    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The route.
    public var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("metrics") { _, _ in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 * 1024)
            registry.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return routes
    }
}
