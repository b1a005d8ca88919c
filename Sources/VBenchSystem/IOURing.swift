import CVBenchShims
import Glibc
import SystemPackage

/// An io_uring instance (liburing, wrapped in CVBenchShims), torn down when the value goes
/// away: requests are queued in the shared ring, handed to the kernel by `submit`, and reaped
/// from the completion ring.
public struct IOURing: ~Copyable {
    @usableFromInline let ring: UnsafeMutableRawPointer
    /// The file registered (`io_uring_register_files`): requests name it by index 0.
    public private(set) var registeredFile: Int32?
    /// The buffer registered (`io_uring_register_buffers`): requests inside it are fixed.
    public private(set) var registeredBuffer: (base: UnsafeMutableRawPointer, count: Int)?

    /// Why io_uring is not usable here, in words that say what to use instead.
    public static func refusal(_ errno: Errno) -> String {
        switch errno {
        case .noFunction, .notSupported:
            "this kernel has no io_uring (Linux 5.1 or later has it); use --engine libaio"
        case .notPermitted, .permissionDenied:
            "io_uring is disabled here (kernel.io_uring_disabled is \(disabledSetting() ?? "absent"); or a seccomp filter blocks io_uring_setup, as container runtimes do by default); use --engine libaio"
        default:
            "io_uring_setup failed; use --engine libaio"
        }
    }

    /// /proc/sys/kernel/io_uring_disabled (0 allowed, 1 root or io_uring_group only, 2 off), when the kernel has it.
    public static func disabledSetting() -> String? {
        RootedFileSystem().readString("/proc/sys/kernel/io_uring_disabled", record: false)
    }

    /// A ring with `entries` submission slots (at least the queue depth).
    /// The corresponding C function is `io_uring_queue_init`.
    public init(entries: Int) throws(SystemError) {
        var error: Int32 = 0
        guard let r = vbench_uring_new(UInt32(max(1, entries)), &error) else {
            let e = Errno(rawValue: -error)
            throw SystemError("io_uring_setup", Self.refusal(e), errno: e)
        }
        ring = r
    }

    deinit { vbench_uring_free(ring) }

    /// Completions run when this thread waits for them (Linux 6.1's DEFER_TASKRUN), or at its
    /// next kernel entry (COOP_TASKRUN), rather than by an interrupt each.
    public var defersCompletionWork: Bool { vbench_uring_setup_flags(ring) & (1 << 13 | 1 << 8) != 0 }

    /// Registers `fd` (fio's `registerfiles`): the kernel skips a file-table lookup per request.
    /// False when the kernel refuses; requests then name the descriptor.
    public mutating func register(file fd: Int32) -> Bool {
        guard vbench_uring_register_file(ring, fd) == 0 else { return false }
        registeredFile = fd
        return true
    }

    /// Registers one buffer (fio's `fixedbufs`): the kernel pins it once instead of per request.
    /// False when the kernel refuses (RLIMIT_MEMLOCK); requests then map their pages each time.
    public mutating func register(buffer base: UnsafeMutableRawPointer, count: Int) -> Bool {
        guard vbench_uring_register_buffer(ring, base, UInt(count)) == 0 else { return false }
        registeredBuffer = (base, count)
        return true
    }

    /// Queues a read or write of `count` bytes at `offset`; false when the submission ring is full.
    @inlinable
    public mutating func prepare(write: Bool, fd: Int32, buffer: UnsafeMutableRawPointer, count: Int, offset: UInt64, tag: UInt64) -> Bool {
        let fixedFile: Int32 = registeredFile == fd ? 1 : 0
        var fixedBuffer: Int32 = 0
        if let (base, size) = registeredBuffer, buffer >= base, buffer + count <= base + size { fixedBuffer = 1 }
        return vbench_uring_prep(ring, write ? 1 : 0, fd, fixedFile, fixedBuffer, buffer, UInt32(count), offset, tag) == 1
    }

    /// Hands the queued requests to the kernel and waits until `minimum` completions are ready;
    /// how many were submitted. The corresponding C function is `io_uring_submit_and_wait`.
    @inlinable
    public mutating func submit(waitingFor minimum: Int) -> Result<Int, Errno> {
        while true {
            let rc = vbench_uring_submit_wait(ring, UInt32(minimum))
            if rc >= 0 { return .success(Int(rc)) }
            if rc == -EINTR { continue }
            return .failure(Errno(rawValue: -rc))
        }
    }

    /// Takes up to `maximum` ready completions into `tags` and `results` (bytes or -errno).
    @inlinable
    public mutating func reap(maximum: Int, tags: UnsafeMutablePointer<UInt64>, results: UnsafeMutablePointer<Int32>) -> Int {
        Int(vbench_uring_reap(ring, Int32(maximum), tags, results))
    }
}
