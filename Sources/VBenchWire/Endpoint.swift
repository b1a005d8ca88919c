import NIOCore

/// Where a collector listens or an uplink sends.
public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
    /// AF_VSOCK: `vsock://any:PORT` to listen, `vsock://CID:PORT` to send (2 = host, 1 = local loopback).
    case vsock(cid: UInt32?, port: UInt32)
    /// A Unix socket: what QEMU's virtio-serial chardev and Firecracker's hybrid vsock connect to.
    case unix(path: String)
    /// TCP: `tcp://127.0.0.1:PORT`.
    case tcp(host: String, port: Int)
    /// A virtio-serial port inside a guest: `serial:/dev/virtio-ports/org.vbench.0` (uplink only).
    case serial(path: String)
    /// A vhost-user-vsock device served by the collector (listen only):
    /// `vhost-user-vsock:PATH[,cid=N][,port=P]` for QEMU's `-chardev socket,path=PATH -device
    /// vhost-user-vsock-pci`. The guest (CID N, default 3) connects to CID 2, port P (default 5000).
    case vhostUserVsock(path: String, cid: UInt32, port: UInt32)

    /// Whether `host` is this machine's loopback (localhost, 127.0.0.0/8, ::1).
    public static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        guard let canonical = try? SocketAddress(ipAddress: host, port: 0).ipAddress else { return false }
        return canonical == "::1" || canonical.hasPrefix("127.") || canonical.hasPrefix("::ffff:127.")
    }

    /// The guest CID of a vhost-user-vsock endpoint when none is named.
    public static let defaultGuestCID: UInt32 = 3
    /// The port guests connect to when none is named (as `vsock://any:5000`).
    public static let defaultVsockPort: UInt32 = 5000

    /// Parses `vsock://any:PORT`, `vsock://2:PORT`, `unix:PATH`, `tcp://HOST:PORT`, `serial:PATH`.
    public init(_ text: String) throws(EndpointError) {
        // Port 0 lets a collector listen on any free port (it prints the one it got).
        func port(_ s: Substring, max: Int) throws(EndpointError) -> Int {
            guard let p = Int(s), (0...max).contains(p) else { throw .badPort(text) }
            return p
        }
        if text.hasPrefix("vsock://") {
            let rest = text.dropFirst("vsock://".count)
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw .malformed(text) }
            let p = UInt32(try port(parts[1], max: Int(UInt32.max - 1)))
            if parts[0] == "any" { self = .vsock(cid: nil, port: p); return }
            let named: [Substring: UInt32] = ["host": 2, "local": 1, "hypervisor": 0]
            guard let cid = named[parts[0]] ?? UInt32(parts[0]) else { throw .malformed(text) }
            self = .vsock(cid: cid, port: p)
        } else if text.hasPrefix("unix:") {
            let path = String(text.dropFirst("unix:".count))
            guard !path.isEmpty else { throw .malformed(text) }
            self = .unix(path: path)
        } else if text.hasPrefix("vhost-user-vsock:") {
            var parts = text.dropFirst("vhost-user-vsock:".count).split(separator: ",", omittingEmptySubsequences: false)
            let path = String(parts.removeFirst())
            guard !path.isEmpty else { throw .malformed(text) }
            var cid = Endpoint.defaultGuestCID, vsockPort = Endpoint.defaultVsockPort
            for option in parts {
                if option.hasPrefix("cid=") {
                    // 0, 1 and 2 are the hypervisor, loopback and host; u32 max is "any".
                    guard let c = UInt32(option.dropFirst(4)), c >= 3, c < UInt32.max else {
                        throw .invalid("'\(text)': cid must be a guest CID, 3…4294967294")
                    }
                    cid = c
                } else if option.hasPrefix("port=") {
                    vsockPort = UInt32(try port(option.dropFirst(5), max: Int(UInt32.max - 1)))
                } else {
                    throw .invalid("'\(text)': unknown option '\(option)'; vhost-user-vsock:PATH takes cid=N and port=P")
                }
            }
            self = .vhostUserVsock(path: path, cid: cid, port: vsockPort)
        } else if text.hasPrefix("serial:") {
            let path = String(text.dropFirst("serial:".count))
            guard !path.isEmpty else { throw .malformed(text) }
            self = .serial(path: path)
        } else if text.hasPrefix("tcp://") {
            let rest = text.dropFirst("tcp://".count)
            guard let colon = rest.lastIndex(of: ":") else { throw .malformed(text) }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw .malformed(text) }
            self = .tcp(host: host, port: try port(rest[rest.index(after: colon)...], max: 65535))
        } else {
            throw .malformed(text)
        }
    }

    public var description: String {
        switch self {
        case let .vsock(cid, port): "vsock://\(cid.map(String.init) ?? "any"):\(port)"
        case let .unix(path): "unix:\(path)"
        case let .tcp(host, port): host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        case let .serial(path): "serial:\(path)"
        case let .vhostUserVsock(path, cid, port): "vhost-user-vsock:\(path),cid=\(cid),port=\(port)"
        }
    }
}

/// Why an endpoint could not be used.
public enum EndpointError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case badPort(String)
    case vsockUnavailable(String)
    case notListenable(String)
    case notSendable(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let t): t
        case .malformed(let t):
            "'\(t)' is not an endpoint; use vsock://any:PORT, vsock://CID:PORT, unix:PATH, tcp://HOST:PORT, serial:PATH or vhost-user-vsock:PATH[,cid=N][,port=P]"
        case .badPort(let t):
            "'\(t)' has no valid port; ports are 0…65535 (vsock: 0…4294967294), 0 meaning any free port"
        case .vsockUnavailable(let t):
            "\(t): this machine is not a vsock hypervisor host (no /dev/vhost-vsock), so no AF_VSOCK socket is opened; listen on unix:PATH for a virtio-serial chardev, or tcp://127.0.0.1:PORT"
        case .notSendable(let t):
            "\(t) is served by a collector for QEMU, not sent to; a guest on that device sends to vsock://2:PORT"
        case .notListenable(let t):
            "\(t) can only be sent to, not listened on; a collector listens on vsock, unix, tcp or vhost-user-vsock"
        }
    }
}
