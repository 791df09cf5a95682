@testable import LessorHTTP
import Testing

/// `Authorization: Bearer` parsing, byte-wise since it runs on every request.
@Suite("Bearer header parsing")
struct BearerSecretTests {
    @Test(arguments: [
        ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER abc", "abc"), ("bEaReR x", "x"),
        ("Bearer lsr_ünï", "lsr_ünï"),
    ])
    func schemesAnyCaseGiveTheSecret(_ header: String, _ secret: String) {
        #expect(TokenAuthenticator.bearerSecret(header) == secret)
    }

    @Test(arguments: ["", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "Bearer  abc", "Bearerx abc", "Bearer\tabc", "bearer@abc", "token abcdefgh"])
    func malformedHeadersGiveNothing(_ header: String) {
        #expect(TokenAuthenticator.bearerSecret(header) == nil)
    }
}
