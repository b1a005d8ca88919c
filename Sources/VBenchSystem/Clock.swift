import Glibc

/// Monotonic time and thread CPU time in integer nanoseconds.
public enum Clock {
    /// CLOCK_MONOTONIC in nanoseconds.
    public static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// User and system CPU time of the calling thread (getrusage RUSAGE_THREAD).
    public static func threadCPU() -> (userNs: UInt64, systemNs: UInt64) {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD (a GNU extension Swift does not import)
        return (nanoseconds(usage.ru_utime), nanoseconds(usage.ru_stime))
    }

    /// Wall-clock time since the epoch in nanoseconds (CLOCK_REALTIME).
    public static func realtimeNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Sleeps for about `nanoseconds`. The corresponding C function is `nanosleep`.
    public static func sleep(nanoseconds: UInt64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    private static func nanoseconds(_ tv: timeval) -> UInt64 {
        UInt64(tv.tv_sec) * 1_000_000_000 + UInt64(tv.tv_usec) * 1000
    }
}
