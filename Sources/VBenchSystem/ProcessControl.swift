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

    /// Whether the device node at `path` can be opened for reading and writing (e.g. /dev/kvm).
    public static func canOpenReadWrite(_ path: String) -> Bool {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }
}
