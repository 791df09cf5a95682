import Foundation
import LessorCore
import Metrics

/// Runs a work call and maps its refusals to the Qoder errors; Redis trouble passes through
/// (``APIErrorMiddleware`` turns it into a 503 without Redis's text).
func mapped<T>(_ body: () async throws(WorkError) -> T) async throws -> T {
    do throws(WorkError) {
        return try await body()
    } catch {
        switch error {
        case .redis(let redisError): throw redisError
        case .refused(.environmentNotFound): throw APIError.notFound("environment not found")
        case .refused(.environmentNotSelfHosted(let kind)):
            throw APIError.invalidRequest("the work API needs a self_hosted environment; this one is \(kind)")
        case .refused(.workNotFound): throw APIError.notFound("work item not found")
        case .refused(.conflict(let reason)):
            Counter(label: "lessor_work_refusals_total", dimensions: [("status", "409")]).increment()
            throw APIError.conflict("the work item cannot do that now (\(reason.replacingOccurrences(of: "_", with: " ")))")
        case .refused(.preconditionFailed(let reason)):
            Counter(label: "lessor_work_refusals_total", dimensions: [("status", "412")]).increment()
            throw APIError.preconditionFailed("precondition failed: \(reason.replacingOccurrences(of: "_", with: " "))")
        }
    }
}
