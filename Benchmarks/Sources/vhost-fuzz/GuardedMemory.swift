import Glibc
import VBenchVhostUser

let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

/// One guest memory region's backing: an anonymous mapping with a PROT_NONE page before and
/// after it, so a read or write a byte outside what the region may touch faults (SIGSEGV) —
/// on the side the region is flush with. Regions are placed flush with the trailing guard
/// (the usual overrun) or with the leading one (an underrun), chosen per region.
final class GuardedArea {
    let base: UnsafeMutableRawPointer
    let total: Int
    let usable: UnsafeMutableRawPointer
    let usableLength: Int
    private var slots: [Int] = []

    init(pages: Int) {
        usableLength = pages * pageSize
        total = usableLength + 2 * pageSize
        guard let p = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), p != MAP_FAILED else {
            fail("mmap of \(total) bytes: errno \(errno)")
        }
        base = p
        usable = p + pageSize
        guard mprotect(p, pageSize, PROT_NONE) == 0, mprotect(usable + usableLength, pageSize, PROT_NONE) == 0 else {
            fail("mprotect: errno \(errno)")
        }
        slots.append(GuardTable.add(p, pageSize, kind: 1))
        slots.append(GuardTable.add(usable + usableLength, pageSize, kind: 1))
    }

    /// The frontend replaced this memory: from now on every byte of it faults. The area stays
    /// mapped (PROT_NONE) while it sits in quarantine, so a stale pointer faults instead of
    /// reading whatever the next mmap puts at the same address.
    func retire() {
        guard mprotect(usable, usableLength, PROT_NONE) == 0 else { fail("mprotect: errno \(errno)") }
        slots.append(GuardTable.add(usable, usableLength, kind: 2))
    }

    deinit {
        for s in slots { GuardTable.remove(s) }
        munmap(base, total)
    }
}

/// Retired areas, kept PROT_NONE for a while before they are unmapped.
final class Quarantine {
    private var areas: [GuardedArea] = []
    let limit: Int
    init(limit: Int = 64) { self.limit = limit }
    func add(_ retired: [GuardedArea]) {
        for a in retired {
            a.retire()
            areas.append(a)
        }
        if areas.count > limit { areas.removeFirst(areas.count - limit) }
    }
    func drain() { areas.removeAll() }
}

/// A guest memory table laid out on guarded areas: what `GuestMemory` serves and what the
/// fuzzer's reference reads.
struct GuardedLayout {
    var areas: [GuardedArea]
    var regions: [GuestMemory.Region]
    var memory: GuestMemory

    /// `minFirst`: bytes the first region must hold (a ring laid out in one piece).
    static func random(_ rng: inout Rng, minFirst: Int = 0) -> GuardedLayout {
        let count = rng.chance(50) ? 1 : rng.chance(60) ? 2 : rng.range(3...4)
        var areas: [GuardedArea] = [], regions: [GuestMemory.Region] = []
        let gpMode = rng.below(5), uaMode = rng.below(4)
        var gpNext: UInt64 = rng.pick([0, 0x1000, 0x10_0000, 0x8000_0000, UInt64(rng.below(1 << 20)) << 12])
        var uaNext: UInt64 = 0x7f00_0000_0000 + (UInt64(rng.below(1 << 16)) << 12)
        for i in 0..<count {
            let wantBytes = i == 0 ? max(minFirst, 1) : 1
            let minPages = (wantBytes + pageSize - 1) / pageSize
            let pages = max(minPages, rng.chance(70) ? rng.range(1...3) : rng.range(1...16))
            let area = GuardedArea(pages: pages)
            var size = pages * pageSize
            if rng.chance(40) { size -= rng.below(min(pageSize, size - wantBytes + 1)) }  // not a page multiple
            let flushEnd = rng.chance(75)
            let host = flushEnd ? area.usable + (area.usableLength - size) : area.usable
            let size64 = UInt64(size)
            // Guest-physical: adjacent, with gaps, overlapping, at the top of the address space, anywhere.
            var gp: UInt64
            switch gpMode {
            case 0: gp = gpNext
            case 1: gp = gpNext &+ UInt64(rng.below(4)) * 0x1000 &+ UInt64(rng.below(2) * rng.below(64))
            case 2: gp = i == 0 ? gpNext : regions[rng.below(regions.count)].guestPhysical &+ UInt64(rng.below(size))
            case 3: gp = UInt64.max - size64 - UInt64(rng.below(3)) * size64 - UInt64(rng.below(2))
            default: gp = rng.next()
            }
            if gp > UInt64.max - size64 { gp = UInt64.max - size64 }  // GuestMemory.map refuses gp + size past 2^64
            gpNext = gp &+ size64
            // The frontend's addresses: like QEMU, congruent with the host mapping mod the page size, mostly.
            var ua: UInt64
            switch uaMode {
            case 0, 1: ua = uaNext + UInt64(UInt(bitPattern: host) % UInt(pageSize))
            case 2: ua = i == 0 ? uaNext : regions[rng.below(regions.count)].userAddress &+ UInt64(rng.below(size))
            default: ua = rng.chance(50) ? rng.next() : UInt64.max - size64 - UInt64(rng.below(64))
            }
            if ua > UInt64.max - size64 { ua = UInt64.max - size64 }
            uaNext = (ua &+ size64 &+ UInt64(pageSize)) & ~UInt64(pageSize - 1)
            areas.append(area)
            regions.append(makeRegion(guestPhysical: gp, size: size64, userAddress: ua, host: host))
        }
        return GuardedLayout(areas: areas, regions: regions, memory: GuestMemory(regions: regions, mappings: []))
    }
}

