import Foundation
import Glibc
import Synchronization

/// A FUSE file system whose daemon answers INIT and then reads every request without ever
/// answering: a process that touches it waits in uninterruptible sleep once its request has been
/// read, as one waits on a disk whose device never completes the I/O, and SIGKILL cannot end
/// it. Aborting the connection (a forced unmount) answers the request with an error and frees
/// it. Needs /dev/fuse and the right to mount (root here).
public final class StalledFuse: @unchecked Sendable {
    public let mountpoint: String
    private let fd: Int32
    private let reader: Thread
    /// Requests read and left unanswered.
    private final class Count: Sendable { let value = Mutex<Int>(0) }
    private let read = Count()

    /// Mounted, or nil after printing `TEST SKIPPED` and why (no /dev/fuse, not root).
    public static func mountForTest(_ test: String) -> StalledFuse? {
        let (fuse, why) = mount()
        if fuse == nil { print("\(test) SKIPPED: FUSE cannot be mounted here (\(why ?? "")); it needs /dev/fuse and root") }
        return fuse
    }

    /// nil and why, when FUSE cannot be mounted here.
    public static func mount() -> (StalledFuse?, String?) {
        let dir = NSTemporaryDirectory() + "vbench-fuse-\(UInt32.random(in: 0...UInt32.max))"
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch { return (nil, "\(error)") }
        let fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return (nil, "open /dev/fuse: \(String(cString: strerror(errno)))") }
        let options = "fd=\(fd),rootmode=40000,user_id=\(getuid()),group_id=\(getgid())"
        guard Glibc.mount("vbench-stall", dir, "fuse", UInt(MS_NOSUID | MS_NODEV), options) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            return (nil, "mount -t fuse \(dir): \(why)")
        }
        return (StalledFuse(mountpoint: dir, fd: fd), nil)
    }

    private init(mountpoint: String, fd: Int32) {
        self.mountpoint = mountpoint
        self.fd = fd
        let read = self.read
        reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 1 << 20 + 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 40 else { return }  // ENODEV once the connection is aborted
                // fuse_in_header: len u32, opcode u32, unique u64, …
                let opcode = buffer.withUnsafeBytes { $0.load(fromByteOffset: 4, as: UInt32.self) }
                let unique = buffer.withUnsafeBytes { $0.load(fromByteOffset: 8, as: UInt64.self) }
                if opcode == 26 {  // FUSE_INIT: fuse_out_header, then fuse_init_out (64 bytes)
                    var reply = [UInt8](repeating: 0, count: 16 + 64)
                    reply.withUnsafeMutableBytes { r in
                        r.storeBytes(of: UInt32(16 + 64), toByteOffset: 0, as: UInt32.self)
                        r.storeBytes(of: unique, toByteOffset: 8, as: UInt64.self)
                        r.storeBytes(of: UInt32(7), toByteOffset: 16, as: UInt32.self)      // major
                        r.storeBytes(of: UInt32(31), toByteOffset: 20, as: UInt32.self)     // minor
                        r.storeBytes(of: UInt32(4096), toByteOffset: 36, as: UInt32.self)   // max_write
                    }
                    _ = reply.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                } else {
                    read.value.withLock { $0 += 1 }
                }
            }
        }
        reader.start()
    }

    public var unanswered: Int { read.value.withLock { $0 } }

    /// Aborts the connection (every waiting request ends with an error), unmounts, closes.
    public func remove() {
        _ = umount2(mountpoint, Int32(MNT_FORCE))
        _ = umount2(mountpoint, Int32(MNT_DETACH))
        for _ in 0..<500 where !reader.isFinished { usleep(10_000) }
        close(fd)
        try? FileManager.default.removeItem(atPath: mountpoint)
    }
}
