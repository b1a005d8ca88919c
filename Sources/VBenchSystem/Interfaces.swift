import Glibc

/// Network interfaces and their addresses. The corresponding C function is `getifaddrs`.
public enum Interfaces {
    /// The interface holding the IPv4 or IPv6 address `address` (textual form, as iperf3 and
    /// `ip addr` print it), or nil when no interface has it.
    public static func name(holding address: String) -> String? {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return nil }
        defer { freeifaddrs(head) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let sa = entry.pointee.ifa_addr, let name = entry.pointee.ifa_name else { continue }
            if let text = numericHost(sa), text == address || text.split(separator: "%").first.map(String.init) == address {
                return String(cString: name)
            }
        }
        return nil
    }

    static func numericHost(_ sa: UnsafeMutablePointer<sockaddr>) -> String? {
        let family = Int32(sa.pointee.sa_family)
        let length: socklen_t
        switch family {
        case AF_INET: length = socklen_t(MemoryLayout<sockaddr_in>.size)
        case AF_INET6: length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        default: return nil
        }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(sa, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Interfaces {
    /// The local address the kernel would use to reach `host` (a UDP socket connected to it:
    /// no packet is sent), or nil when there is no route. The corresponding C functions are
    /// `connect` and `getsockname`.
    public static func sourceAddress(toward host: String) -> String? {
        guard let (storage, length, family) = try? TCPSocket.address(host: host, port: 9) else { return nil }
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = storage
        let rc = withUnsafePointer(to: &st) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        guard rc == 0 else { return nil }
        var local = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        guard ok == 0 else { return nil }
        return withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { numericHost($0) } }
    }
}
