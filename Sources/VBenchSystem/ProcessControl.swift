import Glibc

/// Signals to child processes the caller started, by PID. The corresponding C function is `kill`.
public enum ProcessControl {
    public static let terminate = SIGTERM
    public static let kill = SIGKILL

    /// Sends `signal` to the process `pid` (never to a group: pid must be > 0).
    public static func signal(pid: Int32, _ signal: Int32) {
        guard pid > 0 else { return }
        _ = Glibc.kill(pid, signal)
    }

    /// Unblocks every signal in the calling thread. A process can start with signals blocked
    /// (the mask survives exec: a child of a libdispatch worker thread starts with nearly all
    /// of them blocked), and its own children would inherit that and ignore SIGTERM. Call first
    /// thing in main. The corresponding C function is `pthread_sigmask`.
    public static func unblockAllSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        pthread_sigmask(SIG_SETMASK, &set, nil)
    }

    /// The signals blocked in the calling thread, as a bit set (bit n-1 for signal n).
    public static func blockedSignals() -> UInt64 {
        var set = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &set)
        var bits: UInt64 = 0
        for sig in 1..<64 where sigismember(&set, Int32(sig)) == 1 { bits |= 1 << UInt64(sig - 1) }
        return bits
    }

    /// Whether the device node at `path` can be opened for reading and writing (e.g. /dev/kvm).
    public static func canOpenReadWrite(_ path: String) -> Bool {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }
}
