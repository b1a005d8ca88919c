import CVBenchShims
import Glibc
import SystemPackage

/// Messages with descriptors attached (SCM_RIGHTS) on a Unix stream socket: how a vhost-user
/// frontend (QEMU) hands over guest memory and its eventfds.
/// The corresponding C functions are `recvmsg` and `sendmsg`.
public enum DescriptorPassing {
    /// Reads up to `count` bytes and any descriptors sent with them. Returns nil at end of file.
    /// More than `maxDescriptors` descriptors is an error (they are all closed).
    public static func receive(_ fd: Int32, count: Int, maxDescriptors: Int = 8) throws(SystemError) -> (bytes: [UInt8], descriptors: [Int32])? {
        var bytes = [UInt8](repeating: 0, count: count)
        var fds = [Int32](repeating: -1, count: max(1, min(maxDescriptors, 16)))
        var n: Int32 = 0
        let got = bytes.withUnsafeMutableBytes { b in
            fds.withUnsafeMutableBufferPointer { vbench_recv_fds(fd, b.baseAddress, UInt(count), $0.baseAddress, Int32(min(maxDescriptors, 16)), &n) }
        }
        if got < 0 { throw SystemError("recvmsg", "vhost-user socket", errno: Errno(rawValue: Int32(-got))) }
        if got == 0 && n == 0 { return nil }
        bytes.removeSubrange(Int(got)...)
        return (bytes, Array(fds.prefix(Int(n))))
    }

    /// Sends `bytes` whole, the descriptors with the first part.
    public static func send(_ fd: Int32, _ bytes: [UInt8], descriptors: [Int32] = []) throws(SystemError) {
        var offset = 0
        var fds = descriptors
        while offset < bytes.count || (offset == 0 && bytes.isEmpty) {
            let sent = bytes.withUnsafeBytes { b in
                fds.withUnsafeBufferPointer { vbench_send_fds(fd, b.baseAddress! + offset, UInt(b.count - offset), $0.baseAddress, Int32($0.count)) }
            }
            if sent < 0 { throw SystemError("sendmsg", "vhost-user socket", errno: Errno(rawValue: Int32(-sent))) }
            offset += sent
            fds = []
            if bytes.isEmpty { break }
        }
    }
}

/// A shared, writable mapping of a memory file descriptor (a guest's RAM, handed over by QEMU),
/// unmapped when the value goes away. The corresponding C functions are `mmap` and `munmap`.
public final class SharedMapping: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let length: Int

    /// Maps `length` bytes of `fd` from offset 0 (callers add their own offset inside).
    public init(fd: Int32, length: Int) throws(SystemError) {
        guard length > 0 else { throw SystemError("mmap", "an empty region", errno: .invalidArgument) }
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else { throw SystemError("mmap", "\(length) bytes of a shared region", errno: Errno(rawValue: errno)) }
        base = p
        self.length = length
    }

    /// Anonymous private memory (tests and the fuzzer stand it in for a guest's RAM).
    public init(anonymous length: Int) throws(SystemError) {
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { throw SystemError("mmap", "\(length) anonymous bytes", errno: Errno(rawValue: errno)) }
        base = p
        self.length = length
    }

    deinit { munmap(base, length) }
}

/// Small descriptor helpers for event loops built on `poll`.
public enum Descriptors {
    /// An eventfd (counter 0). The corresponding C function is `eventfd`.
    public static func eventFD(nonblocking: Bool = true) throws(SystemError) -> Int32 {
        let fd = vbench_eventfd(0, nonblocking ? 1 : 0)
        guard fd >= 0 else { throw SystemError("eventfd", nil, errno: Errno(rawValue: -fd)) }
        return fd
    }

    /// A memory file (memfd_create) of `size` bytes. The corresponding C functions are
    /// `memfd_create` and `ftruncate`.
    public static func memoryFile(name: String, size: Int) throws(SystemError) -> Int32 {
        let fd = vbench_memfd(name)
        guard fd >= 0 else { throw SystemError("memfd_create", name, errno: Errno(rawValue: -fd)) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            let e = errno
            close(fd)
            throw SystemError("ftruncate", name, errno: Errno(rawValue: e))
        }
        return fd
    }

    /// Adds 1 to an eventfd's counter (a kick or a call).
    public static func signal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Reads and resets an eventfd's counter; false when it was 0 (nonblocking) or failed.
    @discardableResult
    public static func drain(_ fd: Int32) -> Bool {
        var value: UInt64 = 0
        return read(fd, &value, 8) == 8
    }

    /// A connected pair of Unix stream sockets, both close-on-exec and nonblocking.
    /// The corresponding C function is `socketpair`.
    public static func socketPair() throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw SystemError("socketpair", nil, errno: Errno(rawValue: errno)) }
        return (fds[0], fds[1])
    }

    /// Makes `fd` nonblocking. The corresponding C function is `fcntl`.
    public static func setNonblocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Waits for events on `fds` (the `revents` are filled in); -1 waits without bound.
    /// Returns the number ready (0: timed out). EINTR counts as 0.
    public static func poll(_ fds: inout [pollfd], timeoutMs: Int32) throws(SystemError) -> Int {
        let n = Glibc.poll(&fds, nfds_t(fds.count), timeoutMs)
        if n < 0 {
            if errno == EINTR { return 0 }
            throw SystemError("poll", nil, errno: Errno(rawValue: errno))
        }
        return Int(n)
    }

    /// Nonblocking read: bytes read, 0 at end of file, nil when nothing is available now,
    /// -1 on a hard error (the peer reset).
    public static func readAvailable(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            return -1
        }
    }

    /// Nonblocking write: bytes written (0 when the socket is full), -1 on a hard error.
    public static func writeAvailable(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            let n = send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return 0 }
            return -1
        }
    }

    public static func shutdownWrite(_ fd: Int32) { _ = shutdown(fd, Int32(SHUT_WR)) }
    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }
}
