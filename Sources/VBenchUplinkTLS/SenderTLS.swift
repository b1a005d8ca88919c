import NIOCore
import NIOSSL
import VBenchUplink
import VBenchWire

/// TLS for a sender, by NIOSSL (BoringSSL): the full vbench's `send --to tls://…`. The guest
/// binary leaves this target out and with it the TLS library.
public struct NIOSSLSenderTLS: SenderTLS {
    let context: NIOSSLContext

    /// A client that trusts `trustedCA` (PEM; nil: the system's trusted CAs) and presents
    /// `certificate` and `privateKey` (PEM) when both are given.
    public init(trustedCA: String?, certificate: String?, privateKey: String?) throws(SenderSecurityError) {
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
        do { self.context = try NIOSSLContext(configuration: configuration) } catch {
            throw .tls("cannot set up TLS: \(error); is \(privateKey ?? "the key") the key of \(certificate ?? "the certificate")?")
        }
    }

    /// Puts TLS in front of a connection to `host`: the collector's certificate must name it
    /// (a DNS name, or an IP address in its subject alternative names).
    public func secure(_ channel: any Channel, host: String) throws {
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host),
                                                       position: .first)
    }
}

extension SenderSecurity {
    /// Loads the files. With `tls`, the collector's certificate must be signed by `trustedCA`
    /// (PEM; nil: the system's trusted CAs) and name the host sent to; `certificate` and
    /// `privateKey` (PEM) are this sender's client certificate. `tokenFile`'s first token goes
    /// in the hello.
    public init(tls: Bool, trustedCA: String? = nil, certificate: String? = nil, privateKey: String? = nil,
                tokenFile: String? = nil) throws(SenderSecurityError) {
        let token = try SenderSecurity(tokenFile: tokenFile).token
        guard tls else {
            guard trustedCA == nil, certificate == nil, privateKey == nil else {
                throw .tls("--tls-ca, --tls-cert and --tls-key apply to TLS: send to tls://HOST:PORT")
            }
            self.init(tls: nil, token: token)
            return
        }
        self.init(tls: try NIOSSLSenderTLS(trustedCA: trustedCA, certificate: certificate, privateKey: privateKey), token: token)
    }
}
