import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LessorCore
@testable import LessorHTTP
import LessorRedis
import LessorTestSupport
import RedisServerHarness
import Testing

/// `GET /ui` over HTTP: who gets the page, what it holds, and that every answer is HTML with
/// the page's security headers. (StatusPageBrowserTests loads it in Chromium.)
@Suite("The status page", .timeLimit(.minutes(2)))
struct StatusPageTests {
    static let cookieName = HTTPField.Name("Cookie")!

    /// The `name=value` of a reply's `Set-Cookie`, and its attributes.
    static func setCookie(_ reply: APIReply) throws -> (pair: String, attributes: [String]) {
        let header = try #require(reply.headers[.setCookie])
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        return (parts[0], Array(parts.dropFirst()))
    }

    @Test func aBrowserIsSentToTheFormSignsInWithTheAdminTokenAndGetsThePage() async throws {
        try await withRoutes(.standalone) { client, _ in
            let env = try await createEnvironment(client)
            let first = try await client.call(.get, "/ui", token: nil)
            #expect(first.status == .seeOther && first.headers[.location] == "/ui/login")

            let form = try await client.call(.get, "/ui/login", token: nil)
            #expect(form.status == .ok && form.headers[.contentType] == "text/html; charset=utf-8")
            #expect(form.raw.contains(#"<form method="post" action="/ui/login">"#) && form.raw.contains(#"name="token" type="password""#))

            let wrong = try await client.call(.post, "/ui/login", token: nil, body: "token=not-the-token")
            #expect(wrong.status == .unauthorized && wrong.raw.contains("That is not the admin token.") && wrong.headers[.setCookie] == nil)
            let pat = try #require(try await client.call(.post, "/api/v1/tokens", body: "{}")["token"] as? String)
            let withPAT = try await client.call(.post, "/ui/login", token: nil, body: "token=\(pat)")
            #expect(withPAT.status == .unauthorized && withPAT.headers[.setCookie] == nil, "a work-API token is not the admin token")
            let malformed = try await client.call(.post, "/ui/login", token: nil, body: "password=x")
            #expect(malformed.status == .badRequest && malformed.raw.contains("token field"))

            // The form sends the token URL-encoded; a session cookie comes back, never the token.
            let signedIn = try await client.call(
                .post, "/ui/login", token: nil, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: "token=" + testAdminToken.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            #expect(signedIn.status == .seeOther && signedIn.headers[.location] == "/ui")
            let cookie = try Self.setCookie(signedIn)
            #expect(cookie.pair.hasPrefix("lessor_ui=") && !cookie.pair.contains(testAdminToken))
            #expect(Set(cookie.attributes) == ["Max-Age=43200", "Path=/ui", "HttpOnly", "SameSite=Lax"], "\(cookie.attributes)")

            let page = try await client.call(.get, "/ui", token: nil, headers: [Self.cookieName: cookie.pair])
            #expect(page.status == .ok && page.raw.contains(#"data-environment-id="\#(env)""#), "\(page.raw.prefix(300))")
            #expect(page.raw.contains(#"<meta http-equiv="refresh" content="5">"#))

            // A cookie altered by a byte, or from another admin token, signs nobody in and is cleared.
            var altered = cookie.pair
            altered.replaceSubrange(altered.index(before: altered.endIndex)..., with: altered.hasSuffix("0") ? "1" : "0")
            let forged = try await client.call(.get, "/ui", token: nil, headers: [Self.cookieName: altered])
            #expect(forged.status == .seeOther && forged.headers[.location] == "/ui/login")
            #expect(try Self.setCookie(forged).attributes.contains("Max-Age=0"))

            let signedOut = try await client.call(.post, "/ui/logout", token: nil, headers: [Self.cookieName: cookie.pair])
            #expect(signedOut.status == .seeOther && signedOut.headers[.location] == "/ui/login")
            let cleared = try Self.setCookie(signedOut)
            #expect(cleared.pair == "lessor_ui=" && Set(cleared.attributes) == ["Max-Age=0", "Path=/ui", "HttpOnly", "SameSite=Lax"], "\(cleared)")
        }
    }

    @Test func theSessionCookieIsSecureBehindAnHTTPSLoadBalancer() async throws {
        try await withRoutes(.standalone) { client, _ in
            let reply = try await client.call(
                .post, "/ui/login", token: nil, headers: [HTTPField.Name("X-Forwarded-Proto")!: "https"], body: "token=\(testAdminToken)")
            #expect(try Self.setCookie(reply).attributes.contains("Secure"))
        }
    }

    @Test func scriptsMaySendTheAdminTokenAsABearerAndOtherTokensAreRefusedInHTML() async throws {
        try await withRoutes(.standalone) { client, _ in
            let page = try await client.call(.get, "/ui")
            #expect(page.status == .ok)
            let unknown = try await client.call(.get, "/ui", token: "lsr_pat_not-a-token")
            #expect(unknown.status == .unauthorized && unknown.headers[.contentType] == "text/html; charset=utf-8" && unknown.raw.contains("<h2>Not signed in</h2>"))
            let pat = try #require(try await client.call(.post, "/api/v1/tokens", body: "{}")["token"] as? String)
            let forbidden = try await client.call(.get, "/ui", token: pat)
            #expect(forbidden.status == .forbidden && forbidden.raw.contains("needs the admin token"))
            for reply in [page, unknown, forbidden] {
                #expect(reply.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none'; style-src 'unsafe-inline'") == true)
                #expect(reply.headers[.cacheControl] == "no-store" && reply.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                #expect(!reply.raw.contains("<script"))
            }
            let missing = try await client.call(.get, "/ui?env=env_00000000000000000000000000000000")
            #expect(missing.status == .notFound && missing.raw.contains("<h2>Environment not found</h2>"))
            let malformed = try await client.call(.get, "/ui?env=%3Cb%3E")
            #expect(malformed.status == .notFound && malformed.raw.contains("&lt;b&gt;") && !malformed.raw.contains("<b>"))
        }
    }

    @Test func thePageShowsLeasesLapsesDeadLettersAndWorkersWithEveryValueEscaped() async throws {
        try await withRoutes(.standalone) { client, redis in
            let created = try await client.call(
                .post, "/api/v1/cloud/environments", body: #"{"name":"<script>alert(1)</script>","config":{"type":"self_hosted"},"max_lapses":2}"#)
            let env = try #require(created["id"] as? String)
            let base = "/api/v1/cloud/environments/\(env)/work"
            var ids: [String] = []
            for _ in 0..<4 { ids.append(try #require(try await client.call(.post, base, body: "{}")["id"] as? String)) }
            for (id, holder) in zip(ids, ["w<1>", "w2", "w3", "w4"]) {
                #expect(try await client.call(.get, "\(base)/poll", worker: holder)["id"] as? String == id)
                #expect(try await client.call(.post, "\(base)/\(id)/ack", worker: holder).status == .ok)
            }
            #expect(try await client.call(.post, "\(base)/\(ids[1])/heartbeat?desired_ttl_seconds=120&expected_last_heartbeat=NO_HEARTBEAT", worker: "w2").status == .ok)
            // ids[3] lapses twice: a dead letter (max_lapses 2). ids[2] lapses once and waits in the queue.
            let functions = LessorFunctions(redis: try RedisClient(configuration: redis.clientConfiguration), keys: KeySpace(namespace: "lessor"))
            defer { functions.redis.shutDown() }
            _ = try await functions.call(WorkExpireLease(environmentID: env, workID: ids[3]))
            #expect(try await client.call(.get, "\(base)/poll", worker: "w5")["id"] as? String == ids[3])
            #expect(try await client.call(.post, "\(base)/\(ids[3])/ack", worker: "w5")["fencing_token"] as? Int == 2)
            _ = try await functions.call(WorkExpireLease(environmentID: env, workID: ids[3]))
            _ = try await functions.call(WorkExpireLease(environmentID: env, workID: ids[2]))
            // A Den worker online, another registered and silent.
            let worker = try await client.call(.post, "/v1/workers", body: #"{"name":"den <box>"}"#)
            let workerID = try #require(worker["id"] as? String)
            let activity = try #require((worker["tokens"] as? [String: Any])?["activity"] as? String)
            let beat = try await client.call(
                .post, "/v1/workers/\(workerID)/activity-heartbeat", token: activity, body: #"{"isActiveRecently":true,"openSessionCount":3}"#)
            #expect(beat.status == .ok)
            let silent = try #require(try await client.call(.post, "/v1/workers", body: #"{"name":"silent"}"#)["id"] as? String)

            for uri in ["/ui", "/ui?env=\(env)"] {
                let page = try await client.call(.get, uri)
                #expect(page.status == .ok)
                let html = page.raw
                #expect(!html.contains("<script") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
                // Counts: nothing queued for a default poll but ids[2]; two leased; one stopped.
                #expect(html.contains(#"<td class="number depth">1</td><td class="number pending">0</td><td class="number leased">2</td><td class="number stopped">1</td>"#), "\(html)")
                // The leases: holder (escaped, in attributes too), fencing token, time left of the lease granted.
                #expect(html.contains(#"data-work-id="\#(ids[0])" data-holder="w&lt;1&gt;" data-fencing-token="1""#))
                #expect(html.contains(#"<td class="holder">w&lt;1&gt;</td>"#))
                let remaining = try #require(Self.attribute("data-remaining-ms", of: ids[1], in: html))
                let granted = try #require(Self.attribute("data-ttl-ms", of: ids[1], in: html))
                #expect(remaining > 100_000 && remaining <= 120_000 && granted == 120_000, "\(remaining) of \(granted)")
                #expect(html.contains("animation-duration: "))
                #expect(!html.contains(#"<tr class="lease" data-work-id="\#(ids[2])""#), "a lapsed lease is not listed as leased")
                // The lapse log: who lost which lease, and what became of the item — ids[3]'s
                // first lapse too, though the item was leased again since.
                #expect(html.contains(#"<tr class="lapse" data-work-id="\#(ids[2])" data-holder="w3" data-fencing-token="1" data-outcome="requeued">"#))
                #expect(html.contains(#"<tr class="lapse" data-work-id="\#(ids[3])" data-holder="w4" data-fencing-token="1" data-outcome="requeued">"#))
                #expect(html.contains(#"<tr class="lapse dead-letter" data-work-id="\#(ids[3])" data-holder="w5" data-fencing-token="2" data-outcome="dead_lettered">"#))
                #expect(html.contains(#"<tr class="stop dead-letter" data-work-id="\#(ids[3])" data-stop-reason="lease_lapsed_too_often">"#))
                #expect(html.contains(#"<tr class="worker online" data-worker-id="\#(workerID)"><td>den &lt;box&gt;"#))
                #expect(html.contains(#"<tr class="worker" data-worker-id="\#(silent)">"#))
            }
        }
    }

    /// An integer `data-` attribute of the lease row of `workID`.
    static func attribute(_ name: String, of workID: String, in html: String) -> Int? {
        guard let row = html.range(of: #"data-work-id="\#(workID)""#) else { return nil }
        let rest = html[row.upperBound...]
        guard let start = rest.range(of: name + #"=""#) else { return nil }
        return Int(rest[start.upperBound...].prefix { $0.isNumber })
    }

    @Test func withRedisStoppedThePageAnswers503InHTMLAndRetries() async throws {
        try await withRoutesOnOneServer { client, server in
            await server.stop()
            let reply = try await client.call(.get, "/ui")
            #expect(reply.status == .serviceUnavailable && reply.headers[.retryAfter] == "5")
            #expect(reply.raw.contains("<h2>Redis is unavailable</h2>") && reply.raw.contains(#"<meta http-equiv="refresh" content="5">"#))
            #expect(!reply.raw.contains("127.0.0.1") && !reply.raw.contains("connect"), "\(reply.raw)")
        }
    }

    @Test func aNodeWithoutAnAdminTokenSaysSoOnItsForm() async throws {
        try await withRedisServer { server in
            let redis = try RedisClient(configuration: server.clientConfiguration)
            defer { redis.shutDown() }
            let app = Application(router: buildRouter(functions: LessorFunctions(redis: redis, keys: KeySpace(namespace: "lessor")), settings: RouteSettings()))
            try await app.test(.router) { http in
                let client = APIClient(http, token: nil)
                #expect(try await client.call(.get, "/ui/login").raw.contains("This node has no admin token (LESSOR_ADMIN_TOKEN)"))
                let refused = try await client.call(.post, "/ui/login", body: "token=anything")
                #expect(refused.status == .unauthorized && refused.raw.contains("so nobody can sign in") && refused.headers[.setCookie] == nil)
                #expect(try await client.call(.get, "/ui").status == .seeOther)
            }
        }
    }

    @Test func aSessionIsTheAdminTokensAndExpires() {
        let session = StatusSession(adminToken: "one")
        let now = Date()
        let value = try! #require(session.issue(now: now))
        #expect(session.isValid(value, now: now))
        #expect(session.isValid(value, now: now + StatusSession.lifetime - 1))
        #expect(!session.isValid(value, now: now + StatusSession.lifetime + 1))
        #expect(!StatusSession(adminToken: "two").isValid(value, now: now), "a new admin token ends every session")
        #expect(!StatusSession(adminToken: nil).isValid(value, now: now) && StatusSession(adminToken: nil).issue() == nil)
        let expiry = Int(value.split(separator: ".")[0])!
        #expect(!session.isValid("\(expiry + 3600)." + value.split(separator: ".")[1], now: now), "the expiry is signed")
        for garbage in ["", ".", "x.y", "1.2.3", "\(expiry)."] { #expect(!session.isValid(garbage, now: now)) }
    }
}
