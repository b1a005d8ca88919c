import Foundation
import NIOCore
import Synchronization
import Testing
import VBenchTestSupport
@testable import VBenchCollector
import VBenchCore
import VBenchStore
import VBenchStoreAPI
@testable import VBenchUplink
import VBenchUplinkTLS
import VBenchWire

/// The events a collector reported, for tests to wait on.
final class EventLog: Sendable {
    private let events = Mutex<[CollectorEvent]>([])
    func add(_ e: CollectorEvent) { events.withLock { $0.append(e) } }
    var all: [CollectorEvent] { events.withLock { $0 } }

    /// Waits (at most 20 s, polling) until `predicate` holds for some event; returns that event.
    func wait(for predicate: (CollectorEvent) -> Bool) -> CollectorEvent? {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let e = all.first(where: predicate) { return e }
            usleep(10_000)
        }
        return nil
    }
}

/// A collector on 127.0.0.1 with `security` on its tcp listener.
struct SecuredCollector {
    let collector: Collector
    let store: SQLiteRunStore
    let port: Int
    let log: EventLog

    init(_ dir: ScratchFolder, security: ListenerSecurity) throws {
        store = try SQLiteRunStore(path: dir.path + "/vbench.sqlite")
        var config = Collector.Configuration(endpoints: [.tcp(host: "127.0.0.1", port: 0)], collectorHost: "host",
                                             collectorKernel: "6.18", vsockAllowed: false)
        config.tcpSecurity = security
        let log = EventLog()
        self.log = log
        collector = Collector(configuration: config, store: store) { log.add($0) }
        guard case .tcp(_, let port) = try Endpoint(try collector.start()[0]) else { throw TestPKIError(message: "no tcp listener") }
        self.port = port
    }

    func send(_ record: RunRecord, _ security: SenderSecurity) throws -> [UUID: Ack.Status] {
        try Uplink(endpoint: .tcp(host: "127.0.0.1", port: port), timeout: .seconds(10), security: security).send([record])
    }

    /// The stored peer of `record`, nil when it was not stored.
    func peer(of record: RunRecord) throws -> String? {
        try store.runs(RunQuery()).first { $0.runId == record.runId }?.peer
    }
}

