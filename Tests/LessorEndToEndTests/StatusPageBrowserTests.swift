import AsyncHTTPClient
import Foundation
import HTTPTypes
import LessorCore
import LessorRedis
import LessorTestSupport
import NIOCore
import NIOHTTP1
import RedisServerHarness
import Testing

/// The status page in a real browser: Debian's Chromium, headless, driven through
/// chromedriver's W3C WebDriver endpoint on a loopback port, against a live `lessor serve`
/// holding a few leases. It signs in through the form as a person would, reads the DOM, sees a
/// lease bar drain with JavaScript turned off, and saves a screenshot to `.build/test-artifacts/status-page.png`.
@Suite("The status page in Chromium", .timeLimit(.minutes(2)))
struct StatusPageBrowserTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Where the screenshot goes (`LESSOR_TEST_ARTIFACTS` to choose another folder).
    static let artifacts = ProcessInfo.processInfo.environment["LESSOR_TEST_ARTIFACTS"].map { URL(fileURLWithPath: $0) }
        ?? repository.appendingPathComponent(".build/test-artifacts")

    @Test func anAdminSignsInAndSeesEveryLeaseItsHolderFencingTokenAndTimeLeft() async throws {
        for program in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            try #require(FileManager.default.isExecutableFile(atPath: program), "\(program) is missing: run scripts/install-deps.sh (Debian's chromium and chromium-driver)")
        }
        try await withRedisServer { server in
            try await withReplicas(1, on: server) { replicas in
                let client = replicas[0].client
                let env = try #require(try await client.call(
                    .post, "/api/v1/cloud/environments", body: #"{"name":"payments","config":{"type":"self_hosted"},"max_lapses":1}"#)["id"] as? String)
                let base = "/api/v1/cloud/environments/\(env)/work"
                var leases: [(id: String, holder: String, ttl: Int)] = []
                // Acked in another order than their time left, which the page sorts by.
                for (holder, ttl) in [("worker-b", 90), ("worker-a", 60), ("worker-c", 120), ("worker-d", 30)] {
                    let id = try #require(try await client.call(.post, base, body: "{}")["id"] as? String)
                    #expect(try await client.call(.get, "\(base)/poll", worker: holder)["id"] as? String == id)
                    #expect(try await client.call(.post, "\(base)/\(id)/ack", worker: holder).status == .ok)
                    let beat = try await client.call(
                        .post, "\(base)/\(id)/heartbeat?desired_ttl_seconds=\(ttl)&expected_last_heartbeat=NO_HEARTBEAT", worker: holder)
                    #expect(beat.status == .ok)
                    leases.append((id, holder, ttl))
                }
                // worker-d's lease lapses once: with max_lapses 1 its item is a dead letter.
                let functions = LessorFunctions(redis: try RedisClient(configuration: server.clientConfiguration), keys: KeySpace(namespace: "lessor"))
                defer { functions.redis.shutDown() }
                let dead = leases.removeLast()
                leases.sort { $0.ttl < $1.ttl }
                _ = try await functions.call(WorkExpireLease(environmentID: env, workID: dead.id))
                // A Den worker reporting activity.
                let worker = try await client.call(.post, "/v1/workers", body: #"{"name":"build-box"}"#)
                let workerID = try #require(worker["id"] as? String)
                let activity = try #require((worker["tokens"] as? [String: Any])?["activity"] as? String)
                #expect(try await client.call(
                    .post, "/v1/workers/\(workerID)/activity-heartbeat", token: activity, body: #"{"isActiveRecently":true,"openSessionCount":2}"#).status == .ok)

                try await withBrowser(in: server.directory) { browser in
                    let page = "http://127.0.0.1:\(replicas[0].port)/ui"
                    try await browser.open(page)
                    #expect(try await browser.url() == page + "/login", "a browser without a session is sent to the form")
                    try await browser.type(testAdminToken, into: try await browser.element("input[name=token]"))
                    try await browser.click(try await browser.element("button[type=submit]"))
                    #expect(try await browser.waitForURL(page), "signed in, the form leads to the page")

                    // The page reloads itself every 5 s; a reading that meets a reload is read again.
                    let seen = try await browser.retryingStaleElements { () async throws -> Seen in
                        var seen = Seen()
                        for row in try await browser.elements("tr.lease") {
                            seen.leases.append(
                                Seen.Lease(
                                    id: try await browser.attribute("data-work-id", of: row) ?? "",
                                    holder: try await browser.text(try await browser.element("td.holder", in: row)),
                                    fencingToken: try await browser.text(try await browser.element("td.fencing-token", in: row)),
                                    left: try await browser.text(try await browser.element("span.ttl", in: row)),
                                    remainingMs: Int(try await browser.attribute("data-remaining-ms", of: row) ?? "") ?? 0))
                        }
                        for row in try await browser.elements("tr.stop.dead-letter") { seen.deadLetters.append(try await browser.attribute("data-work-id", of: row) ?? "") }
                        for row in try await browser.elements("tr.lapse") {
                            seen.lapses.append(
                                Seen.Lapse(
                                    id: try await browser.attribute("data-work-id", of: row) ?? "",
                                    holder: try await browser.text(try await browser.element("td.holder", in: row)),
                                    outcome: try await browser.attribute("data-outcome", of: row) ?? ""))
                        }
                        seen.leasedCount = try await browser.text(try await browser.element("tr.environment td.leased"))
                        let online = try await browser.element("tr.worker.online")
                        seen.onlineWorker = try await browser.attribute("data-worker-id", of: online)
                        seen.onlineWorkerText = try await browser.text(online)
                        seen.source = try await browser.source()
                        return seen
                    }
                    // One row per live lease, the least time left first: holder, fencing token, time left.
                    #expect(seen.leases.map(\.id) == leases.map(\.id), "ordered by time left")
                    for (row, lease) in zip(seen.leases, leases) {
                        #expect(row.holder == lease.holder && row.fencingToken == "1", "\(row)")
                        #expect(row.left.hasSuffix(" left") && !row.left.hasPrefix("0"), "\(row)")
                        #expect(row.remainingMs > (lease.ttl - 20) * 1000 && row.remainingMs <= lease.ttl * 1000, "\(row)")
                    }
                    #expect(seen.deadLetters == [dead.id] && seen.leasedCount == "3")
                    #expect(seen.lapses == [Seen.Lapse(id: dead.id, holder: dead.holder, outcome: "dead_lettered")], "who lost the lease, from the lapse log")
                    #expect(seen.onlineWorker == workerID && seen.onlineWorkerText.contains("build-box"))
                    #expect(!seen.source.contains("<script"))

                    // The bar drains by itself: the same element, no reload between the two readings.
                    let (before, after) = try await browser.retryingStaleElements { () async throws -> (Double, Double) in
                        let bar = try await browser.element("tr.lease .bar span")
                        let before = try await browser.width(of: bar)
                        try await Task.sleep(for: .milliseconds(1500))
                        return (before, try await browser.width(of: bar))
                    }
                    #expect(after < before, "\(before) → \(after) px")

                    try FileManager.default.createDirectory(at: Self.artifacts, withIntermediateDirectories: true)
                    let screenshot = Self.artifacts.appendingPathComponent("status-page.png")
                    try await browser.screenshot().write(to: screenshot)
                    print("status page screenshot: \(screenshot.path)")
                }
            }
        }
    }
}

