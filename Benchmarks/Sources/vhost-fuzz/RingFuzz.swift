import Glibc
import VBenchVhostUser

/// Counts for one part of the run.
struct PartStats {
    var name: String
    var inputs = 0, accepted = 0, rejected = 0
    var notes: [(String, Int)] = []
    mutating func note(_ key: String, _ n: Int = 1) {
        if let i = notes.firstIndex(where: { $0.0 == key }) { notes[i].1 += n } else { notes.append((key, n)) }
    }
}

/// Part 2: split virtqueues over guarded guest memory. A driver (this fuzzer) writes descriptor
/// tables, available rings and indexes, honest and lying; the device side is the `Virtqueue`
/// the vsock device uses, driven through the same calls `VhostUserVsockDevice.handle` makes
/// (SET_VRING_NUM → setSize, SET_VRING_ADDR → address + attach, SET_MEM_TABLE → attach to the
/// new memory, SET_VRING_BASE, GET_VRING_BASE → stop, KICK → started, ENABLE). Each call of
/// `next()` is checked against a reference walker written from the virtio split-ring rules
/// and the device's own documentation; every byte it hands out is checked to lie in a region.
/// Guard pages catch what the checks cannot see (a read past a ring or a region).
final class RingFuzzer {
    var stats = PartStats(name: "rings")
    let quarantine = Quarantine()

    struct Rings { var desc, avail, used: UnsafeMutableRawPointer }

    // The episode.
    var rng = Rng(seed: 0, part: 0, episode: 0)
    var layout: GuardedLayout! = nil
    /// The memory the device currently has (nil after a reset, until the next memory table).
    var deviceMemory: GuardedLayout?
    var q: Virtqueue! = nil

    // The model of the queue (what it must do).
    var mSize: UInt16 = 0
    var mAddress: VringAddress?
    var mQueueMemory: [GuestMemory.Region]?
    var mRings: Rings?
    var mLastAvail: UInt16 = 0
    var mUsedIdx: UInt16 = 0
    var mBroken = false
    var mStarted = false
    var mEnabled: Bool?
    var mMaxChain = 1 << 20
    /// The driver's own available index.
    var driverAvail: UInt16 = 0
    var inputRejected = false

    var mReady: Bool { mStarted && mEnabled != false && mRings != nil && !mBroken }

    func episode(_ e: UInt64, seed: UInt64, inputs: Int) {
        rng = Rng(seed: seed, part: 2, episode: e)
        let size: UInt16 = rng.chance(85) ? UInt16(1) << UInt16(rng.range(0...5)) : rng.chance(80) ? UInt16(1) << UInt16(rng.range(6...10)) : 32768
        let ringBytes = 16 * Int(size) + 6 + 2 * Int(size) + 2 + 6 + 8 * Int(size) + 16
        layout = GuardedLayout.random(&rng, minFirst: rng.chance(90) ? ringBytes : 1)
        deviceMemory = layout
        q = Virtqueue(index: rng.below(2))
        mSize = 0; mAddress = nil; mQueueMemory = nil; mRings = nil; mLastAvail = 0; mUsedIdx = 0
        mBroken = false; mStarted = false; mEnabled = nil; mMaxChain = 1 << 20; driverAvail = 0
        // QEMU's order, sometimes shuffled by the actions that follow.
        setSize(rng.chance(95) ? UInt32(size) : rng.edge32())
        if rng.chance(90) { setAddress(placeRings()) }
        if rng.chance(90) { setBase(rng.chance(80) ? 0 : rng.u16()) }
        if rng.chance(95) { q.started = true; mStarted = true }
        if rng.chance(90) { q.enabled = true; mEnabled = true }
        for i in 0..<inputs {
            setContext("rings episode \(e) input \(i)")
            stats.inputs += 1
            inputRejected = false
            for _ in 0...rng.below(3) { act() }
            service()
            if inputRejected { stats.rejected += 1 } else { stats.accepted += 1 }
            if i % 64 == 0 { watchdog() }
        }
        q = nil
        deviceMemory = nil
        layout = nil
    }

    // MARK: the control plane, as the device drives it

