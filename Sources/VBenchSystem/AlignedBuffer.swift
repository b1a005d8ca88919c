import Glibc

/// Page-aligned anonymous memory for O_DIRECT buffers, unmapped when the value goes away.
///
/// Buffers of 2 MiB or more are aligned to 2 MiB and advised as transparent huge pages
/// (MADV_HUGEPAGE; honoured when /sys/kernel/mm/transparent_hugepage/enabled is `always` or
/// `madvise`). A 1 MiB read into huge pages is one physically contiguous segment instead of 256
/// pinned 4 KiB pages: measured on the development machine, 1 MiB QD8 reads went from about 1.1k
/// to 2.2k IOPS (Benchmarks/fio-compare.sh). fio's default `mem=malloc` has no such advice.
public struct AlignedBuffer: ~Copyable, @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let count: Int
    private let mapping: UnsafeMutableRawPointer
    private let mappingBytes: Int

    static let hugePageBytes = 2 << 20

    /// Maps `count` zeroed bytes. The corresponding C functions are `mmap` and `madvise`.
    public init(count: Int, hugePages: Bool = true) throws(SystemError) {
        let huge = hugePages && count >= Self.hugePageBytes
        let alignment = huge ? Self.hugePageBytes : 1
        let length = max(count, 1) + (huge ? alignment : 0)
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else {
            throw SystemError("mmap", "\(count) bytes", errno: .init(rawValue: errno))
        }
        let address = UInt(bitPattern: p)
        let aligned = (address + UInt(alignment - 1)) & ~UInt(alignment - 1)
        base = p + Int(aligned - address)
        if huge { _ = madvise(base, count, MADV_HUGEPAGE) }
        self.count = count
        mapping = p
        mappingBytes = length
    }

    deinit { munmap(mapping, mappingBytes) }
}
