import Hummingbird

/// Query parameter values every family reads the same way.
enum QueryValues {
    /// A list's `limit`: a positive integer, 20 when absent, capped at 100.
    /// - Throws: ``RequestError`` 400 naming `limit`.
    static func pageLimit(_ request: Request) throws(RequestError) -> Int {
        guard let text = request.uri.queryParameters["limit"] else { return 20 }
        guard let value = digits(text), value >= 1 else { throw .invalid("limit must be a positive integer", param: "limit") }
        return min(value, 100)
    }

    /// A non-negative decimal integer (digits only), saturating far above any limit.
    static func digits(_ text: some StringProtocol) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Int(text) ?? Int(Int32.max)
    }
}
