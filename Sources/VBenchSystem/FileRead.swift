import Glibc

/// What reading one file or link gave: its value, nothing because it is absent, or the reason it
/// could not be read. `/proc/1/environ` and `/proc/1/ns/*` need privileges, and "unreadable" is
/// evidence of its own, not a verdict.
public enum FileRead<Value: Sendable & Equatable>: Sendable, Equatable {
    case value(Value)
    case absent
    case unreadable(String)

    /// The value, or nil when absent or unreadable.
    public var value: Value? {
        if case .value(let v) = self { return v }
        return nil
    }
}

extension RootedFileSystem {
    /// The suffix of the file that stands for an unreadable one in a recorded tree: `P.unreadable`
    /// beside a missing `P` holds the reason (`Permission denied`) the recorder met.
    public static let unreadableSuffix = ".unreadable"

    /// Reads a small file like `readString`, and says why when it cannot. In a recorded tree a
    /// missing `P` with a `P.unreadable` beside it reads as unreadable with the reason inside;
    /// recording the live system writes that file for every file it could not read.
    public func readFile(_ path: String) -> FileRead<String> {
        if let text = readString(path) { return .value(text) }
        return failure(path, error: accessError(path))
    }

    /// The raw bytes of a small binary file (an SMBIOS entry), or why not.
    public func readBinary(_ path: String, limit: Int = 4096) -> FileRead<[UInt8]> {
        let fd = open(hostPath(path), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return failure(path, error: errno) }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: limit)
        var n = 0
        repeat { n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } } while n < 0 && errno == EINTR
        guard n >= 0 else { return failure(path, error: errno) }
        out.removeLast(limit - n)
        recorder?.recordFile(path, contents: out)
        return .value(out)
    }

    /// The target of a symlink (`pid:[4026531836]` for a namespace), or why there is none.
    /// Namespace links are recorded as symlinks with that text, dangling as they do in /proc.
    public func readLinkResult(_ path: String) -> FileRead<String> {
        if let target = readLink(path) { return .value(target) }
        var buffer = [CChar](repeating: 0, count: 256)
        let error = readlink(hostPath(path), &buffer, buffer.count) < 0 ? errno : EINVAL
        return failure(path, error: error)
    }

    /// Turns a failed read into absent or unreadable, recording or replaying the reason.
    private func failure<V>(_ path: String, error: Int32) -> FileRead<V> {
        if error == ENOENT || error == ENOTDIR {
            if !isLive, let reason = readString(path + Self.unreadableSuffix) { return .unreadable(reason) }
            return .absent
        }
        let reason = String(cString: strerror(error))
        recorder?.recordText(path + Self.unreadableSuffix, reason + "\n")
        return .unreadable(reason)
    }

    /// Why reading `path` fails now (ENOENT when it does not exist).
    private func accessError(_ path: String) -> Int32 {
        let fd = open(hostPath(path), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var byte: UInt8 = 0
        return Glibc.read(fd, &byte, 1) < 0 ? errno : EIO
    }
}
