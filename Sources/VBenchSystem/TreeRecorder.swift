import Glibc
import Synchronization

/// Copies every file, link and directory the probe reads into a folder, so a live system can
/// become a fixture (`vbench probe --record DIR`). Read-only on the live side.
public final class TreeRecorder: Sendable {
    public let destination: String
    private let failures = Mutex<[String]>([])

    public init(destination: String) {
        var d = destination
        while d.count > 1 && d.hasSuffix("/") { d.removeLast() }
        self.destination = d
    }

    /// Paths that could not be recorded.
    public var failedPaths: [String] { failures.withLock { $0 } }

    func recordFile(_ path: String, contents: [UInt8]) {
        let target = destination + path
        makeParents(target)
        let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return fail(path) }
        defer { close(fd) }
        _ = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    func recordExistence(_ path: String) {
        let target = destination + path
        var st = stat()
        if lstat(target, &st) == 0 { return }
        makeParents(target)
        let fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        if fd >= 0 { close(fd) }
    }

    /// Records a listed folder: sub-folders (with a `.keep` file, so git holds them even when
    /// empty) and symlinks appear at once; regular files only when they are read.
    func recordDirectory(_ path: String, entries: [String], hostPath: String) {
        let target = destination + path
        makeDirectory(target)
        for name in entries {
            var st = stat()
            guard lstat(hostPath + "/" + name, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: 4096)
                let n = readlink(hostPath + "/" + name, &buffer, buffer.count - 1)
                if n > 0 {
                    let link = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    recordLink(path + "/" + name, target: link)
                }
            case S_IFDIR:
                makeDirectory(target + "/" + name)
                let keep = open(target + "/" + name + "/" + Self.keepFile, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
                if keep >= 0 { close(keep) }
            default:
                break
            }
        }
    }

    /// The file that holds an otherwise empty recorded folder in git; the probe ignores it.
    public static let keepFile = ".keep"

    func recordLink(_ path: String, target linkTarget: String) {
        let target = destination + path
        makeParents(target)
        unlink(target)
        // Absolute links would escape the recorded tree: make them relative to the root.
        var stored = linkTarget
        if linkTarget.hasPrefix("/") {
            let depth = path.split(separator: "/").count - 1
            stored = String(repeating: "../", count: depth) + linkTarget.dropFirst()
        }
        if symlink(stored, target) != 0 { fail(path) }
    }

    private func fail(_ path: String) { failures.withLock { $0.append(path) } }

    private func makeParents(_ path: String) {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        makeDirectory(parts.joined(separator: "/"))
    }

    private func makeDirectory(_ path: String) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            var st = stat()
            if lstat(current, &st) == 0 {
                // A symlink recorded earlier stands for a directory: follow it as is.
                continue
            }
            mkdir(current, 0o755)
        }
    }
}

extension TreeRecorder {
    /// Records a file that the live system computes rather than reads (CPUID answers).
    public func recordText(_ path: String, _ text: String) {
        recordFile(path, contents: Array(text.utf8))
    }
}
