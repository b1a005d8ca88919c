import ArgumentParser
import NIOCore
import VBenchCore
import VBenchUplink
import VBenchWire

/// What the full vbench adds to the guest-side commands; the guest binary leaves both unset.
/// Set once, before the command line is parsed.
public enum GuestCLI {
    /// Where `vbench run` also adds each record (the SQLite or PostgreSQL store of `--store`).
    nonisolated(unsafe) public static var store: (any LocalRecordStore)?
    /// TLS for `send --to tls://…` and `run --send tls://…`.
    nonisolated(unsafe) public static var tls: (any SenderTLSLoader)?
}

/// The results store `vbench run` adds its records to, besides the JSON files under `--out`.
public protocol LocalRecordStore: Sendable {
    /// Adds `record` to the store at `location` (a path or a postgres:// URL), creating it if needed.
    func add(_ record: RunRecord, to location: String) throws
    /// The records of the store at `location` tagged `key=value`.
    func records(tagged key: String, _ value: String, in location: String) throws -> [RunRecord]
}

/// Loads a sender's TLS files.
public protocol SenderTLSLoader: Sendable {
    /// TLS that trusts `trustedCA` (PEM; nil: the system's CAs) and presents `certificate` and
    /// `privateKey` (PEM) when both are given.
    func load(trustedCA: String?, certificate: String?, privateKey: String?) throws -> any SenderTLS
}

/// How `send` and `run --send` prove themselves to a collector and check it.
public struct SenderSecurityOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("tls://: the CA (PEM) that signed the collector's certificate (default: the system's trusted CAs).", valueName: "file"))
    var tlsCA: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("tls://: this sender's client certificate (PEM), for a collector with --tls-client-ca; needs --tls-key.", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("tls://: the private key (PEM) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("Present this file's first token (mode 600) to a collector with --token-file; it travels in the clear unless sent to tls:// or loopback.", valueName: "file"))
    var tokenFile: String?

    /// Checks `target` (an endpoint or tls://HOST:PORT) against the TLS options.
    func check(_ target: String, option: String) throws {
        let tls: Bool
        do { tls = try SenderSecurity.target(target).tls } catch { throw ValidationError("\(option): \(error); tls://HOST:PORT sends over TLS") }
        if !tls && (tlsCA != nil || tlsCert != nil || tlsKey != nil) {
            throw ValidationError("--tls-ca, --tls-cert and --tls-key apply to TLS: pass \(option) tls://HOST:PORT")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// The uplink to `target`, its files loaded.
    func uplink(to target: String, timeout: TimeAmount = .seconds(15)) throws -> Uplink {
        let (endpoint, tls) = try SenderSecurity.target(target)
        let security: SenderSecurity
        if tls {
            guard let loader = GuestCLI.tls else {
                throw ValidationError("tls://: this guest binary speaks no TLS; send over vsock://2:PORT, serial:PATH or unix:PATH, or with the full vbench")
            }
            security = SenderSecurity(tls: try loader.load(trustedCA: tlsCA, certificate: tlsCert, privateKey: tlsKey),
                                      token: try SenderSecurity(tokenFile: tokenFile).token)
        } else {
            security = try SenderSecurity(tokenFile: tokenFile)
        }
        if tokenFile != nil, !tls, case .tcp(let host, _) = endpoint, !Endpoint.isLoopback(host) {
            note("the token crosses the network to \(host) in the clear; send to tls://\(host):PORT to keep it secret")
        }
        return Uplink(endpoint: endpoint, timeout: timeout, security: security)
    }
}
