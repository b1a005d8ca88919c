import CLibAIO
import Glibc
import SystemPackage

/// A Linux native AIO context (libaio), destroyed when the value goes away.
/// io_setup and io_destroy cost tens of milliseconds: create one per job, not per operation.
public struct AIOContext: ~Copyable {
    @usableFromInline let context: io_context_t

    /// Creates a context for up to `maxEvents` operations in flight.
    /// The corresponding C function is `io_setup`.
    public init(maxEvents: Int) throws(SystemError) {
        var ctx: io_context_t? = nil
        let rc = io_setup(Int32(maxEvents), &ctx)
        guard rc == 0, let ctx else {
            throw SystemError("io_setup", "\(maxEvents) events", errno: Errno(rawValue: -rc))
        }
        self.context = ctx
    }

    deinit { _ = io_destroy(context) }

    /// Submits `count` prepared control blocks; returns how many the kernel took.
    /// The corresponding C function is `io_submit` (which returns -errno, not errno).
    @inlinable
    public func submit(_ iocbs: UnsafeMutablePointer<UnsafeMutablePointer<iocb>?>, count: Int) -> Result<Int, Errno> {
        while true {
            let rc = io_submit(context, count, iocbs)
            if rc >= 0 { return .success(Int(rc)) }
            if rc == -EINTR { continue }
            return .failure(Errno(rawValue: Int32(-rc)))
        }
    }

    /// Waits for at least `minimum` and at most `maximum` completions.
    /// The corresponding C function is `io_getevents`; EINTR is retried.
    @inlinable
    public func getEvents(minimum: Int, maximum: Int, into events: UnsafeMutablePointer<io_event>) -> Result<Int, Errno> {
        while true {
            let rc = io_getevents(context, minimum, maximum, events, nil)
            if rc >= 0 { return .success(Int(rc)) }
            if rc == -EINTR { continue }
            return .failure(Errno(rawValue: Int32(-rc)))
        }
    }
}

/// Prepares control blocks (libaio's static inline `io_prep_pread`/`io_prep_pwrite`).
public enum IOControlBlock {
    @inlinable
    public static func prepareRead(_ cb: UnsafeMutablePointer<iocb>, fd: Int32, buffer: UnsafeMutableRawPointer,
                                   count: Int, offset: Int64, tag: UInt64) {
        io_prep_pread(cb, fd, buffer, count, offset)
        cb.pointee.data = UnsafeMutableRawPointer(bitPattern: UInt(tag))
    }

    @inlinable
    public static func prepareWrite(_ cb: UnsafeMutablePointer<iocb>, fd: Int32, buffer: UnsafeMutableRawPointer,
                                    count: Int, offset: Int64, tag: UInt64) {
        io_prep_pwrite(cb, fd, buffer, count, offset)
        cb.pointee.data = UnsafeMutableRawPointer(bitPattern: UInt(tag))
    }
}

extension io_event {
    /// The tag given when the control block was prepared.
    @inlinable public var tag: UInt64 { UInt64(UInt(bitPattern: data)) }
    /// Bytes transferred, or -errno.
    @inlinable public var result: Int64 { Int64(bitPattern: UInt64(res)) }
}
