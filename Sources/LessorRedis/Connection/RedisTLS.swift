import NIOCore
import NIOSSL
import NIOTLS

/// TLS to Redis (`rediss://`): how the client proves the server is the one it meant, and,
/// when the server asks, who the client is.
///
/// The certificate files are read once, when the value is made, so a file that cannot be
/// read stops start-up instead of every reconnection; the value then holds a ready
/// `NIOSSLContext` that every connection of the client shares. Verification is always on:
/// the server's chain must lead to the CA (the system's trust roots when no CA file is
/// given) and name the host connected to (or ``serverName``).
public struct RedisTLS: Sendable, Equatable {
    /// PEM file of the CA certificates that may sign the server's certificate; nil uses the
    /// system's trust roots.
    public let caFile: String?
    /// PEM file of the client's certificate chain, for a server that verifies clients
    /// (`tls-auth-clients yes`).
    public let certificateFile: String?
    /// PEM file of the client certificate's private key.
    public let keyFile: String?
    /// The name the server's certificate must carry, and the SNI sent; nil uses the host
    /// connected to (a DNS name, or an IP address matched against the certificate's IP
    /// addresses). Set it when nodes are reached by IP but certified by name, as cluster
    /// nodes announced by IP are.
    public let serverName: String?

    let context: NIOSSLContext

    /// Reads the certificate files and makes the TLS context.
    /// - Parameters:
    ///   - caFile: CA bundle; nil for the system's roots.
    ///   - certificateFile: Client certificate chain; needs `keyFile`.
    ///   - keyFile: Client private key; needs `certificateFile`.
    ///   - serverName: The name to verify instead of the host's.
    /// - Throws: ``RedisError/Code/invalidConfiguration`` naming the file that cannot be read
    ///   or parsed, or a certificate without its key.
    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) throws(RedisError) {
        guard (certificateFile == nil) == (keyFile == nil) else {
            throw RedisError(.invalidConfiguration, "a TLS client certificate needs its key file and a key file its certificate")
        }
        if let serverName {
            do { try NIOSSLClientHandler.validate(serverName: serverName) } catch {
                throw RedisError(.invalidConfiguration, "the TLS server name \"\(serverName)\" is not a DNS name")
            }
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if let caFile {
            configuration.trustRoots = .certificates(try Self.certificates(caFile, what: "CA file"))
        }
        if let certificateFile, let keyFile {
            configuration.certificateChain = try Self.certificates(certificateFile, what: "client certificate file").map { .certificate($0) }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw RedisError(.invalidConfiguration, "cannot read the TLS client key file \(keyFile): \(String(describing: error))")
            }
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw RedisError(.invalidConfiguration, "cannot set up TLS: \(String(describing: error))")
        }
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
    }

    private static func certificates(_ path: String, what: String) throws(RedisError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw RedisError(.invalidConfiguration, "cannot read the TLS \(what) \(path): \(error)")
        }
        guard !certificates.isEmpty else { throw RedisError(.invalidConfiguration, "the TLS \(what) \(path) holds no PEM certificate") }
        return certificates
    }

    public static func == (lhs: RedisTLS, rhs: RedisTLS) -> Bool {
        (lhs.caFile, lhs.certificateFile, lhs.keyFile, lhs.serverName) == (rhs.caFile, rhs.certificateFile, rhs.keyFile, rhs.serverName)
    }

    /// The pipeline's TLS stage for a connection to `host`.
    /// - Throws: What NIOSSL throws for a name it cannot send as SNI (``init`` checked ``serverName``).
    func handler(host: String) throws -> NIOSSLClientHandler {
        // SNI takes names only; for an IP address NIOSSL matches the certificate's IP entries.
        let name = serverName ?? (host.isIPAddress ? nil : host)
        return try NIOSSLClientHandler(context: context, serverHostname: name)
    }
}

extension NIOSSLClientHandler {
    /// Throws when `serverName` cannot be sent as SNI (an IP address, an empty or over-long name).
    fileprivate static func validate(serverName: String) throws {
        let context = try NIOSSLContext(configuration: .makeClientConfiguration())
        _ = try NIOSSLClientHandler(context: context, serverHostname: serverName)
    }
}

extension String {
    fileprivate var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}

/// Sits after the TLS handler until the handshake ends and completes a promise then, so a
/// connection reports a certificate that failed verification as that (`tlsFailure`), before
/// any Redis command is sent, instead of as a lost connection. It leaves the pipeline once
/// the handshake succeeds. (A second completion of the promise is ignored by NIO.)
final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let endpoint: String
    let promise: EventLoopPromise<Void>

    init(endpoint: String, promise: EventLoopPromise<Void>) {
        self.endpoint = endpoint
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if case .handshakeCompleted = event as? TLSUserEvent {
            promise.succeed()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(RedisError(.tlsFailure, "TLS with Redis at \(endpoint) failed: \(Self.explain(error))"))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(RedisError(.tlsFailure, "Redis at \(endpoint) closed the connection during the TLS handshake (is it a TLS port? does it want a client certificate?)"))
        context.fireChannelInactive()
    }

    /// The cause in words: BoringSSL's reasons are terse (`CERTIFICATE_VERIFY_FAILED`).
    private static func explain(_ error: any Error) -> String {
        let text = String(describing: error)
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "the server's certificate does not name the host (set LESSOR_REDIS_TLS_SERVER_NAME to the name it carries): \(text)"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the server's certificate is not signed by a trusted CA (check LESSOR_REDIS_TLS_CA_FILE): \(text)"
        }
        if text.contains("WRONG_VERSION_NUMBER") {
            return "the server does not speak TLS on this port (use redis:// for a plaintext port): \(text)"
        }
        return text
    }
}
