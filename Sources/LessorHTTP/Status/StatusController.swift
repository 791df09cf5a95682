import Foundation
import HTTPTypes
import Hummingbird
import LessorCore
import Logging

/// The status page: `GET /ui` (read-only, admin only), its sign-in form and sign-out. Every
/// answer is HTML, errors included; the page refreshes itself and needs no JavaScript (the
/// lease bars drain by CSS animation), which its Content-Security-Policy forbids anyway.
struct StatusController: Sendable {
    typealias Context = LessorRequestContext

    /// How often the page reloads itself (`<meta http-equiv="refresh">`).
    static let refreshSeconds = 5
    /// The largest sign-in form read.
    static let maximumFormBytes = 4096

    let reader: StatusReader
    let authenticator: TokenAuthenticator
    let session: StatusSession

    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("ui", use: page)
        routes.get("ui/login", use: loginForm)
        routes.post("ui/login", use: login)
        routes.post("ui/logout", use: logout)
        return routes
    }

    /// The page, to the admin token as a bearer or to a signed-in browser; anyone else is sent
    /// to the form (a browser) or refused (a wrong bearer: 401; another token: 403).
    @Sendable func page(request: Request, context: Context) async -> Response {
        if request.headers[.authorization] != nil || request.headers[.apiKey] != nil {
            do {
                guard try await authenticator.principal(for: request) == .admin else {
                    return Self.notice(.forbidden, "This page needs the admin token", "The token sent is valid, but not the admin token.")
                }
            } catch let error as RequestError {
                guard case .unauthenticated(let message) = error else { return Self.unavailable(error, context: context) }
                return Self.notice(.unauthorized, "Not signed in", message.prefix(1).uppercased() + message.dropFirst() + ".")
            } catch {
                return Self.unavailable(error, context: context)
            }
        } else {
            guard let cookie = request.cookies[StatusSession.cookieName], session.isValid(cookie.value) else {
                var response = Self.redirect(to: "/ui/login")
                if request.cookies[StatusSession.cookieName] != nil { response.setCookie(Self.cookie("", request: request, maxAge: 0)) }
                return response
            }
        }
        let environmentID = request.uri.queryParameters["env"].map(String.init)
        var limits = StatusReader.Limits()
        if let environmentID {
            guard IdentifierKind.environment.isValid(environmentID) else {
                return Self.notice(.notFound, "Environment not found", "No environment has the id \(environmentID).")
            }
            limits.leases = 100
            limits.recent = 25
        }
        do {
            let snapshot = try await reader.read(environmentID: environmentID, limits: limits)
            return Self.html(.ok, StatusPage.render(snapshot, refreshSeconds: Self.refreshSeconds))
        } catch .refused(.environmentNotFound) {
            return Self.notice(.notFound, "Environment not found", "No environment has the id \(environmentID ?? "").")
        } catch {
            return Self.unavailable(error, context: context)
        }
    }

    @Sendable func loginForm(request: Request, context: Context) async -> Response {
        Self.html(.ok, StatusPage.login(message: session.isEnabled ? nil : Self.noAdminToken))
    }

    static let noAdminToken = "This node has no admin token (LESSOR_ADMIN_TOKEN), so nobody can sign in."

    /// Signs in with the admin token from the form (`token=`, URL-encoded): a session cookie
    /// and a redirect to the page.
    @Sendable func login(request: Request, context: Context) async -> Response {
        var request = request
        let form: LoginForm
        do {
            let body = try await request.collectBody(upTo: Self.maximumFormBytes)
            form = try URLEncodedFormDecoder().decode(LoginForm.self, from: String(buffer: body))
        } catch {
            return Self.html(.badRequest, StatusPage.login(message: "Send the admin token in the form's token field."))
        }
        let principal: Principal?
        do {
            principal = try await authenticator.principal(forSecret: form.token)
        } catch {
            return Self.unavailable(error, context: context)
        }
        guard principal == .admin, let value = session.issue() else {
            return Self.html(.unauthorized, StatusPage.login(message: session.isEnabled ? "That is not the admin token." : Self.noAdminToken))
        }
        var response = Self.redirect(to: "/ui")
        response.setCookie(Self.cookie(value, request: request, maxAge: Int(StatusSession.lifetime)))
        return response
    }

    @Sendable func logout(request: Request, context: Context) async -> Response {
        var response = Self.redirect(to: "/ui/login")
        response.setCookie(Self.cookie("", request: request, maxAge: 0))
        return response
    }

    struct LoginForm: Decodable {
        let token: String
    }

    /// The session cookie: HttpOnly, SameSite=Lax, for `/ui` only; Secure when the request
    /// came over HTTPS (a load balancer's `X-Forwarded-Proto: https`).
    static func cookie(_ value: String, request: Request, maxAge: Int) -> Cookie {
        let https = request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
        return Cookie(name: StatusSession.cookieName, value: value, maxAge: maxAge, path: "/ui", secure: https, httpOnly: true, sameSite: .lax)
    }

    /// Every HTML answer's headers: no caching, no scripts, no framing, no sniffing.
    static func html(_ status: HTTPResponse.Status, _ page: String) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func redirect(to path: String) -> Response {
        var response = html(.seeOther, "")
        response.headers[.location] = path
        return response
    }

    static func notice(_ status: HTTPResponse.Status, _ title: String, _ message: String) -> Response {
        html(status, StatusPage.notice(title: title, message: message, retrySeconds: nil))
    }

    /// 503 when Redis cannot be read; the page retries by itself. The cause is logged, never shown.
    static func unavailable(_ error: any Error, context: Context) -> Response {
        context.logger.error("status page: cannot read Redis", metadata: ["error": "\(error)"])
        var response = html(
            .serviceUnavailable,
            StatusPage.notice(title: "Redis is unavailable", message: "The status cannot be read right now.", retrySeconds: refreshSeconds))
        response.headers[.retryAfter] = String(refreshSeconds)
        return response
    }
}