    func setSize(_ n: UInt32) {
        if guardsOnly {
            if (try? q.setSize(n)) != nil { mSize = UInt16(n) }
            return
        }
        let valid = n > 0 && n <= 32768 && n & (n - 1) == 0
        do {
            try q.setSize(n)
            if !valid { fail("setSize(\(n)) accepted a size that is not a power of two up to 32768") }
            mSize = UInt16(n)
            // Rings checked for another size are checked again (or left unattached).
            if let regions = mQueueMemory { _ = modelAttach(regions) }
        } catch {
            if valid { fail("setSize(\(n)) refused a valid size: \(error)") }
            stats.note("sizes refused")
            inputRejected = true
        }
        checkState("after setSize(\(n))")
    }

    func setAddress(_ a: VringAddress) {
        q.address = a
        mAddress = a
        if let deviceMemory { attach(deviceMemory) }
    }

    func attach(_ target: GuardedLayout) {
        if guardsOnly {
            _ = modelAttach(target.regions)  // for the driver's view only
            if (try? q.attach(memory: target.memory)) == nil { inputRejected = true }
            return
        }
        let expectOK = modelAttach(target.regions)
        do {
            try q.attach(memory: target.memory)
            if !expectOK { fail("attach accepted rings the reference refuses (address \(String(describing: mAddress)), size \(mSize))") }
        } catch {
            if expectOK { fail("attach refused rings the reference accepts: \(error)") }
            stats.note("attaches refused")
            inputRejected = true
        }
        checkState("after attach")
    }

    /// The reference attach: aligned rings, each within one region; the used index read back.
    /// Returns whether attach must succeed.
    func modelAttach(_ regions: [GuestMemory.Region]) -> Bool {
        mQueueMemory = regions
        mRings = nil
        guard let a = mAddress, mSize > 0 else { return true }
        let n = UInt64(mSize)
        guard a.descriptors % 16 == 0, a.available % 2 == 0, a.used % 4 == 0,
              let d = referenceTranslate(regions, userAddress: a.descriptors, length: 16 * n),
              let av = referenceTranslate(regions, userAddress: a.available, length: 6 + 2 * n),
              let u = referenceTranslate(regions, userAddress: a.used, length: 6 + 8 * n) else { return false }
        mRings = Rings(desc: d, avail: av, used: u)
        mUsedIdx = loadLE(u, 2, UInt16.self)
        mBroken = false
        return true
    }

    func setBase(_ v: UInt16) {
        q.lastAvailable = v
        mLastAvail = v
    }

    func checkState(_ when: String) {
        if guardsOnly { return }
        if q.size != mSize { fail("\(when): size \(q.size), expected \(mSize)") }
        if q.lastAvailable != mLastAvail { fail("\(when): last available \(q.lastAvailable), expected \(mLastAvail)") }
        if (q.broken != nil) != mBroken { fail("\(when): broken \(String(describing: q.broken)), expected \(mBroken)") }
        if q.isReady != mReady { fail("\(when): isReady \(q.isReady), expected \(mReady) (rings \(mRings == nil ? "refused/none" : "attached"), started \(mStarted), enabled \(String(describing: mEnabled)), broken \(mBroken))") }
        if mRings != nil && q.usedIndex != mUsedIdx { fail("\(when): used index \(q.usedIndex), expected \(mUsedIdx)") }
    }

    // MARK: where the driver puts its rings

