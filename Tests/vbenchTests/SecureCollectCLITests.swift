import Foundation
import Testing
import VBenchTestSupport
import VBenchCore

@Suite(.serialized) struct SecureCollectCLITests {
    /// Listening beyond loopback without TLS client certificates or a token: refused before any
    /// socket or store exists, exit 64, saying what to pass instead.
    @Test func anOpenTCPListenerIsRefusedWithWhatToDo() throws {
        let dir = try ScratchFolder()
        let r = try Binary.run(["collect", "--listen", "tcp://0.0.0.0:0", "--store", dir.path + "/s.sqlite"], timeout: 60)
        #expect(r.status == 64, "exit \(r.status): \(r.stderr)")
        for words in ["tcp://0.0.0.0:0 can be reached from other machines", "--tls-cert FILE --tls-key FILE --tls-client-ca FILE",
                      "--token-file FILE", "tcp://127.0.0.1:PORT"] {
            #expect(r.stderr.contains(words), "\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/s.sqlite"))
    }

    @Test(arguments: [
        (["send", "--to", "tcp://127.0.0.1:9", "--tls-ca", "ca.pem"], "pass --to tls://HOST:PORT"),
        (["send", "--to", "tls://127.0.0.1:9", "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["collect", "--listen", "tcp://127.0.0.1:0", "--tls-client-ca", "ca.pem"], "--tls-client-ca needs --tls-cert FILE --tls-key FILE"),
        (["collect", "--listen", "unix:/tmp/x.sock", "--token-file", "t"], "apply to tcp:// listeners"),
    ])
    func securityOptionsOutOfPlaceAreUsageErrors(arguments: [String], message: String) throws {
        let r = try Binary.run(arguments, timeout: 60)
        #expect(r.status == 64 && r.stderr.contains(message), "exit \(r.status): \(r.stderr)")
    }

    /// `collect --token-file` and `send --token-file` end to end: the wrong token is refused
    /// (logged), the right one is stored as `token:NAME`; a token file others can read stops
    /// the collector from starting.
    @Test func tokenCollectorAndSender() throws {
        let dir = try ScratchFolder()
        let token = String(repeating: "5e", count: 32)
        let tokens = try writeSecret(dir, "/tokens", "guest-9 \(token)")
        let record = dir.path + "/run.json"
        try Synthetic.record(iops: [1000]).jsonData().write(to: URL(fileURLWithPath: record))

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: tokens)
        let open = try Binary.run(["collect", "--listen", "tcp://127.0.0.1:0", "--token-file", tokens, "--store", dir.path + "/s.sqlite"], timeout: 60)
        #expect(open.status == 64 && open.stderr.contains("chmod 600 \(tokens)"), "exit \(open.status): \(open.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokens)

        let collector = try CollectorProcess(arguments: ["--listen", "tcp://127.0.0.1:0", "--token-file", tokens,
                                                         "--store", dir.path + "/s.sqlite", "--json-log"])
        #expect(collector.tcpPort > 0)
        let to = "tcp://127.0.0.1:\(collector.tcpPort)"
        let wrong = try writeSecret(dir, "/wrong", String(repeating: "5f", count: 32))
        let refused = try Binary.run(["send", "--to", to, "--token-file", wrong, "--spool", dir.path + "/spool", record], timeout: 60)
        #expect(refused.status == 1 && refused.stderr.contains("unauthenticated"), "\(refused.stdout) \(refused.stderr)")
        let sent = try Binary.run(["send", "--to", to, "--token-file", try writeSecret(dir, "/mine", token), "--spool", dir.path + "/spool"], timeout: 60)
        #expect(sent.status == 0 && sent.stdout.contains("stored 1, already stored 0, still spooled 0"), "\(sent.stdout) \(sent.stderr)")
        #expect(collector.terminate() == 0)
        let log = String(decoding: collector.stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("\"event\":\"rejected\"") && log.contains("the hello's token is not one this collector accepts"), "\(log)")
        let list = try Binary.run(["runs", "list", "--store", dir.path + "/s.sqlite"], timeout: 60)
        #expect(list.stdout.contains("token:guest-9@tcp:127.0.0.1:"), "\(list.stdout)")
    }

    /// `collect --tls-*` and `send --to tls://…`: the certificate's subject is what `runs list` shows.
    @Test(.enabled(if: TestPKI.available, "needs the openssl command line (scripts/deps installs it)"))
    func tlsCollectorAndSender() throws {
        let pki = try TestPKI()
        let dir = try ScratchFolder()
        let record = dir.path + "/run.json"
        try Synthetic.record(iops: [1000]).jsonData().write(to: URL(fileURLWithPath: record))
        let collector = try CollectorProcess(arguments: ["--listen", "tcp://127.0.0.1:0", "--tls-cert", pki.certificate("collector"),
                                                         "--tls-key", pki.key("collector"), "--tls-client-ca", pki.certificate("ca"),
                                                         "--store", dir.path + "/s.sqlite", "--json-log"])
        #expect(collector.tcpPort > 0)
        let to = "tls://127.0.0.1:\(collector.tcpPort)"
        let rogue = try Binary.run(["send", "--to", to, "--tls-ca", pki.certificate("ca"), "--tls-cert", pki.certificate("rogue"),
                                    "--tls-key", pki.key("rogue"), "--spool", dir.path + "/spool", record], timeout: 60)
        #expect(rogue.status == 1, "\(rogue.stdout) \(rogue.stderr)")
        let sent = try Binary.run(["send", "--to", to, "--tls-ca", pki.certificate("ca"), "--tls-cert", pki.certificate("guest"),
                                   "--tls-key", pki.key("guest"), "--spool", dir.path + "/spool"], timeout: 60)
        #expect(sent.status == 0 && sent.stdout.contains("stored 1, already stored 0, still spooled 0"), "\(sent.stdout) \(sent.stderr)")
        #expect(collector.terminate() == 0)
        let log = String(decoding: collector.stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("\"event\":\"rejected\"") && log.contains("unauthenticated: TLS failed"), "\(log)")
        let list = try Binary.run(["runs", "list", "--store", dir.path + "/s.sqlite"], timeout: 60)
        #expect(list.stdout.contains("tls:CN=guest-7,O=lab@tcp:127.0.0.1:"), "\(list.stdout)")
    }

    private func writeSecret(_ dir: ScratchFolder, _ name: String, _ text: String) throws -> String {
        try dir.write(name, text)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir.path + name)
        return dir.path + name
    }
}
