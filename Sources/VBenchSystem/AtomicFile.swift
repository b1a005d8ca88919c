import Glibc
import SystemPackage

/// Writes files so that a reader sees the old state or the whole new file, never half of it.
public enum AtomicFile {
    /// Writes `bytes` to `path` through a temporary file, fsync and rename.
    /// Refuses to replace an existing file unless `replace` is true.
    public static func write(_ bytes: [UInt8], to path: String, replace: Bool = false) throws(SystemError) {
        if !replace, access(path, F_OK) == 0 { throw SystemError("create", path, errno: .fileExists) }
        let temp = temporaryPath(for: path)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open", temp, errno: Errno(rawValue: errno)) }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(temp) }
        }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.write(fd, base + done, raw.count - done)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write", temp, errno: Errno(rawValue: errno))
            }
            done += n
        }
        guard fsync(fd) == 0 else { throw SystemError("fsync", temp, errno: Errno(rawValue: errno)) }
        guard rename(temp, path) == 0 else { throw SystemError("rename", path, errno: Errno(rawValue: errno)) }
        ok = true
        // Make the rename itself durable.
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        try syncFolder(dir.isEmpty ? "/" : dir)
    }

    /// The temporary file `write` uses for `path` in this process; a crash between its creation
    /// and the rename leaves it behind (`isStaleTemporary` tells such leftovers).
    public static func temporaryPath(for path: String) -> String { path + ".tmp-\(getpid())" }

    /// Whether `name` is a temporary file of `write` whose process is gone: safe to remove.
    public static func isStaleTemporary(_ name: String) -> Bool {
        guard let dash = name.lastIndex(of: "-"), name[..<dash].hasSuffix(".tmp"),
              let pid = Int32(name[name.index(after: dash)...]), pid > 0 else { return false }
        return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
    }

    /// fsyncs a folder, so a rename or unlink in it survives a crash.
    public static func syncFolder(_ name: String) throws(SystemError) {
        let dfd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw SystemError("open", name, errno: Errno(rawValue: errno)) }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw SystemError("fsync", name, errno: Errno(rawValue: errno)) }
    }

    /// Creates `path` and its parents (mode 0755), like `mkdir -p`.
    public static func makeDirectories(_ path: String) throws(SystemError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw SystemError("mkdir", current, errno: Errno(rawValue: errno))
            }
        }
    }
}

/// Undoes what vbench changed when the user interrupts the run (SIGINT, SIGTERM): removes the
/// file it created and writes back a sysfs setting it switched (the disk's I/O scheduler), then
/// exits with 128 + signal, as a shell would report.
public enum InterruptCleanup {
    nonisolated(unsafe) private static var path: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var restorePath: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var restoreText: UnsafeMutablePointer<CChar>?

    /// Arms the handler for `file`; pass nil to disarm.
    public static func arm(removing file: String?) {
        let old = path
        path = file.map { strdup($0) }
        if let old { free(old) }
        install()
    }

    /// Arms the handler to write `text` into `file` (a sysfs setting); pass nil to disarm.
    public static func arm(restoring file: String?, to text: String = "") {
        let (oldPath, oldText) = (restorePath, restoreText)
        restoreText = file == nil ? nil : strdup(text)
        restorePath = file.map { strdup($0) }
        if let oldPath { free(oldPath) }
        if let oldText { free(oldText) }
        install()
    }

    private static func install() {
        let handler: @convention(c) (Int32) -> Void = { sig in
            // open, write, close and unlink are async-signal-safe.
            if let p = InterruptCleanup.restorePath, let t = InterruptCleanup.restoreText {
                let fd = open(p, O_WRONLY | O_CLOEXEC)
                if fd >= 0 { _ = Glibc.write(fd, t, strlen(t)); close(fd) }
            }
            if let p = InterruptCleanup.path { unlink(p) }
            _exit(128 + sig)
        }
        let active = path != nil || restorePath != nil
        signal(SIGINT, active ? handler : SIG_DFL)
        signal(SIGTERM, active ? handler : SIG_DFL)
    }
}
