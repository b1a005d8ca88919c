import NIOCore
import NIOSSL
import VBenchWire

/// How a sender proves itself to a collector and checks the collector: TLS (the collector's
/// certificate verified against a CA, optionally a client certificate of its own) and a token
/// in its hello.
public struct SenderSecurity: Sendable {
    /// Plain: no TLS, no token (what unix, vsock, serial and loopback TCP need).
    public static let none = SenderSecurity(tls: nil, token: nil)

    let tls: NIOSSLContext?
    /// Sent in the hello.
    let token: String?

    init(tls: NIOSSLContext?, token: String?) {
        self.tls = tls
        self.token = token
    }

    /// Loads the files. With `tls`, the collector's certificate must be signed by `trustedCA`
    /// (PEM; nil: the system's trusted CAs) and name the host sent to; `certificate` and
    /// `privateKey` (PEM) are this sender's client certificate. `tokenFile`'s first token goes
    /// in the hello.
    public init(tls: Bool, trustedCA: String? = nil, certificate: String? = nil, privateKey: String? = nil,
                tokenFile: String? = nil) throws(SenderSecurityError) {
        if let tokenFile {
            do throws(AccessTokenError) { token = try AccessToken.load(tokenFile)[0].secret } catch { throw .token(error) }
        } else {
            token = nil
        }
        guard tls else {
            guard trustedCA == nil, certificate == nil, privateKey == nil else {
                throw .tls("--tls-ca, --tls-cert and --tls-key apply to TLS: send to tls://HOST:PORT")
            }
            self.tls = nil
            return
        }
        guard (certificate == nil) == (privateKey == nil) else { throw .tls("--tls-cert and --tls-key go together") }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.shutdownTimeout = .seconds(2)
        if let trustedCA {
            let roots: [NIOSSLCertificate]
            do { roots = try NIOSSLCertificate.fromPEMFile(trustedCA) } catch {
                throw .tls("cannot read a PEM certificate from \(trustedCA) (\(error)); pass the CA that signed the collector's certificate")
            }
            guard !roots.isEmpty else { throw .tls("\(trustedCA) holds no certificate; pass the CA that signed the collector's certificate") }
            configuration.trustRoots = .certificates(roots)
        }
        if let certificate, let privateKey {
            do { configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) } } catch {
                throw .tls("cannot read a PEM certificate from \(certificate) (\(error)); pass this sender's client certificate")
            }
            do { configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem)) } catch {
                throw .tls("cannot read a PEM private key from \(privateKey) (\(error)); pass the key of \(certificate)")
            }
        }
        do { self.tls = try NIOSSLContext(configuration: configuration) } catch {
            throw .tls("cannot set up TLS: \(error); is \(privateKey ?? "the key") the key of \(certificate ?? "the certificate")?")
        }
    }

    /// Whether the connection speaks TLS.
    public var usesTLS: Bool { tls != nil }

    /// `tls://HOST:PORT` (TCP with TLS) or any endpoint `Endpoint` reads (without TLS).
    public static func target(_ text: String) throws(EndpointError) -> (endpoint: Endpoint, tls: Bool) {
        guard text.hasPrefix("tls://") else { return (try Endpoint(text), false) }
        let endpoint = try Endpoint("tcp://" + text.dropFirst("tls://".count))
        return (endpoint, true)
    }

    /// Puts TLS in front of a connection to `host`: the collector's certificate must name it
    /// (a DNS name, or an IP address in its subject alternative names).
    func secure(_ channel: any Channel, host: String) throws {
        guard let tls else { return }
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : host),
                                                       position: .first)
    }
}

/// Why a sender's TLS or token cannot be set up.
public enum SenderSecurityError: Error, Equatable, CustomStringConvertible {
    case tls(String)
    case token(AccessTokenError)

    public var description: String {
        switch self {
        case .tls(let message): message
        case .token(let error): error.description
        }
    }
}
