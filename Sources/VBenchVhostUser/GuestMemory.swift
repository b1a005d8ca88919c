import Glibc
import VBenchSystem

/// A guest's RAM as the frontend handed it over: regions by guest-physical address (what
/// descriptors carry) and by the frontend's virtual address (what ring addresses carry). Every
/// translation is checked: an address range outside the regions yields nil, never a pointer.
public final class GuestMemory: @unchecked Sendable {
    public struct Region {
        public var guestPhysical: UInt64
        public var size: UInt64
        public var userAddress: UInt64
        /// Where the region's first byte is in this process.
        public var host: UnsafeMutableRawPointer
    }

    public let regions: [Region]
    /// Keeps the mappings alive as long as this table is in use.
    private let mappings: [SharedMapping]

    public init(regions: [Region], mappings: [SharedMapping]) {
        self.regions = regions
        self.mappings = mappings
    }

    /// Maps each region's descriptor (shared, read-write) and closes the descriptors.
    public static func map(_ descriptions: [MemoryRegionDescription], descriptors: [Int32]) throws(VhostUserError) -> GuestMemory {
        defer { for fd in descriptors { Descriptors.close(fd) } }
        guard descriptions.count == descriptors.count else { throw VhostUserError("\(descriptions.count) regions, \(descriptors.count) descriptors") }
        var regions: [Region] = [], mappings: [SharedMapping] = []
        for (d, fd) in zip(descriptions, descriptors) {
            let (end, o1) = d.mmapOffset.addingReportingOverflow(d.size)
            let (_, o2) = d.guestPhysical.addingReportingOverflow(d.size)
            let (_, o3) = d.userAddress.addingReportingOverflow(d.size)
            guard d.size > 0, !o1, !o2, !o3, end <= UInt64(Int.max) else {
                throw VhostUserError("a memory region of \(d.size) bytes at offset \(d.mmapOffset) does not fit")
            }
            // A file shorter than the region: its pages past the end would fault with SIGBUS when
            // the rings or buffers are read there, in this process. (Memory files, tmpfs and
            // hugetlbfs files are regular files with their size in st_size.)
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw VhostUserError("a memory region's descriptor: fstat failed (errno \(errno))") }
            if st.st_mode & S_IFMT == S_IFREG && UInt64(max(st.st_size, 0)) < end {
                throw VhostUserError("a memory region ends at byte \(end) of a file of \(st.st_size) bytes")
            }
            let mapping: SharedMapping
            do { mapping = try SharedMapping(fd: fd, length: Int(end)) } catch { throw VhostUserError("\(error)") }
            mappings.append(mapping)
            regions.append(Region(guestPhysical: d.guestPhysical, size: d.size, userAddress: d.userAddress,
                                  host: mapping.base + Int(d.mmapOffset)))
        }
        return GuestMemory(regions: regions, mappings: mappings)
    }

    /// The host bytes of guest-physical `[address, address + length)`, in pieces when the range
    /// crosses regions; nil when any byte of it is outside every region.
    public func translate(guestPhysical address: UInt64, length: UInt32) -> [UnsafeMutableRawBufferPointer]? {
        var pieces: [UnsafeMutableRawBufferPointer] = []
        var at = address
        var left = UInt64(length)
        if left == 0 {
            guard let r = regions.first(where: { at >= $0.guestPhysical && at - $0.guestPhysical < $0.size }) else { return nil }
            return [UnsafeMutableRawBufferPointer(start: r.host + Int(at - r.guestPhysical), count: 0)]
        }
        while left > 0 {
            guard let r = regions.first(where: { at >= $0.guestPhysical && at - $0.guestPhysical < $0.size }) else { return nil }
            let offset = at - r.guestPhysical
            let n = min(left, r.size - offset)
            pieces.append(UnsafeMutableRawBufferPointer(start: r.host + Int(offset), count: Int(n)))
            left -= n
            let (next, overflow) = at.addingReportingOverflow(n)
            if overflow && left > 0 { return nil }
            at = next
        }
        return pieces
    }

    /// The host address of the frontend's virtual `[address, address + length)`, which must lie
    /// within one region (rings do); nil otherwise.
    public func translate(userAddress address: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
        for r in regions where address >= r.userAddress {
            let offset = address - r.userAddress
            guard offset < r.size, length <= r.size - offset else { continue }
            return r.host + Int(offset)
        }
        return nil
    }
}
