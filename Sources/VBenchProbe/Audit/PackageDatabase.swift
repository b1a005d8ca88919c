import VBenchCore
import VBenchSystem

/// Which packages the guest has installed: dpkg's status file. The rpm database is a SQLite or
/// Berkeley DB file that the lean guest binary does not read; there the answer is unknown and
/// the audit looks for the files the package installs instead.
struct PackageDatabase: Sendable {
    enum Answer: Equatable {
        case installed(String)
        case notInstalled
        case unknown(String)
    }

    static let dpkgStatus = "/var/lib/dpkg/status"

    /// The database read (for evidence).
    let path: String
    /// Package name → `Version` of every package dpkg says is installed; nil when unreadable.
    let installed: [String: String]?
    let reason: String?

    init(fs: RootedFileSystem, watched: Set<String>) {
        if let text = fs.readLargeString(Self.dpkgStatus, limit: 64 << 20, recording: { Self.stanzas(of: $0, keeping: watched) }) {
            path = Self.dpkgStatus
            let parsed = Self.parse(text)
            if parsed.isEmpty && !text.trimmingCharacters().isEmpty {
                installed = nil
                reason = "\(Self.dpkgStatus) holds no `Package:` stanza (malformed)"
            } else {
                installed = parsed
                reason = nil
            }
        } else if fs.isDirectory("/var/lib/rpm") || fs.exists("/usr/lib/sysimage/rpm/rpmdb.sqlite") {
            path = "/var/lib/rpm"
            installed = nil
            reason = "the rpm database is not read by vbench"
        } else if fs.exists(Self.dpkgStatus) {
            path = Self.dpkgStatus
            installed = nil
            reason = "\(Self.dpkgStatus) is unreadable or larger than 64 MiB"
        } else {
            path = "none"
            installed = nil
            reason = "no dpkg status file and no rpm database"
        }
    }

    func isInstalled(_ package: String) -> Answer {
        guard let installed else { return .unknown(reason ?? "no package database") }
        return installed[package].map { .installed($0) } ?? .notInstalled
    }

    /// Installed packages of a dpkg status file (`Status: install ok installed`).
    static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for stanza in text.split(separator: "\n\n", omittingEmptySubsequences: true) {
            var name: String?, status: String?, version: String?
            for line in stanza.split(separator: "\n") {
                if line.hasPrefix("Package:") { name = String(line.dropFirst(8)).trimmingCharacters() }
                else if line.hasPrefix("Status:") { status = String(line.dropFirst(7)).trimmingCharacters() }
                else if line.hasPrefix("Version:") { version = String(line.dropFirst(8)).trimmingCharacters() }
            }
            if let name, let status, status.hasSuffix(" installed") { out[name] = version ?? "?" }
        }
        return out
    }

    /// The stanzas of `watched` packages (what a recorded tree keeps of a 1 MB status file).
    static func stanzas(of text: String, keeping watched: Set<String>) -> String {
        text.split(separator: "\n\n", omittingEmptySubsequences: true).filter { stanza in
            stanza.split(separator: "\n").contains { $0.hasPrefix("Package:") && watched.contains(String($0.dropFirst(8)).trimmingCharacters()) }
        }.joined(separator: "\n\n") + "\n"
    }
}
