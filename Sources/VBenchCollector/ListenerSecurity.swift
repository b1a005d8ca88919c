import FoundationEssentials
import NIOCore
import NIOSSL
import VBenchWire

/// What a tcp listener demands before it takes a record: TLS with a client certificate signed
/// by a given CA (the certificate's subject names the sender), a token in the sender's hello
/// (the token's name names it), or both. Unix and vsock peers are named by their transport.
public struct ListenerSecurity: Sendable {
    /// The TLS context of the listener; nil: plain TCP.
    let tls: NIOSSLContext?
    /// Whether TLS senders must present a certificate signed by the client CA.
    public let verifiesClientCertificates: Bool
    /// The tokens a hello must carry one of; nil: no token is asked for.
    let tokens: AccessTokenSet?

    /// Whether senders prove who they are (a verified client certificate or a token).
    public var authenticates: Bool { verifiesClientCertificates || tokens != nil }

    /// Loads the files: `certificate` and `privateKey` (PEM) make the listener speak TLS,
    /// `clientCA` (PEM, needs TLS) makes it require and verify client certificates, `tokenFile`
    /// (AccessToken's format, mode 600) makes it require a token in the hello.
    public init(certificate: String?, privateKey: String?, clientCA: String?, tokenFile: String?) throws(ListenerSecurityError) {
        if let tokenFile {
            do throws(AccessTokenError) { tokens = AccessTokenSet(try AccessToken.load(tokenFile)) } catch { throw .token(error) }
        } else {
            tokens = nil
        }
        guard let certificate, let privateKey else {
            guard certificate == nil, privateKey == nil, clientCA == nil else {
                throw .tls("--tls-cert and --tls-key go together (and --tls-client-ca needs both)")
            }
            tls = nil
            verifiesClientCertificates = false
            return
        }
        let chain: [NIOSSLCertificate], key: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw .tls("cannot read a PEM certificate from \(certificate) (\(error)); pass the collector's certificate chain")
        }
        do { key = try NIOSSLPrivateKey(file: privateKey, format: .pem) } catch {
            throw .tls("cannot read a PEM private key from \(privateKey) (\(error)); pass the key of \(certificate)")
        }
        var configuration: TLSConfiguration
        if let clientCA {
            let roots: [NIOSSLCertificate]
            do { roots = try NIOSSLCertificate.fromPEMFile(clientCA) } catch {
                throw .tls("cannot read a PEM certificate from \(clientCA) (\(error)); pass the CA that signs the senders' certificates")
            }
            guard !roots.isEmpty else { throw .tls("\(clientCA) holds no certificate; pass the CA that signs the senders' certificates") }
            configuration = .makeServerConfigurationWithMTLS(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key),
                                                              trustRoots: .certificates(roots))
        } else {
            configuration = .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        }
        configuration.minimumTLSVersion = .tlsv12
        configuration.shutdownTimeout = .seconds(2)
        do { tls = try NIOSSLContext(configuration: configuration) } catch {
            throw .tls("cannot use \(certificate) with \(privateKey): \(error); is the key the certificate's?")
        }
        verifiesClientCertificates = clientCA != nil
    }

    /// Whether `host` names this machine only: 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) or
    /// `localhost`. Any other name may resolve to an address other machines reach.
    public static func isLoopback(_ host: String) -> Bool { Endpoint.isLoopback(host) }

    /// Why listening on `endpoint` would let anyone who reaches it store records, or nil: a tcp
    /// listener beyond loopback must authenticate its senders.
    public static func refusal(listening endpoint: Endpoint, authenticated: Bool) -> ListenerSecurityError? {
        guard case let .tcp(host, _) = endpoint, !authenticated, !isLoopback(host) else { return nil }
        return .unauthenticatedListener(endpoint.description)
    }

    /// Puts TLS in front of a connection's pipeline and the token check before its handler.
    func secure(_ channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        if let tokens {
            let handler = try pipeline.handler(type: CollectorHandler.self)
            try pipeline.addHandler(TokenGate(tokens: tokens, namesPeer: !verifiesClientCertificates), position: .before(handler))
        }
        if let tls {
            try pipeline.addHandler(TLSPeerIdentifier(), position: .first)
            try pipeline.addHandler(NIOSSLServerHandler(context: tls), position: .first)
        }
    }
}

/// Why a listener's security cannot be set up, or a listener is refused.
public enum ListenerSecurityError: Error, Equatable, CustomStringConvertible {
    case unauthenticatedListener(String)
    case tls(String)
    case token(AccessTokenError)