@Suite(.serialized, .enabled(if: TestPKI.available, "needs the openssl command line (scripts/deps installs it)"))
struct TLSListenerTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI() }

    var listener: ListenerSecurity {
        get throws {
            try ListenerSecurity(certificate: pki.certificate("collector"), privateKey: pki.key("collector"),
                                 clientCA: pki.certificate("ca"), tokenFile: nil)
        }
    }

    func sender(_ client: String?, trusting ca: String = "ca") throws -> SenderSecurity {
        try SenderSecurity(tls: true, trustedCA: pki.certificate(ca), certificate: client.map(pki.certificate), privateKey: client.map(pki.key))
    }

    /// The sender is named by its certificate's subject, as openssl prints it, before the TCP peer.
    @Test func aVerifiedSenderIsStoredUnderItsCertificateSubject() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let c = try SecuredCollector(dir, security: try listener)
        defer { c.collector.stop() }
        let record = sampleRecord(1)
        #expect(try c.send(record, try sender("guest"))[record.runId] == .stored)
        let subject = try pki.subject("guest")
        #expect(subject == "CN=guest-7,O=lab")
        let peer = try #require(try c.peer(of: record))
        #expect(peer.hasPrefix("tls:\(subject)@tcp:127.0.0.1:"), "\(peer)")
        #expect(try c.store.record(record.runId) == record)
        #expect(c.log.all.contains { $0.kind == .stored && $0.peer == peer })
    }

    /// Each refused sender stores nothing, the refusal is logged with its reason, and a good
    /// sender is served right after.
    @Test(arguments: ["rogue", "expired", "no certificate", "plain tcp"])
    func refusedSendersStoreNothingAndTheCollectorServesOthers(kind: String) throws {
        let dir = try ScratchFolder(under: "/tmp")
        let c = try SecuredCollector(dir, security: try listener)
        defer { c.collector.stop() }
        let bad = sampleRecord(2)
        let security: SenderSecurity = switch kind {
        case "rogue": try sender("rogue")
        case "expired": try sender("expired")
        case "no certificate": try sender(nil)
        default: .none
        }
        #expect(throws: (any Error).self) { try c.send(bad, security) }
        let refusal = try #require(c.log.wait { $0.kind == .rejected })
        let detail = refusal.detail ?? ""
        #expect(detail.hasPrefix("unauthenticated: TLS failed"), "\(detail)")
        if kind == "expired" { #expect(detail.contains("CN=guest-7,O=lab expired 2021-01-01"), "\(detail)") }
        if kind == "rogue" { #expect(!detail.contains("expired"), "\(detail)") }
        #expect(try c.peer(of: bad) == nil)
        #expect(c.collector.stats.rejected >= 1 && c.collector.stats.stored == 0)

        let good = sampleRecord(3)
        #expect(try c.send(good, try sender("guest"))[good.runId] == .stored)
        #expect(try c.peer(of: good)?.hasPrefix("tls:CN=guest-7,O=lab@") == true)
        #expect(try c.store.runs(RunQuery()).count == 1)
    }

    /// Certificate and token together: a sender needs both, and its certificate names it.
    @Test func certificateAndTokenTogether() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let token = String(repeating: "7c", count: 32)
        let tokens = try pki.tokenFile("tokens", ["guest-7 \(token)"])
        let c = try SecuredCollector(dir, security: try ListenerSecurity(certificate: pki.certificate("collector"), privateKey: pki.key("collector"),
                                                                         clientCA: pki.certificate("ca"), tokenFile: tokens))
        defer { c.collector.stop() }
        let bad = sampleRecord(10), good = sampleRecord(11)
        #expect(throws: UplinkError.self) { try c.send(bad, try sender("guest")) }
        let both = try SenderSecurity(tls: true, trustedCA: pki.certificate("ca"), certificate: pki.certificate("guest"),
                                      privateKey: pki.key("guest"), tokenFile: tokens)
        #expect(try c.send(good, both)[good.runId] == .stored)
        #expect(try c.peer(of: bad) == nil)
        #expect(try c.peer(of: good)?.hasPrefix("tls:CN=guest-7,O=lab@tcp:127.0.0.1:") == true)
    }

    /// The sender checks the collector too: a certificate its CA did not sign is not sent to.
    @Test func aSenderRefusesACollectorItsCADidNotSign() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let c = try SecuredCollector(dir, security: try listener)
        defer { c.collector.stop() }
        let record = sampleRecord(4)
        #expect(throws: (any Error).self) { try c.send(record, try sender("guest", trusting: "other-ca")) }
        #expect(try c.peer(of: record) == nil)
    }

    /// A collector's own certificate and key must belong together, and the files must exist.
    @Test func badFilesAreRefusedWithWhatToPass() throws {
        #expect(throws: ListenerSecurityError.self) {
            try ListenerSecurity(certificate: pki.certificate("collector"), privateKey: pki.key("guest"), clientCA: nil, tokenFile: nil)
        }
        #expect(throws: ListenerSecurityError.self) {
            try ListenerSecurity(certificate: pki.path + "/missing.pem", privateKey: pki.key("collector"), clientCA: nil, tokenFile: nil)
        }
        #expect(throws: ListenerSecurityError.self) {
            try ListenerSecurity(certificate: nil, privateKey: nil, clientCA: pki.certificate("ca"), tokenFile: nil)
        }
    }
}

@Suite(.serialized) struct TokenListenerTests {
    static let named = "guest-7 " + String(repeating: "3f", count: 32)
    static let unnamed = String(repeating: "a1", count: 32)

