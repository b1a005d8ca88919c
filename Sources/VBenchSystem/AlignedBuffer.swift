import Glibc

/// Memory aligned for O_DIRECT (to the page size), freed when the value goes away.
public struct AlignedBuffer: ~Copyable, @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let count: Int

    /// Allocates `count` zeroed bytes aligned to `alignment` (a power of two).
    /// The corresponding C function is `posix_memalign`.
    public init(count: Int, alignment: Int = 4096) throws(SystemError) {
        var pointer: UnsafeMutableRawPointer? = nil
        let rc = posix_memalign(&pointer, alignment, max(count, 1))
        guard rc == 0, let pointer else {
            throw SystemError("posix_memalign", "\(count) bytes", errno: .init(rawValue: rc))
        }
        memset(pointer, 0, count)
        self.base = pointer
        self.count = count
    }

    deinit { free(base) }
}
