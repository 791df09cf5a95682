import Hummingbird
import Logging
import Metrics
import Synchronization

/// One access log line and the request metrics per request: `lessor_http_requests_total`
/// by route template, method and status (`status="412"`), and
/// `lessor_http_request_duration_seconds` by route and method.
///
/// It runs inside ``RequestIDMiddleware`` and outside the families' error middleware, so the
/// status it records is the one the client gets, error bodies included.
public struct AccessMiddleware: RouterMiddleware {
    public typealias Context = LessorRequestContext

    private let logger = Logger(label: "lessor.access")
    private let metrics = RequestMetrics()

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let status: Int
        let response: Response
        do {
            response = try await next(request, context)
            status = Int(response.status.code)
        } catch let error as any FamilyError {
            record(request, context, status: Int(error.status.code), since: started)
            throw error
        } catch {
            // Only what no route answered (an unmatched path) gets here: the default envelope.
            let unanswered = WorkAPIError(error, logger: context.logger)
            record(request, context, status: Int(unanswered.status.code), since: started)
            throw unanswered
        }
        record(request, context, status: status, since: started)
        return response
    }

    private func record(_ request: Request, _ context: Context, status: Int, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        let (requests, duration) = metrics.series(route: route, method: method, status: status)
        requests.increment()
        duration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        logger.info("request", metadata: [
            "request_id": "\(context.requestID)", "method": "\(method)", "route": "\(route)", "status": "\(status)",
            "duration_ms": "\(Double(elapsed.components.attoseconds / 1_000_000_000) / 1e6 + Double(elapsed.components.seconds) * 1000)",
        ])
    }
}

/// The request counter and timer of each route, method and status, made once: asking the
/// metrics factory for them on every request (a registry lookup and several allocations)
/// was a visible share of a heartbeat's CPU in bench/run.sh's profile.
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    private let series = Mutex<[Key: (Counter, Timer)]>([:])

    /// `lessor_http_requests_total{route,method,status}` and `lessor_http_request_duration_seconds{route,method}`.
    func series(route: String, method: String, status: Int) -> (Counter, Timer) {
        let key = Key(route: route, method: method, status: status)
        if let known = series.withLock({ $0[key] }) { return known }
        let made = (
            Counter(label: "lessor_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))]),
            Timer(label: "lessor_http_request_duration_seconds", dimensions: [("route", route), ("method", method)])
        )
        return series.withLock { series in
            if let known = series[key] { return known }
            series[key] = made
            return made
        }
    }
}
