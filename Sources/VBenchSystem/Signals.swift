import Glibc

/// Waiting for SIGINT / SIGTERM in one thread while every other thread has them blocked.
public enum Signals {
    /// Blocks SIGINT and SIGTERM in the calling thread and in every thread it starts afterwards.
    /// Call before starting any thread. The corresponding C function is `pthread_sigmask`.
    public static func blockTermination() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits up to `timeoutNs` for SIGINT or SIGTERM; returns the signal or nil on timeout.
    /// The corresponding C function is `sigtimedwait`.
    public static func waitForTermination(timeoutNs: UInt64) -> Int32? {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        var ts = timespec(tv_sec: Int(timeoutNs / 1_000_000_000), tv_nsec: Int(timeoutNs % 1_000_000_000))
        let sig = sigtimedwait(&set, nil, &ts)
        return sig > 0 ? sig : nil
    }

    /// Whether this machine can host vsock guests (/dev/vhost-vsock exists). Only then may a
    /// collector open AF_VSOCK sockets; a guest's /dev/vsock is not enough.
    public static func isVsockHost(root: String = "") -> Bool {
        access(root + "/dev/vhost-vsock", F_OK) == 0
    }

    /// Whether this is a vbench lab guest with the vsock loopback transport: the kernel was
    /// booted by `vbench lab` (`vbench.lab=1` on its command line) and `vsock_loopback` is
    /// loaded, so vsock traffic to CID 1 stays inside this kernel. The only other place a
    /// collector may open AF_VSOCK sockets.
    public static func isLabVsockLoopbackGuest(root: String = "") -> Bool {
        guard access(root + "/sys/module/vsock_loopback", F_OK) == 0,
              let fd = Optional(open(root + "/proc/cmdline", O_RDONLY)), fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return false }
        return String(decoding: buffer[..<n], as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
            .contains("vbench.lab=1")
    }

    /// The running kernel's release (`uname -r`). The corresponding C function is `uname`.
    public static func kernelRelease() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        return withUnsafePointer(to: u.release) {
            $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) }
        }
    }
}

/// Open-file limits.
public enum FileLimits {
    /// Raises the soft limit on open files to the hard limit (a collector holds one descriptor
    /// per guest); returns the new soft limit. The corresponding C function is `setrlimit`.
    @discardableResult
    public static func raiseOpenFilesToMaximum() -> UInt64 {
        var limit = rlimit()
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(resource, &limit)
        }
        return UInt64(limit.rlim_cur)
    }
}
