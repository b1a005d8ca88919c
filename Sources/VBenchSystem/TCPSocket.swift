import CVBenchShims
import Glibc

/// A blocking TCP socket (IPv4 or IPv6), closed when the value goes away. The network harness
/// runs one thread per connection, as netperf and iperf3 do per stream.
/// The corresponding C functions are `socket`, `bind`, `listen`, `accept`, `connect`, `send`,
/// `recv`, `setsockopt` and `getsockopt`.
public final class TCPSocket: @unchecked Sendable {
    public let fd: Int32
    private var closed = false

    init(fd: Int32) { self.fd = fd }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    /// Stops further sends (the peer reads EOF) while still receiving.
    public func shutdownWrite() { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Listens on `host:port` (port 0: any free port); `host` is an address such as 127.0.0.1,
    /// ::1, 0.0.0.0 or ::.
    public static func listen(host: String, port: UInt16, backlog: Int32 = 128) throws(SystemError) -> TCPSocket {
        let (storage, length, family) = try address(host: host, port: port)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", host, errno: .init(rawValue: errno)) }
        let s = TCPSocket(fd: fd)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var st = storage
        let rc = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard rc == 0 else { throw SystemError("bind", "\(host):\(port)", errno: .init(rawValue: errno)) }
        guard Glibc.listen(fd, backlog) == 0 else { throw SystemError("listen", "\(host):\(port)", errno: .init(rawValue: errno)) }
        return s
    }

    /// Waits up to `timeoutMs` for a connection; nil on timeout.
    public func accept(timeoutMs: Int32) throws(SystemError) -> TCPSocket? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, timeoutMs)
        if n == 0 { return nil }
        guard n > 0 else {
            if errno == EINTR { return nil }
            throw SystemError("poll", "listener", errno: .init(rawValue: errno))
        }
        let c = Glibc.accept(fd, nil, nil)
        guard c >= 0 else { throw SystemError("accept", "listener", errno: .init(rawValue: errno)) }
        _ = fcntl(c, F_SETFD, FD_CLOEXEC)
        return TCPSocket(fd: c)
    }

    /// Connects to `host:port`, bound to interface `device` (SO_BINDTODEVICE) when given.
    public static func connect(host: String, port: UInt16, device: String? = nil, timeoutMs: Int32 = 10_000) throws(SystemError) -> TCPSocket {
        let (storage, length, family) = try address(host: host, port: port)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", host, errno: .init(rawValue: errno)) }
        let s = TCPSocket(fd: fd)
        if let device {
            let rc = device.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1)) }
            guard rc == 0 else { throw SystemError("setsockopt(SO_BINDTODEVICE)", device, errno: .init(rawValue: errno)) }
        }
        var tv = timeval(tv_sec: Int(timeoutMs / 1000), tv_usec: Int(timeoutMs % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var st = storage
        let rc = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) } }
        guard rc == 0 else { throw SystemError("connect", "\(host):\(port)", errno: .init(rawValue: errno)) }
        var zero = timeval()
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, socklen_t(MemoryLayout<timeval>.size))
        return s
    }

    /// Disables Nagle (request/response tests).
    public func setNoDelay() {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Wakes a blocked `receive` only once `bytes` are queued (or at EOF or the timeout):
    /// fewer wakeups of a bulk receiver (SO_RCVLOWAT; the kernel grows the buffer to match).
    public func setReceiveLowWater(bytes: Int) {
        var v = Int32(clamping: bytes)
        setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A receive timeout: `receive` returns 0 bytes (as at EOF) after this long without data.
    public func setReceiveTimeout(ms: Int) {
        var tv = timeval(tv_sec: ms / 1000, tv_usec: (ms % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends every byte; false when the peer went away.
    public func sendAll(_ base: UnsafeRawPointer, _ count: Int) -> Bool {
        var off = 0
        while off < count {
            let n = Glibc.send(fd, base + off, count - off, Int32(MSG_NOSIGNAL))
            if n < 0 { if errno == EINTR { continue }; return false }
            if n == 0 { return false }
            off += n
        }
        return true
    }

    /// Receives up to `count` bytes; 0 at EOF, on a receive timeout or an error.
    public func receive(_ base: UnsafeMutableRawPointer, _ count: Int) -> Int {
        while true {
            let n = recv(fd, base, count, 0)
            if n < 0 && errno == EINTR { continue }
            return max(n, 0)
        }
    }

    /// Receives exactly `count` bytes; false at EOF or on an error first.
    public func receiveExactly(_ base: UnsafeMutableRawPointer, _ count: Int) -> Bool {
        var off = 0
        while off < count {
            let n = receive(base + off, count - off)
            if n == 0 { return false }
            off += n
        }
        return true
    }

    /// The local port (after bind or connect).
    public var localPort: UInt16 {
        var st = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let family = st.ss_family
        return withUnsafePointer(to: &st) { p in
            if family == sa_family_t(AF_INET6) {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    /// TCP_INFO: segments retransmitted so far and the smoothed RTT in µs.
    public func tcpInfo() -> (retransmits: UInt32, rttMicros: UInt32)? {
        var r: UInt32 = 0, rtt: UInt32 = 0
        return vbench_tcp_info(fd, &r, &rtt) == 0 ? (r, rtt) : nil
    }

    static func address(host: String, port: UInt16) throws(SystemError) -> (sockaddr_storage, socklen_t, Int32) {
        var st = sockaddr_storage()
        var a4 = in_addr(), a6 = in6_addr()
        if inet_pton(AF_INET, host, &a4) == 1 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr = a4
            withUnsafeMutablePointer(to: &st) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee = sin } }
            return (st, socklen_t(MemoryLayout<sockaddr_in>.size), AF_INET)
        }
        if inet_pton(AF_INET6, host, &a6) == 1 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_addr = a6
            withUnsafeMutablePointer(to: &st) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee = sin6 } }
            return (st, socklen_t(MemoryLayout<sockaddr_in6>.size), AF_INET6)
        }
        throw SystemError("inet_pton", "\(host) is not an IPv4 or IPv6 address", errno: .init(rawValue: EINVAL))
    }
}

/// Unix-domain stream sockets: the same blocking socket, addressed by a path (the lab talks to
/// QEMU's QMP monitor and a control port this way).
extension TCPSocket {
    static func unixAddress(_ path: String) throws(SystemError) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw SystemError("socket path", path, errno: .init(rawValue: ENAMETOOLONG))
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return addr
    }

    /// A Unix stream socket with `operation` (connect or bind) applied to `path`'s address.
    static func unix(path: String, _ name: String, _ operation: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) throws(SystemError) -> TCPSocket {
        var addr = try unixAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", path, errno: .init(rawValue: errno)) }
        let s = TCPSocket(fd: fd)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            operation(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else { throw SystemError(name, path, errno: .init(rawValue: errno)) }
        return s
    }

    /// Connects to the Unix socket at `path`.
    public static func connectUnix(path: String) throws(SystemError) -> TCPSocket {
        try unix(path: path, "connect") { Glibc.connect($0, $1, $2) }
    }

    /// Listens on a Unix socket at `path` (which must not exist).
    public static func listenUnix(path: String) throws(SystemError) -> TCPSocket {
        let s = try unix(path: path, "bind") { bind($0, $1, $2) }
        guard Glibc.listen(s.fd, 4) == 0 else { throw SystemError("listen", path, errno: .init(rawValue: errno)) }
        return s
    }
}