/// What the test reads off the page.
struct Seen {
    struct Lease {
        var id: String
        var holder: String
        var fencingToken: String
        var left: String
        var remainingMs: Int
    }

    struct Lapse: Equatable {
        var id: String
        var holder: String
        var outcome: String
    }

    var leases: [Lease] = []
    var deadLetters: [String] = []
    var lapses: [Lapse] = []
    var leasedCount = ""
    var onlineWorker: String?
    var onlineWorkerText = ""
    var source = ""
}

/// A WebDriver command's error reply (`error` is WebDriver's code, such as "stale element reference").
struct WebDriverError: Error, CustomStringConvertible {
    let error: String
    let description: String
}

/// A headless Chromium session through chromedriver's WebDriver endpoint.
struct Browser {
    let port: Int
    let session: String

    /// Sends one WebDriver command and returns its `value`.
    @discardableResult
    static func command(port: Int, _ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        if let body { request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))) }
        else if method == .POST { request.body = .bytes(ByteBuffer(string: "{}")) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 26)
        let reply = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
        guard response.status == .ok else {
            let error = (reply?["value"] as? [String: Any])?["error"] as? String ?? ""
            let message = ((reply?["value"] as? [String: Any])?["message"] as? String ?? "").prefix(300)
            throw WebDriverError(error: error, description: "WebDriver \(method) \(path): \(response.status) \(error): \(message)")
        }
        return reply?["value"] as Any?
    }

    @discardableResult
    func command(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        try await Self.command(port: port, method, "/session/\(session)\(path)", body)
    }

    func open(_ url: String) async throws { try await command(.POST, "/url", ["url": url]) }

    /// Waits up to 10 s for the page at `url` (a form post navigates after the click returns).
    func waitForURL(_ expected: String) async throws -> Bool {
        for _ in 0..<100 {
            if try await url() == expected, (try? await element("body")) != nil { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// `body`, run again (up to 5 times) when a reload made an element it holds stale.
    func retryingStaleElements<T>(_ body: () async throws -> T) async throws -> T {
        for _ in 1..<5 {
            do {
                return try await body()
            } catch let error as WebDriverError where error.error == "stale element reference" || error.error == "no such element" {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        return try await body()
    }
    func url() async throws -> String { try await command(.GET, "/url") as? String ?? "" }
    func source() async throws -> String { try await command(.GET, "/source") as? String ?? "" }

    /// The element id of the first match of a CSS selector, in the page or under `parent`.
    func element(_ selector: String, in parent: String? = nil) async throws -> String {
        let path = parent.map { "/element/\($0)/element" } ?? "/element"
        let found = try await command(.POST, path, ["using": "css selector", "value": selector]) as? [String: Any]
        return try Self.id(of: found)
    }

    func elements(_ selector: String) async throws -> [String] {
        let found = try await command(.POST, "/elements", ["using": "css selector", "value": selector]) as? [[String: Any]] ?? []
        return try found.map { try Self.id(of: $0) }
    }

    func text(_ element: String) async throws -> String { try await command(.GET, "/element/\(element)/text") as? String ?? "" }
    func attribute(_ name: String, of element: String) async throws -> String? {
        try await command(.GET, "/element/\(element)/attribute/\(name)") as? String
    }
    func width(of element: String) async throws -> Double {
        ((try await command(.GET, "/element/\(element)/rect") as? [String: Any])?["width"] as? NSNumber)?.doubleValue ?? -1
    }
    func type(_ text: String, into element: String) async throws { try await command(.POST, "/element/\(element)/value", ["text": text]) }
    func click(_ element: String) async throws { try await command(.POST, "/element/\(element)/click") }
    func screenshot() async throws -> Data { Data(base64Encoded: try await command(.GET, "/screenshot") as? String ?? "") ?? Data() }

    /// WebDriver's element reference key.
    static func id(of element: [String: Any]?) throws -> String {
        guard let id = element?["element-6066-11e4-a52e-4f735466cecf"] as? String else { throw HarnessError("no element in \(element ?? [:])") }
        return id
    }
}

/// Starts chromedriver on a free loopback port and a headless Chromium session, runs `body`,
/// then ends the session and chromedriver; chromedriver's log stays in `directory`.
func withBrowser(in directory: URL, _ body: (Browser) async throws -> Void) async throws {
    let port = try freeLoopbackPort()
    let profile = directory.appendingPathComponent("chromium-\(UUID().uuidString)")
    let driver = try ChildProcess(
        ["/usr/bin/chromedriver", "--port=\(port)", "--allowed-ips=127.0.0.1"], output: directory.appendingPathComponent("chromedriver.log"))
    defer { _ = driver.terminate() }
    var ready = false
    for _ in 0..<100 where !ready {
        ready = ((try? await Browser.command(port: port, .GET, "/status")) as? [String: Any])?["ready"] as? Bool == true
        if !ready { try await Task.sleep(for: .milliseconds(100)) }
    }
    try #require(ready, "chromedriver did not start; its log: \(directory.appendingPathComponent("chromedriver.log").path)")
    let options: [String: Any] = [
        "binary": "/usr/bin/chromium",
        // JavaScript off for the page, as a user who disabled it has it: the page must not need it.
        "prefs": ["profile.managed_default_content_settings.javascript": 2],
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900", "--user-data-dir=\(profile.path)"],
    ]
    let created = try await Browser.command(port: port, .POST, "/session", ["capabilities": ["alwaysMatch": ["goog:chromeOptions": options]]])
    let session = try #require((created as? [String: Any])?["sessionId"] as? String)
    let browser = Browser(port: port, session: session)
    do {
        try await body(browser)
    } catch {
        _ = try? await Browser.command(port: port, .DELETE, "/session/\(session)")
        throw error
    }
    try await Browser.command(port: port, .DELETE, "/session/\(session)")
}
