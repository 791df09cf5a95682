import Hummingbird

/// The responder of a front node: Hummingbird's router, with the heartbeat routes — the ones
/// fleets call most — matched by hand before it.
///
/// Why: the benchmark's profile put Hummingbird's trie walk over the seven-segment heartbeat
/// path at 6.6 % of a heartbeat's CPU (sibling scans and backtracking under
/// `/work/{work_id}`). Each heartbeat's responder is built by the router's own middleware
/// group, so it passes through exactly the middleware every route does, with the same
/// parameters and the same metrics label; any path not in the plain form
/// `/<family's environments path>/<id>/work/<id>/heartbeat` (empty segments, a trailing
/// slash, another method) falls through to the router, which answers it as it always did.
public struct LessorRouter: HTTPResponderBuilder {
    /// One family's heartbeat handler (the one its route in the router uses too).
    struct Heartbeat {
        let family: WorkFamily
        let handler: @Sendable (Request, LessorRequestContext) async throws -> EditedResponse<HeartbeatResponse>
    }

    /// The router of every route, the heartbeats included.
    public let router: Router<LessorRequestContext>
    private let heartbeats: [Responder.FastPath]

    /// Creates the responder builder.
    /// - Parameters:
    ///   - router: Every route; its middleware must be added before its routes.
    ///   - heartbeats: Each family's heartbeat handler.
    init(router: Router<LessorRequestContext>, heartbeats: [Heartbeat]) {
        self.router = router
        // The router's middleware, then the work family's, as the routes in WorkController.endpoints have.
        self.heartbeats = heartbeats.map { heartbeat in
            let family = heartbeat.family.errorMiddleware
            let handler = heartbeat.handler
            return Responder.FastPath(
                prefix: "/\(heartbeat.family.environmentsPath)/", endpoint: heartbeat.family.heartbeatEndpoint,
                responder: router.middlewares.constructResponder(
                    finalResponder: CallbackResponder { request, context in
                        try await family.handle(request, context: context) { request, context in
                            try await handler(request, context).response(from: request, context: context)
                        }
                    }))
        }
    }

    /// Builds the responder.
    public func buildResponder() -> Responder {
        Responder(router: router.buildResponder(), heartbeats: heartbeats)
    }

    /// Answers one request.
    public struct Responder: HTTPResponder {
        /// A heartbeat route matched by hand.
        struct FastPath: Sendable {
            /// The path's start, `/<environments path>/`.
            let prefix: String
            /// The route label the router records for it (metrics, access logs).
            let endpoint: String
            let responder: any HTTPResponder<LessorRequestContext>
        }

        let router: RouterResponder<LessorRequestContext>
        let heartbeats: [FastPath]

        /// Answers a heartbeat directly, everything else through the router.
        /// - Throws: What the route throws and no middleware turned into a response.
        public func respond(to request: Request, context: LessorRequestContext) async throws -> Response {
            guard request.method == .post else { return try await router.respond(to: request, context: context) }
            let path = request.uri.path
            for heartbeat in heartbeats {
                guard let (environment, work) = Self.heartbeatPath(path, prefix: heartbeat.prefix) else { continue }
                var context = context
                context.coreContext.parameters["environment_id"] = environment
                context.coreContext.parameters["work_id"] = work
                context.coreContext.endpointPath.value = heartbeat.endpoint
                do {
                    return try await heartbeat.responder.respond(to: request, context: context)
                } catch let error as any HTTPResponseError {
                    // As RouterResponder does for errors no middleware answered.
                    return try error.response(from: request, context: context)
                }
            }
            return try await router.respond(to: request, context: context)
        }

        /// The environment and work ids of a heartbeat path in its plain form
        /// `<prefix><id>/work/<id>/heartbeat`, else nil.
        static func heartbeatPath(_ path: String, prefix: String) -> (environment: Substring, work: Substring)? {
            let middle = "/work/", suffix = "/heartbeat"
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
