import Glibc

/// Read-only access to `/sys`, `/proc` and `/dev` below a root prefix, so that the probe reads
/// the live system (`/`) or a recorded tree (`Tests/Fixtures/NAME`) through the same code.
public struct RootedFileSystem: Sendable {
    /// The prefix every path is read under; `/` for the live system.
    public let root: String
    /// Where every read is copied to (`vbench probe --record DIR`), or nil.
    public let recorder: TreeRecorder?

    public init(root: String = "/", recorder: TreeRecorder? = nil) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
        self.recorder = recorder
    }

    /// True when reading the live system.
    public var isLive: Bool { root == "/" }

    /// The host path of `path` (absolute, as seen by the probed system).
    public func hostPath(_ path: String) -> String {
        root == "/" ? path : root + path
    }

    /// The contents of a small file with trailing whitespace removed, or nil when unreadable.
    public func readString(_ path: String) -> String? {
        readString(path, record: true)
    }

    /// `readString`, kept out of a recording unless `record` (the caller records what a fixture
    /// needs, e.g. only the processes that matter out of every /proc/N/comm).
    public func readString(_ path: String, record: Bool) -> String? {
        let path = record ? canonicalForRecording(path) : path
        guard let bytes = readBytes(hostPath(path), limit: 1 << 20) else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        while let last = text.last, last.isWhitespace || last == "\0" { text.removeLast() }
        if record { recorder?.recordFile(path, contents: bytes) }
        return text
    }

    /// A file larger than `readString` takes (dpkg's status database), up to `limit` bytes,
    /// or nil when unreadable or longer than `limit`. A recording keeps only `recorded(text)`,
    /// the part a fixture needs, instead of the whole file.
    public func readLargeString(_ path: String, limit: Int, recording recorded: (String) -> String) -> String? {
        guard let bytes = readBytes(hostPath(path), limit: limit + 1), bytes.count <= limit else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        recorder?.recordText(path, recorded(text))
        return text
    }

    /// An integer file (decimal or 0x-prefixed hex), or nil.
    public func readInt(_ path: String) -> Int64? {
        guard let s = readString(path)?.trimmingCharacters() else { return nil }
        if s.hasPrefix("0x") { return Int64(s.dropFirst(2), radix: 16) }
        return Int64(s)
    }

    /// Whether `path` exists (following symlinks).
    public func exists(_ path: String) -> Bool {
        let path = canonicalForRecording(path)
        var st = stat()
        let ok = stat(hostPath(path), &st) == 0
        if ok, !isDirectory(path) { recorder?.recordExistence(path) }
        return ok
    }

    /// Whether `path` is a directory (following symlinks).
    public func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(hostPath(path), &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Entry names of a directory (no `.`/`..`), sorted; empty when unreadable.
    public func list(_ path: String) -> [String] {
        list(path, record: true)
    }

    /// `list`, kept out of a recording unless `record`.
    public func list(_ path: String, record: Bool) -> [String] {
        let path = record ? canonicalForRecording(path) : path
        guard let dir = opendir(hostPath(path)) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." && name != TreeRecorder.keepFile { names.append(name) }
        }
        names.sort()
        if record { recorder?.recordDirectory(path, entries: names, hostPath: hostPath(path)) }
        return names
    }

    /// The target of a symlink as stored (relative or absolute), or nil.
    public func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(hostPath(path), &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        recorder?.recordLink(path, target: target)
        return target
    }

    /// The canonical path (symlinks resolved) of `path`, as seen by the probed system.
    /// Resolution happens component by component inside the root, so recorded trees work.
    public func resolve(_ path: String) -> String? {
        var resolved: [String] = []
        var pending = path.split(separator: "/").map(String.init)
        var hops = 0
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part == "." || part.isEmpty { continue }
            if part == ".." { if !resolved.isEmpty { resolved.removeLast() }; continue }
            let candidate = "/" + (resolved + [part]).joined(separator: "/")
            if let target = readLink(candidate) {
                hops += 1
                if hops > 64 { return nil }
                let parts = target.split(separator: "/").map(String.init)
                if target.hasPrefix("/") { resolved = [] }
                pending = parts + pending
            } else {
                var st = stat()
                guard lstat(hostPath(candidate), &st) == 0 else { return nil }
                resolved.append(part)
            }
        }
        return "/" + resolved.joined(separator: "/")
    }

    /// While recording, reads go through canonical paths so links and files land consistently.
    private func canonicalForRecording(_ path: String) -> String {
        guard recorder != nil else { return path }
        return resolve(path) ?? path
    }

    private func readBytes(_ hostPath: String, limit: Int) -> [UInt8]? {
        let fd = open(hostPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return out.isEmpty ? nil : out }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }
}

extension String {
    /// The string without leading and trailing whitespace.
    public func trimmingCharacters() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
