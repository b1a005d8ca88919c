import Glibc
import SystemPackage

/// Small writes and reads of kernel control files and character devices: a sysctl under
/// /proc/sys, a virtio-serial port the host writes a line on.
public enum ControlFile {
    /// Writes `text` into `path` (opened write-only, not created, not truncated: what `echo 2 >`
    /// does to a /proc/sys file).
    public static func write(_ text: String, to path: String) throws(SystemError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path, errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var done = 0
        // A tty or a pipe may take a long text in parts.
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemError("write", path, errno: Errno(rawValue: n < 0 ? errno : EIO)) }
            done += n
        }
    }

    /// The first line `path` yields within `seconds` (without its newline), or nil when none
    /// came in time. The device is opened non-blocking and read as bytes arrive (`poll`).
    public static func firstLine(of path: String, seconds: Double) throws(SystemError) -> String? {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path, errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        let deadline = Clock.monotonicNs() + UInt64(max(0, seconds) * 1e9)
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let now = Clock.monotonicNs()
            guard now < deadline else { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wait = Int32(min(1000, (deadline - now) / 1_000_000 + 1))
            let rc = poll(&p, 1, wait)
            if rc < 0 && errno != EINTR { throw SystemError("poll", path, errno: Errno(rawValue: errno)) }
            guard rc > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw SystemError("read", path, errno: Errno(rawValue: errno))
            }
            if n == 0 {
                // No writer yet (a port the host has not opened): wait, do not spin.
                usleep(50_000)
                continue
            }
            for b in buffer[..<n] {
                if b == 0x0a { return String(decoding: line, as: UTF8.self) }
                line.append(b)
            }
        }
    }
}
