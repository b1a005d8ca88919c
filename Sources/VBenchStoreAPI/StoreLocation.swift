import FoundationEssentials
import VBenchCore

/// Where a results store is: a SQLite file, or a PostgreSQL database named by a URL.
/// `--store results/vbench.sqlite` and `--store postgres://vbench@db.example:5432/vbench`.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresURL)

    public init(_ text: String) throws(StoreLocationError) {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(try PostgresURL(text))
        } else if text.contains("://") {
            throw StoreLocationError(text: text, reason: "unknown scheme; use a SQLite file path or postgres://USER@HOST:PORT/DATABASE")
        } else if text.isEmpty {
            throw StoreLocationError(text: text, reason: "empty; use a SQLite file path or postgres://USER@HOST:PORT/DATABASE")
        } else {
            self = .sqlite(path: text.hasPrefix("sqlite:") ? String(text.dropFirst("sqlite:".count)) : text)
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let url): url.description
        }
    }
}

/// Why a `--store` value was refused.
public struct StoreLocationError: CausedError, Sendable {
    public var cause: FailureCause { .usage }
    public var text: String
    public var reason: String
    public var description: String { "--store '\(text)': \(reason)" }
}

/// `postgres://USER@HOST:PORT/DATABASE?sslmode=disable|require&passfile=PATH&host=/run/postgresql`.
/// A password in the URL is refused: a command line is visible to every user in `ps` and
/// stays in shell history. It comes from `PGPASSWORD`, from `passfile` (or `PGPASSFILE`,
/// or ~/.pgpass, in libpq's format), or not at all (trust or peer authentication).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, require }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    /// A directory holding the server's Unix socket (`.s.PGSQL.PORT`), from `?host=/dir`.
    public var socketDirectory: String?
    public var tls: TLSMode
    public var passfile: String?

    public init(user: String, host: String, port: Int = 5432, database: String, socketDirectory: String? = nil,
                tls: TLSMode = .disable, passfile: String? = nil) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.socketDirectory = socketDirectory
        self.tls = tls
        self.passfile = passfile
    }

    public init(_ text: String) throws(StoreLocationError) {
        func fail(_ reason: String) -> StoreLocationError { StoreLocationError(text: Self.redacted(text), reason: reason) }
        guard let schemeEnd = text.firstRange(of: "://") else { throw fail("not a postgres:// URL") }
        var rest = Substring(text[schemeEnd.upperBound...])
        var queryText: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var pathPart: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            pathPart = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        guard let at = rest.lastIndex(of: "@") else {
            throw fail("no user; write postgres://USER@HOST:PORT/DATABASE")
        }
        let userInfo = rest[..<at]
        let hostPort = rest[rest.index(after: at)...]
        if userInfo.contains(":") {
            throw fail("a password in the URL would show in `ps` and in shell history; put it in PGPASSWORD or in a password file (?passfile=PATH, PGPASSFILE or ~/.pgpass) and leave it out of the URL")
        }
        guard let user = Self.percentDecoded(userInfo), !user.isEmpty else { throw fail("no user; write postgres://USER@HOST:PORT/DATABASE") }
        var host = ""
        var port = 5432
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("unclosed [ in an IPv6 host") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw fail("the port must be 1…65535") }
                port = p
            } else if !after.isEmpty { throw fail("unexpected '\(after)' after the IPv6 host") }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else { throw fail("the port must be 1…65535") }
            port = p
        } else {
            host = String(hostPort)
        }
        guard let database = Self.percentDecoded(pathPart), !database.isEmpty, !database.contains("/") else {
            throw fail("no database; write postgres://USER@HOST:PORT/DATABASE")
        }
        var socketDirectory: String?
        var tls = TLSMode.disable
        var passfile: String?
        for pair in queryText.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1)
            let key = String(kv[0])
            let value = kv.count == 2 ? (Self.percentDecoded(kv[1]) ?? "") : ""
            switch key {
            case "sslmode":
                switch value {
                case "disable": tls = .disable
                case "require", "verify-full": tls = .require
                default: throw fail("sslmode must be disable or require; got '\(value)'")
                }
            case "passfile": passfile = value
            case "host":
                guard value.hasPrefix("/") else { throw fail("?host= names a socket directory and must start with /") }
                socketDirectory = value
            case "password":
                throw fail("a password in the URL would show in `ps` and in shell history; use PGPASSWORD or ?passfile=PATH")
            default:
                throw fail("unknown parameter '\(key)'; known: sslmode, passfile, host")
            }
        }
        if host.isEmpty && socketDirectory == nil { throw fail("no host; write postgres://USER@HOST:PORT/DATABASE") }
        self.init(user: user, host: host, port: port, database: database, socketDirectory: socketDirectory, tls: tls, passfile: passfile)
    }

    /// The URL as given, without a password (there never is one).
    public var description: String {
        var s = "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
        var params: [String] = []
        if let socketDirectory { params.append("host=\(socketDirectory)") }
        if tls != .disable { params.append("sslmode=\(tls.rawValue)") }
        if let passfile { params.append("passfile=\(passfile)") }
        if !params.isEmpty { s += "?" + params.joined(separator: "&") }
        return s
    }

    /// `text` with any password blanked (in the user part or a `password=` parameter), for
    /// error messages.
    static func redacted(_ text: String) -> String {
        var out = text
        if let q = out.firstIndex(of: "?") {
            let params = out[out.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map { pair in
                pair.hasPrefix("password=") ? "password=***" : String(pair)
            }
            out = String(out[...q]) + params.joined(separator: "&")
        }
        guard let s = out.firstRange(of: "://"), let at = out[s.upperBound...].lastIndex(of: "@") else { return out }
        let info = out[s.upperBound..<at]
        guard let colon = info.firstIndex(of: ":") else { return out }
        return String(out[..<colon]) + ":***" + String(out[at...])
    }

    static func percentDecoded(_ s: Substring) -> String? {
        var bytes: [UInt8] = []
        var i = s.utf8.startIndex
        let u = s.utf8
        while i < u.endIndex {
            let b = u[i]
            if b == UInt8(ascii: "%") {
                let h1 = u.index(after: i)
                guard h1 < u.endIndex else { return nil }
                let h2 = u.index(after: h1)
                guard h2 < u.endIndex, let v = UInt8(String(decoding: [u[h1], u[h2]], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(v)
                i = u.index(after: h2)
            } else {
                bytes.append(b)
                i = u.index(after: i)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
