import Hummingbird

/// `GET /openapi.yaml`: `docs/openapi.yaml`, embedded at build time (unauthenticated).
public struct OpenAPIController<Context: RequestContext>: Sendable {
    /// The document, byte for byte as in `docs/openapi.yaml`.
    public static var document: String { embeddedDocuments["openapi"] ?? "" }

    public init() {}

    /// The route.
    public var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: Self.document)))
        }
        return routes
    }
}