    func placeRings() -> VringAddress {
        let n = Int(max(mSize, 1))
        let lengths = [16 * n, 6 + 2 * n, 6 + 8 * n], aligns = [16, 2, 4]
        var addrs: [UInt64] = [0, 0, 0]
        let regions = layout.regions
        let mode = rng.below(20)
        if mode < 13 {
            // One block in one region, its parts in a random order, flush with the region's end
            // (so the last byte is next to the guard page) or its start, or anywhere.
            let r = rng.chance(80) ? regions[0] : rng.pick(regions)
            var order = [0, 1, 2]
            for i in (1..<3).reversed() { order.swapAt(i, rng.below(i + 1)) }
            var offsets = [0, 0, 0], at = 0
            for p in order {
                at = (at + aligns[p] - 1) / aligns[p] * aligns[p]
                offsets[p] = at
                at += lengths[p]
            }
            let total = at
            let size = Int(r.size)
            // Block start o with (ua + o) % 16 == 0.
            let misalign = Int(r.userAddress % 16)
            let first = misalign == 0 ? 0 : 16 - misalign
            var o: Int
            switch rng.below(10) {
            case 0..<5:
                o = size - total
                if o >= 0 { o -= Int((r.userAddress &+ UInt64(o)) % 16) }
            case 5..<8: o = first
            default: o = first + 16 * rng.below(max(1, (size - total - first) / 16 + 1))
            }
            if o < 0 { o = first }
            for p in 0..<3 { addrs[p] = r.userAddress &+ UInt64(o + offsets[p]) }
        } else if mode < 16 {
            for p in 0..<3 {
                let r = rng.pick(regions)
                let room = max(0, Int(r.size) - lengths[p])
                var off = rng.chance(50) ? room : rng.below(room + 1)
                off -= Int((r.userAddress &+ UInt64(off)) % UInt64(aligns[p]))
                addrs[p] = r.userAddress &+ UInt64(max(off, 0))
            }
        } else if mode < 18 {
            // A part that runs past its region's end, or one misaligned.
            for p in 0..<3 {
                let r = rng.pick(regions)
                addrs[p] = r.userAddress &+ UInt64(max(0, Int(r.size) - lengths[p]))
            }
            let p = rng.below(3)
            if rng.chance(50) { addrs[p] &+= UInt64(aligns[p] * rng.range(1...4)) } else { addrs[p] &+= UInt64(rng.range(1...15)) }
        } else {
            for p in 0..<3 { addrs[p] = rng.chance(50) ? rng.edge64() : rng.pick(regions).userAddress &+ rng.edge64() }
        }
        return VringAddress(index: UInt32(q.index), flags: 0, descriptors: addrs[0], used: addrs[2], available: addrs[1], log: 0)
    }

    // MARK: the driver's actions

    /// The driver's view of its rings: where the address points in the current memory.
    var driverRings: Rings? {
        guard let a = mAddress, mSize > 0, let deviceMemory else { return nil }
        let n = UInt64(mSize), regions = deviceMemory.regions
        guard let d = referenceTranslate(regions, userAddress: a.descriptors, length: 16 * n),
              let av = referenceTranslate(regions, userAddress: a.available, length: 6 + 2 * n),
              let u = referenceTranslate(regions, userAddress: a.used, length: 6 + 8 * n) else { return nil }
        return Rings(desc: d, avail: av, used: u)
    }

    func act() {
        let r = rng.below(100)
        guard let rings = driverRings else {
            // Nothing to write into: control-plane actions only.
            control()
            return
        }
        let n = Int(mSize)
        switch r {
        case 0..<35:
            buildChain(rings)
        case 35..<50:
            for _ in 0...rng.below(4) { writeDescriptor(rings, rng.below(n)) }
        case 50..<58:
            publish(rings, rng.chance(70) ? UInt16(rng.below(n)) : rng.pick([UInt16(n), UInt16(n &+ 1), 0xffff, rng.u16()]))
        case 58..<66:
            // An available index that jumps.
            driverAvail = rng.chance(50) ? mLastAvail &+ rng.pick([0, 1, UInt16(n), UInt16(truncatingIfNeeded: n + 1), 0x8000, 0xffff])
                                         : rng.u16()
            storeLE(rings.avail, 2, driverAvail)
        case 66..<72:
            havoc()
        case 72..<75:
            // The used index the device reads back at its next attach.
            storeLE(rings.used, 2, rng.u16())
        default:
            control()
        }
    }

    func control() {
        switch rng.below(100) {
        case 0..<15:
            // SET_VRING_NUM, often after the rings were set: grows are the dangerous kind.
            let v: UInt32 = rng.chance(70) ? UInt32(1) << UInt32(rng.range(0...15)) : rng.edge32()
            setSize(v)
        case 15..<30:
            setAddress(placeRings())
        case 30..<40:
            setBase(rng.chance(50) ? driverAvail : rng.u16())
            checkState("after SET_VRING_BASE")
        case 40..<48:
            let base = q.stop()
            if base != mLastAvail && !guardsOnly { fail("stop() returned \(base), expected \(mLastAvail)") }
            mStarted = false
        case 48..<60:
            q.started = true; mStarted = true
        case 60..<68:
            let e: Bool? = rng.chance(70) ? true : rng.chance(50) ? false : nil
            q.enabled = e; mEnabled = e
        case 68..<80:
            newMemoryTable()
        case 80..<86:
            let v = rng.chance(50) ? 1 << 20 : rng.chance(50) ? rng.range(0...4096) : Int(rng.edge32())
            q.maxChainBytes = v; mMaxChain = v
        case 86..<90:
            // The frontend went away: a reset, then a new memory table and rings.
            q.reset()
            mSize = 0; mAddress = nil; mQueueMemory = nil; mRings = nil; mLastAvail = 0; mUsedIdx = 0
            mBroken = false; mStarted = false; mEnabled = nil
            mMaxChain = q.maxChainBytes
            if let old = deviceMemory { retire(old) }
            deviceMemory = nil
            checkState("after reset")
        default:
            if deviceMemory == nil { newMemoryTable() }
            if rng.chance(50) { setSize(UInt32(1) << UInt32(rng.range(0...6))) }
            setAddress(placeRings())
        }
    }

