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

/// A route of the kernel's main table, IPv4 or IPv6, as `/proc/net/route` and
/// `/proc/net/ipv6_route` list them.
public struct KernelRoute: Sendable, Equatable {
    public var interface: String
    /// Destination and gateway in network byte order (4 bytes for IPv4, 16 for IPv6).
    public var destination: [UInt8]
    public var prefixLength: Int
    public var gateway: [UInt8]
    public var metric: Int
    public var flags: Int

    public init(interface: String, destination: [UInt8], prefixLength: Int, gateway: [UInt8], metric: Int, flags: Int) {
        self.interface = interface
        self.destination = destination
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.metric = metric
        self.flags = flags
    }

    /// RTF_UP set and RTF_REJECT clear: a route packets can take.
    public var isUsable: Bool { flags & 0x0001 != 0 && flags & 0x0200 == 0 }

    /// True when `address` (4 or 16 bytes, network order) lies inside this route's prefix.
    public func covers(_ address: [UInt8]) -> Bool {
        guard address.count == destination.count else { return false }
        var bits = prefixLength
        for i in 0..<address.count where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xff : UInt8(0xff) << (8 - bits)
            if address[i] & mask != destination[i] & mask { return false }
            bits -= 8
        }
        return true
    }
}

extension Interfaces {
    /// Parses `/proc/net/route`: hexadecimal fields in the kernel's byte order (an address's
    /// bytes in network order, read as a little-endian word: `0102000A` is 10.0.2.1).
    public static func parseIPv4Routes(_ text: String) -> [KernelRoute] {
        func bytes(_ hex: Substring) -> [UInt8]? {
            guard hex.count == 8, let v = UInt32(hex, radix: 16) else { return nil }
            return [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
        var routes: [KernelRoute] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 8, let dest = bytes(f[1]), let gw = bytes(f[2]), let flags = Int(f[3], radix: 16),
                  let metric = Int(f[6]), let mask = bytes(f[7]) else { continue }
            // Masks are contiguous; count their bits.
            let prefix = mask.reduce(0) { $0 + $1.nonzeroBitCount }
            routes.append(KernelRoute(interface: String(f[0]), destination: dest, prefixLength: prefix, gateway: gw, metric: metric, flags: flags))
        }
        return routes
    }

    /// Parses `/proc/net/ipv6_route`: destination, prefix length, source, source prefix,
    /// next hop, metric, refcount, use, flags, device.
    public static func parseIPv6Routes(_ text: String) -> [KernelRoute] {
        func bytes(_ hex: Substring) -> [UInt8]? {
            guard hex.count == 32 else { return nil }
            var out: [UInt8] = []
            var i = hex.startIndex
            while i < hex.endIndex {
                let j = hex.index(i, offsetBy: 2)
                guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
                out.append(b)
                i = j
            }
            return out
        }
        var routes: [KernelRoute] = []
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 10, let dest = bytes(f[0]), let prefix = Int(f[1], radix: 16), let gw = bytes(f[4]),
                  let metric = Int(f[5], radix: 16), let flags = Int(f[8], radix: 16) else { continue }
            routes.append(KernelRoute(interface: String(f[9]), destination: dest, prefixLength: prefix, gateway: gw, metric: metric, flags: flags))
        }
        return routes
    }

    /// `host` as address bytes in network order (4 for IPv4, 16 for IPv6), or nil when it is
    /// not a numeric address. The corresponding C function is `inet_pton`.
    public static func addressBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if inet_pton(AF_INET6, bare, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// Every non-loopback interface with a usable route to `address`, in order of the best
    /// route's metric, then name: the interfaces `--iface auto` tests.
    public static func interfaces(routing address: [UInt8], routes: [KernelRoute]) -> [String] {
        var best: [String: Int] = [:]
        for r in routes where r.isUsable && r.interface != "lo" && r.covers(address) {
            best[r.interface] = min(best[r.interface] ?? Int.max, r.metric)
        }
        return best.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
    }
}
