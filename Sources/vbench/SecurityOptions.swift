import ArgumentParser
import VBenchGuestCLI
import NIOCore
import VBenchCollector
import VBenchUplink
import VBenchUplinkTLS
import VBenchWire

/// How `collect` authenticates the senders on its tcp:// listeners.
struct ListenerSecurityOptions: ParsableArguments {
    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Speak TLS on every tcp:// listener with this certificate chain (PEM); needs --tls-key.", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The private key (PEM) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("tls-client-ca"), help: ArgumentHelp("Take records only from TLS senders whose client certificate this CA (PEM) signed; the certificate's subject is stored as the sender (tls:CN=…@tcp:IP:PORT).", valueName: "file"))
    var tlsClientCA: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("Take records on tcp:// only from senders whose hello carries a token of this file (lines TOKEN or NAME TOKEN, mode 600); stored as the sender (token:NAME@tcp:IP:PORT).", valueName: "file"))
    var tokenFile: String?

    /// Whether tcp senders must prove who they are.
    var authenticates: Bool { tlsClientCA != nil || tokenFile != nil }

    /// The rules between the options and the listeners; a tcp listener beyond loopback must
    /// authenticate its senders.
    func check(_ endpoints: [Endpoint]) throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsClientCA != nil && tlsCert == nil {
            throw ValidationError("--tls-client-ca needs --tls-cert FILE --tls-key FILE: the collector's own certificate and key")
        }
        let anyGiven = tlsCert != nil || tokenFile != nil
        if anyGiven && !endpoints.contains(where: { if case .tcp = $0 { true } else { false } }) {
            throw ValidationError("--tls-cert, --tls-client-ca and --token-file apply to tcp:// listeners; none is listened on")
        }
        for endpoint in endpoints {
            if let refusal = ListenerSecurity.refusal(listening: endpoint, authenticated: authenticates) {
                throw ValidationError(refusal.description)
            }
        }
    }

    /// What tcp senders must present, for the start-up note; nil: nothing.
    var demands: String? {
        let parts = [tlsClientCA.map { "a client certificate signed by \($0) (TLS)" } ?? (tlsCert != nil ? "TLS" : nil),
                     tokenFile.map { "a token of \($0)" }].compactMap { $0 }
        return parts.isEmpty ? nil : parts.joined(separator: " and ")
    }

    /// The loaded security of the tcp listeners; nil when no option is given.
    func load() throws(ListenerSecurityError) -> ListenerSecurity? {
        guard tlsCert != nil || tlsKey != nil || tlsClientCA != nil || tokenFile != nil else { return nil }
        return try ListenerSecurity(certificate: tlsCert, privateKey: tlsKey, clientCA: tlsClientCA, tokenFile: tokenFile)
    }
}