    /// SET_MEM_TABLE: new regions; the old memory is retired (PROT_NONE, in quarantine) so a
    /// pointer into it that survived faults. Queues with an address are attached to the new one.
    func newMemoryTable() {
        let n = Int(max(mSize, 1))
        let ringBytes = 16 * n + 6 + 2 * n + 2 + 6 + 8 * n + 16
        let next = GuardedLayout.random(&rng, minFirst: rng.chance(80) ? ringBytes : 1)
        let old = deviceMemory
        deviceMemory = next
        layout = next
        if mAddress != nil {
            // The device replaces its table, then attaches the queues that have an address.
            if let old { retire(old) }
            attach(next)
        } else if let old {
            retire(old)
        }
        stats.note("memory tables")
    }

    func retire(_ l: GuardedLayout) {
        // The layout's areas may still be referenced by `layout` when it is the current one.
        quarantine.add(l.areas)
    }

    func writeDescriptor(_ rings: Rings, _ i: Int, address: UInt64? = nil, length: UInt32? = nil, flags: UInt16? = nil, next: UInt16? = nil) {
        let d = randomDescriptor()
        let at = 16 * i
        storeLE(rings.desc, at, address ?? d.addr)
        storeLE(rings.desc, at + 8, length ?? d.len)
        storeLE(rings.desc, at + 12, flags ?? d.flags)
        storeLE(rings.desc, at + 14, next ?? d.next)
    }

    func randomBuffer(maxLength: Int = 1 << 16) -> (addr: UInt64, len: UInt32) {
        let regions = deviceMemory?.regions ?? layout.regions
        let r = rng.pick(regions)
        let size = Int(r.size)
        let len = min(size, rng.chance(60) ? rng.pick([0, 1, 2, 8, 43, 44, 45, 64, 100, 4096]) : rng.below(min(size, maxLength) + 1))
        let off: Int
        switch rng.below(10) {
        case 0..<4: off = size - len
        case 4..<6: off = 0
        default: off = rng.below(size - len + 1)
        }
        return (r.guestPhysical &+ UInt64(off), UInt32(len))
    }

    func randomDescriptor() -> (addr: UInt64, len: UInt32, flags: UInt16, next: UInt16) {
        let n = Int(max(mSize, 1))
        let regions = deviceMemory?.regions ?? layout.regions
        var addr: UInt64, len: UInt32
        switch rng.below(100) {
        case 0..<45:
            (addr, len) = randomBuffer()
        case 45..<60:
            // Straddling a region's end (or its start).
            let r = rng.pick(regions)
            let k = UInt64(rng.range(1...max(1, min(Int(r.size), 64))))
            if rng.chance(70) {
                addr = r.guestPhysical &+ r.size &- k
                len = UInt32(k) + UInt32(rng.range(1...4096))
            } else {
                addr = r.guestPhysical &- k
                len = UInt32(k) + UInt32(rng.range(0...64))
            }
        case 60..<68:
            (addr, _) = randomBuffer()
            len = rng.pick([UInt32.max, 1 << 20, (1 << 20) + 1, 0x8000_0000, UInt32(truncatingIfNeeded: mMaxChain), UInt32(truncatingIfNeeded: mMaxChain &+ 1)])
        case 68..<76:
            addr = rng.edge64()
            len = UInt32(rng.range(0...64))
        case 76..<86:
            // Across two regions that touch (or overlap) in guest-physical space.
            let a = rng.pick(regions), b = rng.pick(regions)
            let end = a.guestPhysical &+ a.size
            if b.guestPhysical <= end && end - b.guestPhysical < b.size {
                let k = UInt64(rng.range(1...Int(min(a.size, 64))))
                addr = end &- k
                len = UInt32(k) + UInt32(rng.below(Int(min(b.size - (end - b.guestPhysical), 4096)) + 1))
            } else {
                (addr, len) = randomBuffer()
            }
        default:
            addr = rng.next()
            len = rng.u32()
        }
        var flags: UInt16
        switch rng.below(10) {
        case 0..<7: flags = UInt16(rng.below(4))  // NEXT and WRITE
        case 7: flags = UInt16(rng.below(4)) | Virtqueue.descriptorIndirect
        default: flags = rng.u16()
        }
        let next: UInt16 = rng.chance(75) ? UInt16(rng.below(n)) : rng.chance(50) ? rng.pick([UInt16(truncatingIfNeeded: n), UInt16(truncatingIfNeeded: n - 1), 0xffff]) : rng.u16()
        return (addr, len, flags, next)
    }

