import Foundation
import HTTPTypes
@testable import LessorCore
import LessorRedis
import LessorTestSupport
import RedisServerHarness
import Testing

/// The scanner-friendly form of issued secrets (`lsr_pat_…`, `lsr_wrk_…`), and that secrets of
/// the older forms keep working.
@Suite("Token secrets", .timeLimit(.minutes(2)))
struct TokenSecretTests {

    @Test func crc32IsTheIEEEOne() {
        #expect(TokenSecret.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(TokenSecret.crc32([UInt8]()) == 0)
    }

    @Test(arguments: TokenSecret.Kind.allCases) func generatedSecretsHaveTheFormAndAValidChecksum(_ kind: TokenSecret.Kind) {
        let secrets = (0..<200).map { _ in TokenSecret.generate(kind) }
        #expect(Set(secrets).count == secrets.count)
        for secret in secrets {
            #expect(secret.wholeMatch(of: #/lsr_(pat|wrk)_[0-9A-Za-z]{38}/#) != nil, "\(secret)")
            #expect(secret.hasPrefix(kind.prefix))
            #expect(!TokenSecret.isMalformed(secret))
        }
    }

    @Test func anyDamageIsCaughtWithoutRedis() {
        let secret = Array(TokenSecret.generate(.personalAccess).utf8)
        // Every single-character substitution in the random part or the checksum.
        for index in TokenSecret.Kind.personalAccess.prefix.utf8.count..<secret.count {
            var damaged = secret
            damaged[index] = damaged[index] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
            #expect(TokenSecret.isMalformed(String(decoding: damaged, as: UTF8.self)))
        }
        let text = String(decoding: secret, as: UTF8.self)
        #expect(TokenSecret.isMalformed(String(text.dropLast())))
        #expect(TokenSecret.isMalformed(text + "0"))
        #expect(TokenSecret.isMalformed("lsr_wrk_" + String(repeating: "-", count: 38)))
        // Older forms, and anything else, are for Redis to judge.
        #expect(!TokenSecret.isMalformed("lsr_" + String(repeating: "ab", count: 32)))
        #expect(!TokenSecret.isMalformed("wat_" + String(repeating: "0f", count: 32)))
        #expect(!TokenSecret.isMalformed("nope"))
    }

    @Test func issuedTokensHaveTheFormAndOldOnesStillWork() async throws {
        try await withRoutesOnOneServer { client, server in
            let env = try await createEnvironment(client)
            let pat = try #require(try await client.call(.post, "/api/v1/tokens", body: #"{"environment_ids":["\#(env)"]}"#)["token"] as? String)
            #expect(pat.wholeMatch(of: #/lsr_(pat|wrk)_[0-9A-Za-z]{38}/#) != nil && pat.hasPrefix("lsr_pat_"))
            #expect(try await client.call(.get, "/api/v1/cloud/environments/\(env)", token: pat).status == .ok)
            let damaged = String(pat.dropLast()) + (pat.last == "A" ? "B" : "A")
            let refused = try await client.call(.get, "/api/v1/cloud/environments/\(env)", token: damaged)
            #expect(refused.status == .unauthorized)
            #expect(refused.error["type"] as? String == "authentication_error")

            let worker = try await client.call(.post, "/v1/workers", body: #"{"name":"laptop"}"#)
            let activity = try #require((worker["tokens"] as? [String: Any])?["activity"] as? String)
            #expect(activity.wholeMatch(of: #/lsr_(pat|wrk)_[0-9A-Za-z]{38}/#) != nil && activity.hasPrefix("lsr_wrk_"))

            // A token issued before the form (lsr_ + 64 hex digits) is found by its digest as before.
            let redis = try RedisClient(configuration: server.clientConfiguration)
            defer { redis.shutDown() }
            let functions = LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor"))
            let old = "lsr_" + String(repeating: "5e", count: 32)
            _ = try await functions.call(TokenCreate(
                id: "tok_0000000000000000000000000000beef", digest: AccessTokens.digest(of: old), name: "old",
                environmentIDs: [env], lifetime: nil))
            #expect(try await client.call(.get, "/api/v1/cloud/environments/\(env)", token: old).status == .ok)
        }
    }
}