/// `GuestMemory.Region` has public fields but no public initializer: start from a region of a
/// real table (one memory file mapped by `GuestMemory.map`, as SET_MEM_TABLE does) and set them.
nonisolated(unsafe) private var regionTemplate: GuestMemory.Region? = nil

func makeRegion(guestPhysical: UInt64, size: UInt64, userAddress: UInt64, host: UnsafeMutableRawPointer) -> GuestMemory.Region {
    if regionTemplate == nil {
        guard let file = MemFile(size: pageSize),
              let m = try? GuestMemory.map([MemoryRegionDescription(guestPhysical: 0, size: UInt64(pageSize), userAddress: 0, mmapOffset: 0)],
                                           descriptors: [dup(file.fd)]) else { fail("a template region: GuestMemory.map of one page failed") }
        regionTemplate = m.regions[0]
    }
    var r = regionTemplate!
    r.guestPhysical = guestPhysical
    r.size = size
    r.userAddress = userAddress
    r.host = host
    return r
}

// MARK: the reference (what the spec and the device's documentation promise)

/// The host bytes of guest-physical [address, address + length): every byte must lie in some
/// region; where regions overlap, the first in table order serves (GuestMemory's documented rule).
func referenceTranslate(_ regions: [GuestMemory.Region], guestPhysical address: UInt64, length: UInt32) -> [UnsafeMutableRawBufferPointer]? {
    func region(at a: UInt64) -> GuestMemory.Region? {
        for r in regions where a >= r.guestPhysical && a - r.guestPhysical < r.size { return r }
        return nil
    }
    if length == 0 {
        guard let r = region(at: address) else { return nil }
        return [UnsafeMutableRawBufferPointer(start: r.host + Int(address - r.guestPhysical), count: 0)]
    }
    // The last byte must exist (no wrap past 2^64).
    guard address <= UInt64.max - UInt64(length - 1) else { return nil }
    var out: [UnsafeMutableRawBufferPointer] = []
    var at = address, left = UInt64(length)
    while left > 0 {
        guard let r = region(at: at) else { return nil }
        let off = at - r.guestPhysical
        let n = min(left, r.size - off)
        out.append(UnsafeMutableRawBufferPointer(start: r.host + Int(off), count: Int(n)))
        left -= n
        if left > 0 { at += n }
    }
    return out
}

/// Where a ring of `length` bytes at the frontend's `address` is: within one region, first match.
func referenceTranslate(_ regions: [GuestMemory.Region], userAddress address: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
    for r in regions where address >= r.userAddress && address - r.userAddress < r.size && length <= r.size - (address - r.userAddress) {
        return r.host + Int(address - r.userAddress)
    }
    return nil
}

/// Whether `piece` lies wholly inside one region's host bytes.
func insideSomeRegion(_ piece: UnsafeMutableRawBufferPointer, _ regions: [GuestMemory.Region]) -> Bool {
    let start = UInt(bitPattern: piece.baseAddress)
    for r in regions {
        let h = UInt(bitPattern: r.host)
        if start >= h && start - h <= UInt(r.size) && UInt(piece.count) <= UInt(r.size) - (start - h) { return true }
    }
    return false
}