    /// A chain laid out as a driver would (mostly): distinct descriptors, readable then writable
    /// pieces, NEXT on all but the last; sometimes a loop, a dangling NEXT, or a lie inside.
    func buildChain(_ rings: Rings) {
        let n = Int(mSize)
        let k = rng.chance(90) ? rng.range(1...min(n, 6)) : rng.range(1...n)
        var indices = Array(0..<n)
        for i in 0..<min(k, n) { indices.swapAt(i, i + rng.below(n - i)) }
        var chain = Array(indices.prefix(k))
        let loop = rng.chance(5), dangling = rng.chance(3), lie = rng.chance(15)
        if loop, let f = chain.first { chain.append(f) }
        let firstWritable = rng.below(chain.count + 1)
        let writesWrongWay = rng.chance(10)
        for (j, i) in chain.enumerated() {
            if loop && j == chain.count - 1 { break }  // the last entry points back to the head
            let isLast = j == chain.count - 1
            var flags: UInt16 = 0
            if !isLast || dangling { flags |= Virtqueue.descriptorNext }
            if (j >= firstWritable) != writesWrongWay { flags |= Virtqueue.descriptorWrite }
            let b = randomBuffer(maxLength: 8192)
            let next: UInt16 = isLast ? (dangling ? UInt16(truncatingIfNeeded: n + rng.below(8)) : 0) : UInt16(chain[j + 1])
            writeDescriptor(rings, i, address: b.addr, length: b.len, flags: flags, next: next)
        }
        if lie { writeDescriptor(rings, rng.pick(chain)) }
        publish(rings, UInt16(chain[0]))
        if rng.chance(20) {
            // Several chains at once.
            for _ in 0..<rng.below(3) { publish(rings, UInt16(rng.pick(chain))) }
        }
    }

    func publish(_ rings: Rings, _ head: UInt16) {
        let slot = Int(driverAvail & (mSize - 1))
        storeLE(rings.avail, 4 + 2 * slot, head)
        driverAvail &+= 1
        storeLE(rings.avail, 2, driverAvail)
    }

    /// Random bytes over part of a region (rings included).
    func havoc() {
        guard let regions = deviceMemory?.regions else { return }
        let r = rng.pick(regions)
        let size = Int(r.size)
        let len = rng.range(1...min(size, 64))
        let off = rng.chance(50) ? size - len : rng.below(size - len + 1)
        let bytes = rng.bytes(len)
        bytes.withUnsafeBytes { (r.host + off).copyMemory(from: $0.baseAddress!, byteCount: len) }
    }

    // MARK: the device's service, checked

    enum Expected { case idle, broken(String), chain(UInt16, [(UnsafeMutableRawBufferPointer, Bool)]) }

    /// The reference walk (virtio 1.2, 2.7.5–2.7.13, with this device's limits: no indirect
    /// descriptors, chains of at most `maxChainBytes`, at most `size` descriptors).
    func modelNext() -> Expected {
        guard mReady, let rings = mRings, let regions = mQueueMemory else { return .idle }
        let availIdx = loadLE(rings.avail, 2, UInt16.self)
        let pending = availIdx &- mLastAvail
        if pending == 0 { return .idle }
        if pending > mSize { return .broken("\(pending) available in a ring of \(mSize)") }
        let head = loadLE(rings.avail, 4 + 2 * Int(mLastAvail & (mSize - 1)), UInt16.self)
        if head >= mSize { return .broken("head \(head)") }
        var pieces: [(UnsafeMutableRawBufferPointer, Bool)] = []
        var i = head, count = 0, total = 0
        while true {
            count += 1
            if count > Int(mSize) { return .broken("loop") }
            let at = 16 * Int(i)
            let addr = loadLE(rings.desc, at, UInt64.self), len = loadLE(rings.desc, at + 8, UInt32.self)
            let flags = loadLE(rings.desc, at + 12, UInt16.self), next = loadLE(rings.desc, at + 14, UInt16.self)
            if flags & Virtqueue.descriptorIndirect != 0 { return .broken("indirect") }
            total += Int(len)
            if total > mMaxChain { return .broken("too long") }
            guard let t = referenceTranslate(regions, guestPhysical: addr, length: len) else { return .broken("outside memory") }
            for p in t { pieces.append((p, flags & Virtqueue.descriptorWrite != 0)) }
            if flags & Virtqueue.descriptorNext == 0 { break }
            if next >= mSize { return .broken("next \(next)") }
            i = next
        }
        return .chain(head, pieces)
    }

