import CVBenchShims
import VBenchSystem
@testable import VBenchVhostUser

/// A stand-in for a guest driver: one memory region laid out as a split ring of `size`
/// descriptors (descriptor table, available ring, used ring) and buffers, with the ring in
/// the test's hands and the device side as `Virtqueue` sees it.
final class RingBuilder {
    static let guestBase: UInt64 = 0x10_0000
    static let userBase: UInt64 = 0x7f00_0000_0000
    static let descOffset = 0x0000, availOffset = 0x1000, usedOffset = 0x2000, bufferOffset = 0x1_0000
    let mapping: SharedMapping
    let memory: GuestMemory
    let size: UInt16
    var availIndex: UInt16 = 0
    var usedSeen: UInt16 = 0
    var nextBuffer = 0

    /// `fd`: a memory file to map (the frontend's view); nil: anonymous memory.
    init(size: UInt16 = 8, bytes: Int = 1 << 20, fd: Int32? = nil) throws {
        mapping = try fd.map { try SharedMapping(fd: $0, length: bytes) } ?? SharedMapping(anonymous: bytes)
        memory = GuestMemory(regions: [.init(guestPhysical: Self.guestBase, size: UInt64(bytes), userAddress: Self.userBase, host: mapping.base)],
                             mappings: [mapping])
        self.size = size
    }

    var address: VringAddress {
        VringAddress(index: 0, flags: 0, descriptors: Self.userBase + UInt64(Self.descOffset), used: Self.userBase + UInt64(Self.usedOffset),
                     available: Self.userBase + UInt64(Self.availOffset), log: 0)
    }

    /// A device-side queue on this ring, started and enabled.
    func queue(index: Int = 0) throws -> Virtqueue {
        let q = Virtqueue(index: index)
        try q.setSize(UInt32(size))
        q.address = address
        try q.attach(memory: memory)
        q.started = true
        q.enabled = true
        return q
    }

    func setDescriptor(_ i: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16 = 0) {
        let d = mapping.base + Self.descOffset + 16 * i
        d.storeBytes(of: address.littleEndian, as: UInt64.self)
        d.storeBytes(of: length.littleEndian, toByteOffset: 8, as: UInt32.self)
        d.storeBytes(of: flags.littleEndian, toByteOffset: 12, as: UInt16.self)
        d.storeBytes(of: next.littleEndian, toByteOffset: 14, as: UInt16.self)
    }

    /// Space for a buffer of `length` bytes, with `bytes` in it; returns its guest address.
    func buffer(_ bytes: [UInt8], length: Int? = nil) -> UInt64 {
        let at = Self.bufferOffset + nextBuffer
        nextBuffer += ((length ?? bytes.count) + 63) & ~63
        bytes.withUnsafeBytes { (mapping.base + at).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return Self.guestBase + UInt64(at)
    }

    func read(_ guestAddress: UInt64, _ count: Int) -> [UInt8] {
        let p = mapping.base + Int(guestAddress - Self.guestBase)
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }

    /// Makes `head` available (and publishes the index with release order).
    func publish(_ head: UInt16) {
        let slot = Int(availIndex % size)
        (mapping.base + Self.availOffset).storeBytes(of: head.littleEndian, toByteOffset: 4 + 2 * slot, as: UInt16.self)
        availIndex &+= 1
        vbench_store_release_u16(mapping.base + Self.availOffset + 2, availIndex)
    }

    /// Sets the available index to anything (for lies).
    func setAvailableIndex(_ v: UInt16) { vbench_store_release_u16(mapping.base + Self.availOffset + 2, v) }

    /// Used elements the device added since the last call: (head, written).
    func takeUsed() -> [(UInt16, UInt32)] {
        let idx = vbench_load_acquire_u16(mapping.base + Self.usedOffset + 2)
        var out: [(UInt16, UInt32)] = []
        while usedSeen != idx {
            let slot = Int(usedSeen % size)
            let u = mapping.base + Self.usedOffset + 4 + 8 * slot
            out.append((UInt16(UInt32(littleEndian: u.loadUnaligned(as: UInt32.self))),
                        UInt32(littleEndian: u.loadUnaligned(fromByteOffset: 4, as: UInt32.self))))
            usedSeen &+= 1
        }
        return out
    }

    /// One readable descriptor at `i` holding `bytes`, published.
    func sendReadable(_ i: Int, _ bytes: [UInt8]) {
        setDescriptor(i, address: buffer(bytes), length: UInt32(bytes.count), flags: 0)
        publish(UInt16(i))
    }
}

func packet(_ op: VsockHeader.Op, src: UInt64 = 3, dst: UInt64 = 2, srcPort: UInt32 = 1025, dstPort: UInt32 = 5000,
            payload: [UInt8] = [], flags: UInt32 = 0, bufAlloc: UInt32 = 256 * 1024, fwdCnt: UInt32 = 0, length: UInt32? = nil) -> [UInt8] {
    VsockHeader(sourceCID: src, destinationCID: dst, sourcePort: srcPort, destinationPort: dstPort,
                length: length ?? UInt32(payload.count), op: op, flags: flags, bufferAllocation: bufAlloc, forwardCount: fwdCnt).encoded + payload
}
