import Hummingbird

/// The responder of a front node: Hummingbird's router, with the heartbeat route — the one
/// fleets call most — matched by hand before it.
///
/// Why: the benchmark's profile put Hummingbird's trie walk over the seven-segment heartbeat
/// path at 6.6 % of a heartbeat's CPU (sibling scans and backtracking under
/// `/work/{work_id}`). The heartbeat's responder is built by the router's own middleware
/// group, so it passes through exactly the middleware every route does, with the same
/// parameters and the same metrics label; any path not in the plain form
/// `/api/v1/cloud/environments/<id>/work/<id>/heartbeat` (empty segments, a trailing slash,
/// another method) falls through to the router, which answers it as it always did.
public struct LessorRouter: HTTPResponderBuilder {
    /// The router of every route, the heartbeat included.
    public let router: Router<LessorRequestContext>
    private let heartbeat: any HTTPResponder<LessorRequestContext>

    /// Creates the responder builder.
    /// - Parameters:
    ///   - router: Every route; its middleware must be added before its routes.
    ///   - heartbeat: The heartbeat handler the router's route also uses.
    init(
        router: Router<LessorRequestContext>,
        heartbeat: @escaping @Sendable (Request, LessorRequestContext) async throws -> HeartbeatResponse
    ) {
        self.router = router
        // The router's middleware, then the work family's, as the route in WorkController.endpoints has.
        let family = FamilyErrorMiddleware<WorkAPIError>()
        self.heartbeat = router.middlewares.constructResponder(
            finalResponder: CallbackResponder { request, context in
                try await family.handle(request, context: context) { request, context in
                    try await heartbeat(request, context).response(from: request, context: context)
                }
            })
    }

    /// Builds the responder.
    public func buildResponder() -> Responder {
        Responder(router: router.buildResponder(), heartbeat: heartbeat)
    }

    /// Answers one request.
    public struct Responder: HTTPResponder {
        let router: RouterResponder<LessorRequestContext>
        let heartbeat: any HTTPResponder<LessorRequestContext>

        /// The route label the router records for the heartbeat (metrics, access logs).
        static let heartbeatEndpoint = "/api/v1/cloud/environments/{environment_id}/work/{work_id}/heartbeat"

        /// Answers the heartbeat directly, everything else through the router.
        /// - Throws: What the route throws and no middleware turned into a response.
        public func respond(to request: Request, context: LessorRequestContext) async throws -> Response {
            guard request.method == .post, let (environment, work) = Self.heartbeatPath(request.uri.path) else {
                return try await router.respond(to: request, context: context)
            }
            var context = context
            context.coreContext.parameters["environment_id"] = environment
            context.coreContext.parameters["work_id"] = work
            context.coreContext.endpointPath.value = Self.heartbeatEndpoint
            do {
                return try await heartbeat.respond(to: request, context: context)
            } catch let error as any HTTPResponseError {
                // As RouterResponder does for errors no middleware answered.
                return try error.response(from: request, context: context)
            }
        }

        /// The environment and work ids of a heartbeat path in its plain form, else nil.
        static func heartbeatPath(_ path: String) -> (environment: Substring, work: Substring)? {
            let prefix = "/api/v1/cloud/environments/", middle = "/work/", suffix = "/heartbeat"
            guard path.utf8.starts(with: prefix.utf8), path.utf8.count > prefix.utf8.count + middle.utf8.count + suffix.utf8.count else { return nil }
            let rest = path.utf8.dropFirst(prefix.utf8.count)
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")), slash > rest.startIndex,
                  rest[slash...].starts(with: middle.utf8)
            else { return nil }
            let tail = rest[slash...].dropFirst(middle.utf8.count)
            guard let end = tail.firstIndex(of: UInt8(ascii: "/")), end > tail.startIndex,
                  tail[end...].elementsEqual(suffix.utf8)
            else { return nil }
            return (Substring(path.utf8[rest.startIndex..<slash]), Substring(path.utf8[tail.startIndex..<end]))
        }
    }
}
