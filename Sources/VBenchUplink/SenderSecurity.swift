import NIOCore
import VBenchWire

/// Puts TLS in front of a sender's connection. The guest-side uplink links no TLS library:
/// VBenchUplinkTLS implements this with NIOSSL for the full vbench.
public protocol SenderTLS: Sendable {
    /// Adds the TLS handler to `channel`, checking that the collector's certificate names `host`.
    func secure(_ channel: any Channel, host: String) throws
}

/// How a sender proves itself to a collector and checks the collector: TLS (the collector's
/// certificate verified against a CA, optionally a client certificate of its own) and a token
/// in its hello.
public struct SenderSecurity: Sendable {
    /// Plain: no TLS, no token (what unix, vsock, serial and loopback TCP need).
    public static let none = SenderSecurity(tls: nil, token: nil)

    let tls: (any SenderTLS)?
    /// Sent in the hello.
    public let token: String?

    public init(tls: (any SenderTLS)?, token: String?) {
        self.tls = tls
        self.token = token
    }

    /// A token from `tokenFile` (its first one goes in the hello), no TLS: what the guest
    /// binary offers. TLS comes from VBenchUplinkTLS (`SenderSecurity(tls:trustedCA:…)`).
    public init(tokenFile: String?) throws(SenderSecurityError) {
        if let tokenFile {
            do throws(AccessTokenError) { token = try AccessToken.load(tokenFile)[0].secret } catch { throw .token(error) }
        } else {
            token = nil
        }
        tls = nil
    }

    /// Whether the connection speaks TLS.
    public var usesTLS: Bool { tls != nil }

    /// `tls://HOST:PORT` (TCP with TLS) or any endpoint `Endpoint` reads (without TLS).
    public static func target(_ text: String) throws(EndpointError) -> (endpoint: Endpoint, tls: Bool) {
        guard text.hasPrefix("tls://") else { return (try Endpoint(text), false) }
        let endpoint = try Endpoint("tcp://" + text.dropFirst("tls://".count))
        return (endpoint, true)
    }

    /// Puts TLS in front of a connection to `host` (nothing without TLS).
    func secure(_ channel: any Channel, host: String) throws {
        try tls?.secure(channel, host: host)
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
