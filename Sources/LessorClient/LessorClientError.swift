import Foundation

/// The one error of ``LessorClient``: an answer Lessor gave (its HTTP status, the family's
/// error type, the message and the request id), or no answer at all (`status` nil: the
/// connection failed or timed out, and the request may have run).
public struct LessorClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status, or nil when no answer arrived.
    public var status: Int?
    /// The family's error type: the work API's `error.type` (`precondition_failed_error`, ...),
    /// Den's `error` (`worker_not_found`, ...), or `transport` when no answer arrived.
    public var type: String
    /// What went wrong, as Lessor (or the transport) said it.
    public var message: String
    /// The `request-id` of the answer, when there was one.
    public var requestID: String?

    public init(status: Int?, type: String, message: String, requestID: String? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.requestID = requestID
    }

    /// True when sending the same request again may succeed: no answer, or a 5xx. Retry a write
    /// only with the idempotency key it was first sent with.
    public var isTransient: Bool { status.map { $0 >= 500 } ?? true }

    public var description: String {
        "\(status.map(String.init) ?? "no answer") \(type): \(message)\(requestID.map { " (request \($0))" } ?? "")"
    }

    /// An answer's error, read from the work API's envelope or Den's format.
    static func answer(status: Int, body: Data, requestID: String?) -> LessorClientError {
        let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        if let error = json?["error"] as? [String: Any] {
            return LessorClientError(
                status: status, type: error["type"] as? String ?? "api_error", message: error["message"] as? String ?? "",
                requestID: requestID ?? json?["request_id"] as? String)
        }
        if let code = json?["error"] as? String {
            let details = (json?["details"] as? [[String: Any]])?.compactMap { $0["message"] as? String }.joined(separator: "; ")
            return LessorClientError(status: status, type: code, message: details ?? code, requestID: requestID)
        }
        return LessorClientError(status: status, type: "api_error", message: String(decoding: body.prefix(200), as: UTF8.self), requestID: requestID)
    }
}