    func service() {
        let regions = mQueueMemory ?? []
        if guardsOnly {
            var served = 0
            while served < Int(max(mSize, 1)) + 2, let got = q.next() {
                served += 1
                for p in got.pieces where !insideSomeRegion(p.bytes, regions) { fail("chain \(got.head): a piece outside every region") }
                _ = got.readableBytes()
                q.putUsed(got.head, written: got.write(rng.bytes(rng.below(got.writableLength + 16))))
                stats.note("chains served")
            }
            mLastAvail = q.lastAvailable
            if q.broken != nil { mBroken = true; inputRejected = true }
            return
        }
        if let rings = mRings, mReady {
            let expect = loadLE(rings.avail, 2, UInt16.self) != mLastAvail
            if q.hasAvailable != expect { fail("hasAvailable \(q.hasAvailable), expected \(expect)") }
        } else if q.hasAvailable {
            fail("hasAvailable on a queue that is not ready")
        }
        for _ in 0..<(Int(max(mSize, 1)) + 2) {
            let expected = modelNext()
            let got = q.next()
            switch expected {
            case .idle:
                if let got { fail("next() served head \(got.head) where the reference has nothing to serve (rings \(mRings == nil ? "refused/none" : "attached"), ready \(mReady))") }
                checkState("after an idle next()")
                return
            case .broken(let why):
                if let got { fail("next() served head \(got.head) of a chain the reference refuses (\(why))") }
                if q.broken == nil { fail("next() returned nothing but left the queue unbroken where the reference refuses (\(why))") }
                mBroken = true
                stats.note("queues broken")
                inputRejected = true
                checkState("after a refused chain")
                return
            case .chain(let head, let pieces):
                guard let got else { fail("next() served nothing (broken: \(String(describing: q.broken))) where the reference serves head \(head)") }
                mLastAvail &+= 1
                if got.head != head { fail("next() served head \(got.head), expected \(head)") }
                if got.pieces.count != pieces.count { fail("chain \(head): \(got.pieces.count) pieces, expected \(pieces.count)") }
                for (a, b) in zip(got.pieces, pieces) {
                    if a.bytes.baseAddress != b.0.baseAddress || a.bytes.count != b.0.count || a.writable != b.1 {
                        fail("chain \(head): a piece differs from the reference")
                    }
                    if !insideSomeRegion(a.bytes, regions) { fail("chain \(head): a piece outside every region") }
                }
                stats.note("chains served")
                // Use the chain as the vsock device does: read the readable part, write into the
                // writable part, return it.
                _ = got.readableBytes()
                let data = rng.bytes(rng.chance(50) ? rng.below(got.writableLength + 16) : rng.below(64))
                let written = got.write(data)
                if written != min(data.count, got.writableLength) { fail("write put \(written) bytes, expected \(min(data.count, got.writableLength))") }
                q.putUsed(got.head, written: written)
                if let rings = mRings {
                    let slot = Int(mUsedIdx & (mSize - 1))
                    mUsedIdx &+= 1
                    let h = loadLE(rings.used, 4 + 8 * slot, UInt32.self), l = loadLE(rings.used, 8 + 8 * slot, UInt32.self)
                    let idx = loadLE(rings.used, 2, UInt16.self)
                    if h != UInt32(head) || l != UInt32(written) || idx != mUsedIdx {
                        fail("used ring: (\(h), \(l)) index \(idx), expected (\(head), \(written)) index \(mUsedIdx)")
                    }
                }
                checkState("after serving a chain")
            }
        }
    }
}
