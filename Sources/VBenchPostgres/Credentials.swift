import FoundationEssentials
import VBenchStore
import VBenchStoreAPI

/// Where a PostgreSQL password comes from, in order: `PGPASSWORD`; the URL's `passfile`, else
/// `PGPASSFILE`, else ~/.pgpass (libpq's `host:port:database:user:password` lines, `*`
/// matching anything; a file with a single line and no colon is taken as the password itself).
/// Never the command line.
public enum PostgresCredentials {
    public static func password(for url: PostgresURL, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let p = environment["PGPASSWORD"], !p.isEmpty { return p }
        let explicit = url.passfile ?? environment["PGPASSFILE"]
        let path = explicit ?? environment["HOME"].map { $0 + "/.pgpass" }
        guard let path else { return nil }
        guard FileManager.default.fileExists(atPath: path) else {
            if explicit != nil { throw StoreError(path: url.description, reason: "the password file \(path) does not exist") }
            return nil
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let mode = attributes?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw StoreError(path: url.description,
                             reason: "the password file \(path) can be read by other users; `chmod 600 \(path)` and try again")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError(path: url.description, reason: "cannot read the password file \(path)")
        }
        return match(String(decoding: data, as: UTF8.self), url: url)
    }

    /// The password of the first line matching `url`, libpq's rules.
    static func match(_ text: String, url: PostgresURL) -> String? {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty }
        if lines.count == 1, !lines[0].contains(":") { return lines[0] }
        let host = url.socketDirectory == nil ? url.host : "localhost"
        for line in lines {
            let fields = split(line)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(url.port), url.database, url.user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// Splits on unescaped colons; `\:` and `\\` stand for themselves.
    static func split(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for ch in line {
            if escaped { current.append(ch); escaped = false }
            else if ch == "\\" { escaped = true }
            else if ch == ":" && fields.count < 4 { fields.append(current); current = "" }
            else { current.append(ch) }
        }
        fields.append(current)
        return fields
    }
}

/// Opens a store from its location: the one place that knows both backends.
public enum RunStores {
    /// - Parameters:
    ///   - create: a SQLite store that does not exist yet is created (collectors,
    ///     `vbench run`); readers pass false and get a clear error instead of an empty store.
    ///   - retryWindow: how long a PostgreSQL store retries a lost or restarting server.
    public static func open(_ location: StoreLocation, create: Bool, retryWindow: Duration = .seconds(60)) throws -> any RunStore {
        switch location {
        case .sqlite(let path):
            if !create && !FileManager.default.fileExists(atPath: path) {
                throw StoreError(path: path, reason: "no results store here; run `vbench run` or `vbench collect` first, or pass --store PATH|postgres://…")
            }
            return try SQLiteRunStore(path: path)
        case .postgres(let url):
            return try PostgresRunStore(url: url, retryWindow: retryWindow)
        }
    }
}
