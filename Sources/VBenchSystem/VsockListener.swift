import CVBenchShims
import Glibc
import SystemPackage

/// A vsock listener that tells who connected: the peer's CID, which the transport proves (the
/// hypervisor assigns it), unlike anything in the payload. NIO reports no address for vsock
/// channels, so the collector accepts here and hands each descriptor to NIO.
/// Never constructed on a machine that is not a vsock host (the collector checks
/// /dev/vhost-vsock first) or outside a guest of ours.
public struct VsockListener: ~Copyable, Sendable {
    public let descriptor: Int32
    public let port: UInt32

    /// The corresponding C functions are `socket(AF_VSOCK)`, `bind` and `listen`.
    public init(port: UInt32, backlog: Int32 = 256) throws(SystemError) {
        let fd = vbench_vsock_listen(port, backlog)
        guard fd >= 0 else { throw SystemError("listen", "vsock port \(port)", errno: Errno(rawValue: -fd)) }
        descriptor = fd
        self.port = port
    }

    /// Waits for a connection. The corresponding C function is `accept4`.
    public func accept() throws(SystemError) -> (descriptor: Int32, peerCID: UInt32, peerPort: UInt32) {
        while true {
            var cid: UInt32 = 0, peerPort: UInt32 = 0
            let fd = vbench_vsock_accept(descriptor, &cid, &peerPort)
            if fd >= 0 { return (fd, cid, peerPort) }
            if fd == -EINTR || fd == -ECONNABORTED { continue }
            throw SystemError("accept", "vsock port \(port)", errno: Errno(rawValue: -fd))
        }
    }

    /// Stops a blocked `accept` on `descriptor` in another thread (the listener itself lives in
    /// that thread). The corresponding C function is `shutdown`.
    public static func shutdown(descriptor: Int32) { _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }

    deinit { close(descriptor) }
}
