import Foundation

/// Certificates for TLS tests, made by the `openssl` command line in a scratch folder: a CA,
/// a collector certificate for 127.0.0.1 and localhost, a client certificate it signed
/// (`O=lab, CN=guest-7`), one another CA signed (`rogue`), one that expired in 2021
/// (`expired`), and token files.
public final class TestPKI {
    public let folder: ScratchFolder
    public var path: String { folder.path }

    /// Whether the openssl command line is installed (scripts/deps installs it).
    public static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") }

    public init() throws {
        folder = try ScratchFolder(under: "/tmp")
        try makeCA("ca", subject: "/CN=vbench test CA")
        try makeCA("other-ca", subject: "/CN=someone else's CA")
        try request("collector", subject: "/CN=collector")
        try folder.write("/collector.ext", "subjectAltName = IP:127.0.0.1, DNS:localhost")
        try sign("collector", by: "ca", extensions: "collector.ext")
        try request("guest", subject: "/O=lab/CN=guest-7")
        try sign("guest", by: "ca")
        try request("rogue", subject: "/O=lab/CN=guest-7")
        try sign("rogue", by: "other-ca")
        try request("expired", subject: "/O=lab/CN=guest-7")
        // `openssl ca` sets explicit validity dates (OpenSSL 3.0 has no -not_after in x509).
        try FileManager.default.createDirectory(atPath: path + "/db", withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path + "/db/index.txt", contents: Data()) else {
            throw TestPKIError(message: "cannot create \(path)/db/index.txt")
        }
        try folder.write("/db/ca.cnf", """
            [ca]
            default_ca = test
            [test]
            database = \(path)/db/index.txt
            new_certs_dir = \(path)/db
            rand_serial = yes
            default_md = sha256
            policy = any
            unique_subject = no
            [any]
            commonName = supplied
            organizationName = optional
            """)
        try openssl(["ca", "-batch", "-config", "db/ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "expired.csr",
                     "-out", "expired.pem", "-startdate", "20200101000000Z", "-enddate", "20210101000000Z", "-notext", "-preserveDN"])
    }

    /// `NAME.pem` and `NAME.key` of a certificate made here (`ca`, `collector`, `guest`, `rogue`, `expired`).
    public func certificate(_ name: String) -> String { "\(path)/\(name).pem" }
    public func key(_ name: String) -> String { "\(path)/\(name).key" }

    /// Writes a token file with `lines` and `mode`; returns its path.
    public func tokenFile(_ name: String, _ lines: [String], mode: Int = 0o600) throws -> String {
        let file = "\(path)/\(name)"
        try folder.write("/" + name, lines.joined(separator: "\n"))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }

    /// The subject as `openssl x509 -subject -nameopt RFC2253` prints it (`CN=guest-7,O=lab`).
    public func subject(_ name: String) throws -> String {
        let out = try openssl(["x509", "-in", certificate(name), "-noout", "-subject", "-nameopt", "RFC2253"])
        return out.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "subject=", with: "")
    }

    private func makeCA(_ name: String, subject: String) throws {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(name).key",
                     "-out", "\(name).pem", "-subj", subject, "-days", "30"])
    }

    private func request(_ name: String, subject: String) throws {
        try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(name).key",
                     "-out", "\(name).csr", "-subj", subject])
    }

    private func sign(_ name: String, by ca: String, extensions: String? = nil) throws {
        try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial",
                     "-out", "\(name).pem", "-days", "30"] + (extensions.map { ["-extfile", $0] } ?? []))
    }

    @discardableResult
    private func openssl(_ arguments: [String]) throws -> String {
        let (status, output) = try TestCommand.run(["sh", "-c", "cd \"$0\" && exec openssl \"$@\"", path] + arguments)
        guard status == 0 else { throw TestPKIError(message: "openssl \(arguments.joined(separator: " ")): \(output)") }
        return output
    }
}

public struct TestPKIError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
