import CVBenchShims
import Glibc

/// A barrier for a fixed number of threads (STREAM's kernels start and end together).
/// The corresponding C functions are `pthread_barrier_init` and `pthread_barrier_wait`.
public final class ThreadBarrier: @unchecked Sendable {
    private var barrier = pthread_barrier_t()

    public init(count: Int) {
        pthread_barrier_init(&barrier, nil, UInt32(max(1, count)))
    }

    public func wait() {
        pthread_barrier_wait(&barrier)
    }

    deinit { pthread_barrier_destroy(&barrier) }
}

/// CPU placement of the calling thread.
public enum Affinity {
    /// Pins the calling thread to `cpu`; false when the kernel refused (CPU offline, cgroup).
    /// The corresponding C function is `sched_setaffinity`.
    @discardableResult
    public static func pin(cpu: Int) -> Bool { vbench_pin_to_cpu(Int32(cpu)) == 0 }

    /// Online CPUs (sysconf).
    public static func onlineCPUs() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

extension Clock {
    /// Minor page faults of the calling thread so far (getrusage RUSAGE_THREAD).
    public static func threadMinorFaults() -> UInt64 {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD
        return UInt64(usage.ru_minflt)
    }
}