    func listener(_ dir: ScratchFolder) throws -> ListenerSecurity {
        try dir.write("/tokens", "# guests\n\(Self.named)\n\n\(Self.unnamed)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir.path + "/tokens")
        return try ListenerSecurity(certificate: nil, privateKey: nil, clientCA: nil, tokenFile: dir.path + "/tokens")
    }

    func sender(_ dir: ScratchFolder, _ line: String) throws -> SenderSecurity {
        let name = "/sender-\(UUID().uuidString.prefix(8))"
        try dir.write(name, line)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir.path + name)
        return try SenderSecurity(tls: false, tokenFile: dir.path + name)
    }

    /// A named token names the sender; an unnamed one by the first 8 hex digits of its SHA-256.
    @Test func tokenSendersAreStoredUnderTheTokensName() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let c = try SecuredCollector(dir, security: try listener(dir))
        defer { c.collector.stop() }
        let first = sampleRecord(5), second = sampleRecord(6)
        #expect(try c.send(first, try sender(dir, Self.named))[first.runId] == .stored)
        #expect(try c.send(second, try sender(dir, Self.unnamed))[second.runId] == .stored)
        #expect(try c.peer(of: first)?.hasPrefix("token:guest-7@tcp:127.0.0.1:") == true)
        let hex = SHA256.hex(SHA256.digest(Array(Self.unnamed.utf8)))
        #expect(try c.peer(of: second)?.hasPrefix("token:\(hex.prefix(8))@tcp:127.0.0.1:") == true)
    }

    @Test(arguments: ["missing", "wrong"])
    func sendersWithoutTheTokenAreRefusedAndOthersServed(kind: String) throws {
        let dir = try ScratchFolder(under: "/tmp")
        let c = try SecuredCollector(dir, security: try listener(dir))
        defer { c.collector.stop() }
        let bad = sampleRecord(7)
        // The wrong token shares all but its last character with a good one.
        let security = kind == "missing" ? SenderSecurity.none : try sender(dir, String(Self.unnamed.dropLast()) + "2")
        let error = try #require(throws: UplinkError.self) { try c.send(bad, security) }
        #expect(error.reason.contains("unauthenticated"), "\(error)")
        let refusal = try #require(c.log.wait { $0.kind == .rejected })
        #expect(refusal.detail?.hasPrefix("unauthenticated: " + (kind == "missing" ? "the hello carries no token" : "the hello's token is not one")) == true,
                "\(refusal.detail ?? "")")
        #expect(try c.peer(of: bad) == nil)
        let good = sampleRecord(8)
        #expect(try c.send(good, try sender(dir, Self.named))[good.runId] == .stored)
        #expect(try c.store.runs(RunQuery()).count == 1)
    }

    /// A record sent before any hello (raw bytes, no vbench code on the sending side) gets an
    /// `unauthenticated` error frame and its connection is closed; nothing is stored.
    @Test func aRecordBeforeTheHelloIsRefused() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let c = try SecuredCollector(dir, security: try listener(dir))
        defer { c.collector.stop() }
        var bytes = ByteBuffer()
        try WireMessage.record(sampleRecord(9)).frame().write(to: &bytes)
        let reply = try rawExchange(host: "127.0.0.1", port: c.port, send: Array(bytes.readableBytesView), waitSeconds: 10)
        #expect(reply.contains("\"code\":\"unauthenticated\"") && reply.contains("a record before an accepted hello"), "\(reply)")
        #expect(c.log.wait { $0.kind == .disconnected } != nil)
        #expect(try c.store.runs(RunQuery()).isEmpty)
    }

    /// Token files others may read are refused, on both sides; short tokens too.
    @Test func tokenFilesAreCheckedBeforeUse() throws {
        let dir = try ScratchFolder(under: "/tmp")
        try dir.write("/open", Self.named)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: dir.path + "/open")
        #expect(throws: ListenerSecurityError.token(.tooOpen(dir.path + "/open", mode: 0o640))) {
            try ListenerSecurity(certificate: nil, privateKey: nil, clientCA: nil, tokenFile: dir.path + "/open")
        }
        #expect(throws: SenderSecurityError.token(.tooOpen(dir.path + "/open", mode: 0o640))) {
            try SenderSecurity(tls: false, tokenFile: dir.path + "/open")
        }
        #expect(throws: AccessTokenError.tooShort("t", line: 2)) { try AccessToken.parse("# c\nshort", path: "t") }
        #expect(throws: AccessTokenError.malformed("t", line: 1)) { try AccessToken.parse("a b \(Self.unnamed)", path: "t") }
        #expect(throws: AccessTokenError.empty("t")) { try AccessToken.parse("# nothing\n\n", path: "t") }
        #expect(try AccessToken.parse(Self.named + "\r\n", path: "t") == [AccessToken(name: "guest-7", secret: String(repeating: "3f", count: 32))])
    }
}

