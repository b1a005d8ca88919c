import FoundationEssentials
import VBenchCore

/// A shared secret a sender presents in its hello (`--token-file`). A token file holds one
/// token per line, optionally named (`NAME TOKEN`); `#` starts a comment. A collector accepts
/// any of its file's tokens, a sender presents its file's first one.
public struct AccessToken: Sendable, Equatable {
    /// The fewest characters a token may have (`openssl rand -hex 32` gives 64).
    public static let minimumLength = 16

    public var name: String?
    public var secret: String

    /// The token as the collector names its holder: `token:NAME`, else `token:` and the first
    /// 8 hex digits of the token's SHA-256 (which does not reveal the token).
    public var identity: String { "token:" + (name ?? String(SHA256.hex(SHA256.digest(Array(secret.utf8))).prefix(8))) }

    public init(name: String? = nil, secret: String) {
        self.name = name
        self.secret = secret
    }

    /// Reads the tokens of a file. A file that group or others may read or write is refused
    /// (as ssh refuses such a key): anyone who reads it can send as its holder.
    public static func load(_ path: String) throws(AccessTokenError) -> [AccessToken] {
        let fm = FileManager.default
        guard let attributes = try? fm.attributesOfItem(atPath: path), let data = fm.contents(atPath: path) else {
            throw .unreadable(path)
        }
        let mode = (attributes[.posixPermissions] as? Int) ?? 0
        guard mode & 0o077 == 0 else { throw .tooOpen(path, mode: mode) }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    /// The tokens of a token file's text.
    public static func parse(_ text: String, path: String) throws(AccessTokenError) -> [AccessToken] {
        var tokens: [AccessToken] = []
        for (n, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            guard fields.count <= 2 else { throw .malformed(path, line: n + 1) }
            let token = AccessToken(name: fields.count == 2 ? String(first) : nil, secret: String(fields[fields.count - 1]))
            guard token.secret.count >= minimumLength else { throw .tooShort(path, line: n + 1) }
            tokens.append(token)
        }
        guard !tokens.isEmpty else { throw .empty(path) }
        return tokens
    }
}

/// The tokens a listener accepts, kept as SHA-256 digests and compared in constant time.
public struct AccessTokenSet: Sendable {
    private let entries: [(digest: [UInt8], identity: String)]

    public init(_ tokens: [AccessToken]) {
        entries = tokens.map { (SHA256.digest(Array($0.secret.utf8)), $0.identity) }
    }

    /// The identity of the token `presented` matches, or nil. Every entry is compared over all
    /// 32 bytes of the digests, whether or not an earlier one matched: the time taken says
    /// nothing about how much of a guess was right.
    public func identity(of presented: String) -> String? {
        let digest = SHA256.digest(Array(presented.utf8))
        var found: String?
        for entry in entries {
            var difference: UInt8 = 0
            for i in 0..<32 { difference |= entry.digest[i] ^ digest[i] }
            if difference == 0 && found == nil { found = entry.identity }
        }
        return found
    }
}

/// Why a token file cannot be used.
public enum AccessTokenError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case tooOpen(String, mode: Int)
    case malformed(String, line: Int)
    case tooShort(String, line: Int)
    case empty(String)

    public var description: String {
        switch self {
        case .unreadable(let p): "cannot read the token file \(p); name a file holding a token (make one with `openssl rand -hex 32 > FILE; chmod 600 FILE`)"
        case let .tooOpen(p, mode):
            "the token file \(p) may be read or written by group or others (mode \(String(mode, radix: 8))); `chmod 600 \(p)`: whoever reads it can send as its holder"
        case let .malformed(p, line): "\(p):\(line): a token line is TOKEN or NAME TOKEN (no spaces inside either)"
        case let .tooShort(p, line): "\(p):\(line): a token has at least \(AccessToken.minimumLength) characters; make one with `openssl rand -hex 32`"
        case .empty(let p): "the token file \(p) holds no token; put one in with `openssl rand -hex 32 > \(p)`"
        }
    }
}
