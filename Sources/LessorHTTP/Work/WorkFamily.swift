import HTTPTypes
import LessorCore

/// The two families of the self-hosted work API — Qoder's (`/api/v1/cloud/environments/...`,
/// the `qca-sdk` client) and Anthropic's (`/v1/environments/...`, the `anthropic` SDK): the
/// same operations on the same Lua functions, under two prefixes, with the few differences
/// their documents state. Everything a route does differently per family is read from here.
///
/// Both families share one error envelope (``WorkAPIError``): Anthropic's is Qoder's with
/// `error.details`, which breaks no Qoder client.
struct WorkFamily: Sendable {
    /// The environments collection, without a leading slash.
    let environmentsPath: String
    /// The header naming the calling worker (delivery and ack identity, fencing, `workers_polling`).
    let workerHeader: HTTPField.Name
    /// What a heartbeat on a `stopping` or `stopped` item does.
    let stopHandling: WorkHeartbeat.StopHandling
    /// `workers_polling` counts the workers that polled within this window.
    let pollingWindow: Duration
    /// Lists answer `{data, first_id, last_id, has_more, next_page}` (Qoder) or `{data, next_page}` (Anthropic).
    let listsHaveBounds: Bool
    /// Work items carry `"secret": null` (Lessor issues no per-item credential).
    let itemsHaveSecret: Bool
    /// The envelope's `error.type` of a 503: `unavailable_error` (Qoder), `api_error` (Anthropic).
    let unavailableErrorType: String

    static let qoder = WorkFamily(
        environmentsPath: "api/v1/cloud/environments", workerHeader: HTTPField.Name("Worker-ID")!, stopHandling: .refuse,
        pollingWindow: .seconds(60), listsHaveBounds: true, itemsHaveSecret: false, unavailableErrorType: "unavailable_error")

    static let anthropic = WorkFamily(
        environmentsPath: "v1/environments", workerHeader: HTTPField.Name("Anthropic-Worker-ID")!, stopHandling: .report,
        pollingWindow: .seconds(30), listsHaveBounds: false, itemsHaveSecret: true, unavailableErrorType: "api_error")

    /// The family's error middleware: the shared envelope, with the family's 503 type.
    var errorMiddleware: FamilyErrorMiddleware<WorkAPIError> {
        let type = unavailableErrorType
        return FamilyErrorMiddleware { error in
            if error.status == .serviceUnavailable { error.type = type }
        }
    }

    /// The route template of the heartbeat, as metrics and access logs label it.
    var heartbeatEndpoint: String { "/\(environmentsPath)/{environment_id}/work/{work_id}/heartbeat" }

    /// The calling worker's id, if sent: 1–128 printable ASCII characters without spaces.
    /// - Throws: ``RequestError`` 400 naming the header.
    func workerID(_ fields: HTTPFields) throws(RequestError) -> String? {
        guard let value = fields[workerHeader] else { return nil }
        guard (1...128).contains(value.utf8.count), value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .invalid("\(workerHeader.rawName) must be 1 to 128 printable ASCII characters without spaces", param: workerHeader.rawName)
        }
        return value
    }
}