@Suite struct ListenerRuleTests {
    @Test(arguments: [("127.0.0.1", true), ("127.8.9.10", true), ("::1", true), ("0:0:0:0:0:0:0:1", true), ("localhost", true),
                      ("LocalHost", true), ("::ffff:127.0.0.1", true), ("0.0.0.0", false), ("::", false), ("10.0.2.2", false),
                      ("128.0.0.1", false), ("192.168.1.20", false), ("example.com", false), ("127.0.0.1.nip.io", false),
                      ("::2", false)])
    func loopbackIsOnlyThisMachine(host: String, loopback: Bool) {
        #expect(ListenerSecurity.isLoopback(host) == loopback)
    }

    /// The library refuses too (not only the CLI), before any socket is bound.
    @Test func anOpenListenerWithoutAuthenticationIsRefused() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let store = try SQLiteRunStore(path: dir.path + "/s.sqlite")
        let collector = Collector(configuration: .init(endpoints: [.tcp(host: "0.0.0.0", port: 0)], collectorHost: "h",
                                                       collectorKernel: "k", vsockAllowed: false), store: store)
        defer { collector.stop() }
        #expect(throws: ListenerSecurityError.unauthenticatedListener("tcp://0.0.0.0:0")) { _ = try collector.start() }
        #expect(ListenerSecurity.refusal(listening: .tcp(host: "::", port: 5000), authenticated: false) != nil)
        #expect(ListenerSecurity.refusal(listening: .tcp(host: "::", port: 5000), authenticated: true) == nil)
        #expect(ListenerSecurity.refusal(listening: .unix(path: "/run/v.sock"), authenticated: false) == nil)
    }

    @Test func subjectsAreWrittenAsRFC4514() {
        #expect(CertificateSubject.text([("O", "lab"), ("CN", "guest-7")]) == "CN=guest-7,O=lab")
        #expect(CertificateSubject.text([("CN", "a,b+c")]) == "CN=a\\,b\\+c")
        #expect(CertificateSubject.text([("CN", "#1 ")]) == "CN=\\#1\\ ")
        #expect(CertificateSubject.text([("CN", "x\ny")]) == "CN=x\\0Ay")
    }

    @Test func tokensMatchOnlyThemselves() {
        let set = AccessTokenSet([AccessToken(name: "a", secret: String(repeating: "x", count: 20)),
                                  AccessToken(secret: String(repeating: "y", count: 20))])
        #expect(set.identity(of: String(repeating: "x", count: 20)) == "token:a")
        #expect(set.identity(of: String(repeating: "y", count: 20))?.hasPrefix("token:") == true)
        #expect(set.identity(of: String(repeating: "x", count: 19)) == nil)
        #expect(set.identity(of: String(repeating: "x", count: 21)) == nil)
        #expect(set.identity(of: "") == nil)
    }
}