    public var description: String {
        switch self {
        case .unauthenticatedListener(let endpoint):
            "\(endpoint) can be reached from other machines, and anyone who reaches it could store records (a forged one skews every comparison): "
                + "pass --tls-cert FILE --tls-key FILE --tls-client-ca FILE (senders need a client certificate signed by that CA) "
                + "or --token-file FILE (senders present its token), or listen on tcp://127.0.0.1:PORT"
        case .tls(let message): message
        case .token(let error): error.description
        }
    }
}

/// Who the transport proved a sender to be (`tls:CN=…`, `token:NAME`): the collector's handler
/// names the peer `IDENTITY@TRANSPORT-PEER` from then on.
struct PeerIdentified {
    let identity: String
}

/// Behind the TLS handler: names the peer by its certificate's subject once the handshake is
/// done (before the first decrypted byte goes on), and turns a TLS failure into a refusal.
final class TLSPeerIdentifier: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private var named = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !named {
            named = true
            if let certificate = tlsHandler(context)?.peerCertificate {
                context.fireUserInboundEventTriggered(PeerIdentified(identity: "tls:" + CertificateSubject.text(of: certificate)))
            }
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let ssl = error as? NIOSSLError, case .uncleanShutdown = ssl {
            context.close(promise: nil)  // the sender left without close_notify: nothing to refuse
            return
        }
        guard error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError else {
            context.fireErrorCaught(error)
            return
        }
        var message = "TLS failed: \(error)"
        if let certificate = tlsHandler(context)?.peerCertificate { message += "; " + Self.describe(certificate) }
        context.fireErrorCaught(WireFailure(code: "unauthenticated", message: message))
    }

    private func tlsHandler(_ context: ChannelHandlerContext) -> NIOSSLServerHandler? {
        try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
    }

    /// The client certificate's subject and whether it is in its validity period (for the log;
    /// BoringSSL made the decision).
    static func describe(_ certificate: NIOSSLCertificate, now: Date = Date()) -> String {
        let notBefore = Date(timeIntervalSince1970: TimeInterval(certificate.notValidBefore))
        let notAfter = Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter))
        let subject = CertificateSubject.text(of: certificate)
        if now > notAfter { return "the client certificate \(subject) expired \(notAfter.formatted(.iso8601))" }
        if now < notBefore { return "the client certificate \(subject) is valid from \(notBefore.formatted(.iso8601))" }
        let issuer = CertificateSubject.text(certificate.issuerName.map { (CertificateSubject.label($0.type), $0.value) })
        return "the client certificate \(subject) (issuer \(issuer)) is in its validity period: is it signed by --tls-client-ca?"
    }
}

/// Before the collector's handler on a token listener: lets nothing through until a hello
/// carries one of the listener's tokens; anything else is refused `unauthenticated`.
final class TokenGate: ChannelInboundHandler {
    typealias InboundIn = WireFrame
    typealias InboundOut = WireFrame

    private enum State { case waiting, open, refused }
    private var state = State.waiting
    let tokens: AccessTokenSet
    /// Whether the token names the peer (not when a client certificate already does).
    let namesPeer: Bool

    init(tokens: AccessTokenSet, namesPeer: Bool) {
        self.tokens = tokens
        self.namesPeer = namesPeer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .open: context.fireChannelRead(data)
        case .refused: return
        case .waiting:
            let frame = unwrapInboundIn(data)
            guard frame.type == .hello else {
                return refuse("a \(frame.type) before an accepted hello: this collector wants a hello carrying its token first (sender: --token-file FILE)", context)
            }
            // A hello that does not parse goes on, for the handler to refuse as a protocol error.
            guard case .hello(let hello)? = try? WireMessage(frame: frame) else { return context.fireChannelRead(data) }
            guard let token = hello.token else {
                return refuse("the hello carries no token; this collector takes records only from senders given --token-file FILE", context)
            }
            guard let identity = tokens.identity(of: token) else {
                return refuse("the hello's token is not one this collector accepts", context)
            }
            state = .open
            if namesPeer { context.fireUserInboundEventTriggered(PeerIdentified(identity: identity)) }
            context.fireChannelRead(data)
        }
    }

    private func refuse(_ message: String, _ context: ChannelHandlerContext) {
        state = .refused
        context.fireErrorCaught(WireFailure(code: "unauthenticated", message: message))
    }
}
