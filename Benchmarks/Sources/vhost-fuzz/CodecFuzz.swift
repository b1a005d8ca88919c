import Glibc
import VBenchSystem  // memory files, eventfds: what QEMU hands over (VBenchVhostUser's own dependency)
import VBenchVhostUser

/// A memory file the frontend owns (QEMU's memory-backend-memfd), mapped by the fuzzer for
/// its own writes (rings and buffers, as the guest driver would); the device gets a duplicate.
final class MemFile {
    let fd: Int32
    let size: Int
    let map: UnsafeMutableRawPointer?
    init?(size: Int) {
        guard let fd = try? Descriptors.memoryFile(name: "vhost-fuzz", size: size) else { return nil }
        self.fd = fd
        self.size = size
        if size > 0, let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED { map = p } else { map = nil }
    }
    deinit {
        if let map { munmap(map, size) }
        close(fd)
    }
}

/// Part 1: the vhost-user message codec and the device's control plane. Random and mutated
/// headers and payloads of every request (sizes, flags, numbers, memory tables with bad counts,
/// overlaps, huge sizes and offsets, files shorter than the regions, ring addresses in and out of
/// memory, kicks with and without descriptors), decoded as the backend decodes its socket and
/// handed to `VhostUserVsockDevice.handle`; between messages the fuzzer plays the guest driver on
/// the rings the device accepted. Checked: every descriptor handed over is closed unless the
/// device keeps it as a kick or call; replies are well formed and only where the protocol has
/// them; no descriptor survives an episode.
final class CodecFuzzer {
    var stats = PartStats(name: "codec")
    var rng = Rng(seed: 0, part: 0, episode: 0)
    var device: VhostUserVsockDevice! = nil
    let baselineDescriptors: Int

    struct Declared { var gp, size, ua, offset: UInt64; var file: MemFile? }
    /// The memory table the device accepted last (what the driver writes through).
    var table: [Declared] = []
    var ringAddress: [VringAddress?] = [nil, nil]
    var ringSize: [UInt32] = [0, 0]
    var driverAvail: [UInt16] = [0, 0]

    init(baselineDescriptors: Int) { self.baselineDescriptors = baselineDescriptors }

    func episode(_ e: UInt64, seed: UInt64, inputs: Int) {
        rng = Rng(seed: seed, part: 1, episode: e)
        device = VhostUserVsockDevice(guestCID: rng.chance(80) ? 3 : rng.edge64())
        table = []; ringAddress = [nil, nil]; ringSize = [0, 0]; driverAvail = [0, 0]
        // Half the episodes follow QEMU's handshake (each step possibly mutated), then go random.
        var script: [() -> Message] = rng.chance(50) ? handshake() : []
        for i in 0..<inputs {
            setContext("codec episode \(e) input \(i)")
            stats.inputs += 1
            let m = script.isEmpty || rng.chance(10) ? randomMessage() : script.removeFirst()()
            if feed(m) { stats.accepted += 1 } else { stats.rejected += 1 }
            if rng.chance(30) { drive() }
            if i % 64 == 0 { watchdog() }
        }
        device.reset()
        for q in device.queues where q.kick != -1 || q.call != -1 { fail("reset left vring \(q.index) with descriptors \(q.kick), \(q.call)") }
        device = nil
        table = []
        let now = openDescriptorCount()
        if now != baselineDescriptors { fail("\(now) descriptors open after the episode, \(baselineDescriptors) before it (a leak)") }
    }

    // MARK: messages

    struct Message {
        var request: UInt32
        var flags: UInt32
        var payload: [UInt8]
        var fds: [Int32]
        /// For SET_MEM_TABLE: the table as declared (kept if the device takes it).
        var declared: [Declared]? = nil
        var address: VringAddress? = nil
    }

    func u64(_ v: UInt64) -> [UInt8] { var o = [UInt8](); o.put(v); return o }
    func pair(_ a: UInt32, _ b: UInt32) -> [UInt8] { var o = [UInt8](); o.put(a); o.put(b); return o }

    var flags: UInt32 { rng.chance(70) ? 1 : rng.chance(70) ? 9 : rng.pick([0, 2, 3, 5, 0xd, 0xffff_ffff, rng.u32()]) }
    var ringIndex: UInt32 { rng.chance(85) ? UInt32(rng.below(2)) : rng.pick([2, 3, 0xff, 0x100, UInt32.max, rng.u32()]) }

    func eventFD() -> Int32 { (try? Descriptors.eventFD()) ?? -1 }

    func handshake() -> [() -> Message] {
        var steps: [() -> Message] = [
            { Message(request: 1, flags: 1, payload: [], fds: []) },
            { Message(request: 15, flags: 1, payload: [], fds: []) },
            { Message(request: 16, flags: 1, payload: self.u64(VhostUserFeatures.offeredProtocol), fds: []) },
            { Message(request: 17, flags: 1, payload: [], fds: []) },
            { Message(request: 3, flags: 1, payload: [], fds: []) },
            { Message(request: 24, flags: 1, payload: self.pair(0, 8) + self.pair(0, 0) + [UInt8](repeating: 0, count: 4), fds: []) },
            { Message(request: 2, flags: 1, payload: self.u64(VhostUserFeatures.offered), fds: []) },
            { self.memTable(honest: true) },
        ]
        for index: UInt32 in [0, 1] {
            let size = UInt32(1) << UInt32(rng.range(0...6))
            steps += [
                { Message(request: 8, flags: 1, payload: self.pair(index, size), fds: []) },
                { Message(request: 10, flags: 1, payload: self.pair(index, 0), fds: []) },
                { self.vringAddress(index: index, size: size) },
                { Message(request: 12, flags: 1, payload: self.u64(UInt64(index)), fds: [self.eventFD()]) },
                { Message(request: 13, flags: 1, payload: self.u64(UInt64(index)), fds: [self.eventFD()]) },
                { Message(request: 18, flags: 1, payload: self.pair(index, 1), fds: []) },
            ]
        }
        // Each step possibly replaced by something else.
        return steps.map { step in rng.chance(15) ? { self.randomMessage() } : step }
    }

    func randomMessage() -> Message {
        let r = rng.below(100)
        let request: UInt32 = r < 92 ? UInt32(rng.range(1...25)) : rng.pick([0, 26, 27, 64, 0x8000_0000, UInt32.max, rng.u32()])
        var m = Message(request: request, flags: flags, payload: [], fds: [])
        switch request {
        case 2, 16:
            let v = rng.chance(50) ? (request == 2 ? VhostUserFeatures.offered : VhostUserFeatures.offeredProtocol) : rng.edge64()
            m.payload = u64(v)
        case 5:
            return memTable(honest: rng.chance(40))
        case 8:
            m.payload = pair(ringIndex, rng.chance(60) ? UInt32(1) << UInt32(rng.range(0...16)) : rng.edge32())
        case 9:
            return vringAddress(index: ringIndex, size: ringSize[rng.below(2)])
        case 10, 11, 18:
            m.payload = pair(ringIndex, rng.chance(50) ? UInt32(rng.below(3)) : rng.edge32())
        case 12, 13, 14:
            var v = UInt64(ringIndex & 0xff)
            if rng.chance(20) { v |= 0x100 }
            if rng.chance(5) { v |= rng.next() & ~0x1ff }
            m.payload = u64(v)
            let n = rng.chance(75) ? (v & 0x100 != 0 ? 0 : 1) : rng.range(0...2)
            m.fds = (0..<n).map { _ in rng.chance(90) ? eventFD() : (MemFile(size: 4096).map { dup($0.fd) } ?? -1) }
        case 24, 25:
            let size: UInt32 = rng.chance(60) ? UInt32(rng.range(0...8)) : rng.pick([255, 256, 257, 4096, UInt32.max, rng.u32()])
            let offset: UInt32 = rng.chance(60) ? UInt32(rng.range(0...8)) : rng.edge32()
            m.payload = pair(offset, size) + pair(rng.chance(80) ? 0 : rng.u32(), 0).prefix(4) + rng.bytes(rng.chance(80) ? Int(min(size, 300)) : rng.below(32))
        case 6, 7, 21, 22:
            m.payload = rng.bytes(rng.pick([0, 8, 16, 40, rng.below(100)]))
            if rng.chance(50) { m.fds = [eventFD()] }
        default:
            m.payload = rng.chance(80) ? [] : rng.bytes(rng.below(64))
        }
        // Short or long payloads for everything.
        if rng.chance(10) { rng.mutate(&m.payload, rounds: rng.range(1...3)) }
        return m
    }

    /// SET_MEM_TABLE: `honest` regions are page-sized, files as long as they say; otherwise
    /// counts, sizes, offsets and files lie.
    func memTable(honest: Bool) -> Message {
        let count: UInt32
        if honest || rng.chance(70) { count = UInt32(rng.range(1...2)) }
        else { count = rng.chance(50) ? UInt32(rng.range(3...8)) : rng.pick([0, 9, 64, UInt32.max, rng.u32()]) }
        let entries = Int(min(count, 8)) + (honest ? 0 : rng.chance(10) ? rng.range(-1...1) : 0)
        var payload = pair(count, rng.chance(90) ? 0 : rng.u32())
        var declared: [Declared] = [], fds: [Int32] = []
        var gp: UInt64 = rng.pick([0, 0x10_0000, 0x1_0000_0000])
        for i in 0..<max(0, entries) {
            var d = Declared(gp: gp, size: UInt64(rng.range(1...16) * pageSize), ua: 0x7f00_0000_0000 + UInt64(i) * 0x1000_0000, offset: 0, file: nil)
            if !honest {
                switch rng.below(10) {
                case 0: d.size = rng.edge64()
                case 1: d.size = UInt64(rng.range(1...70000))
                case 2: d.offset = rng.chance(50) ? UInt64(rng.range(1...4) * pageSize) : rng.edge64()
                case 3: d.gp = rng.chance(50) ? (declared.last?.gp ?? 0) &+ UInt64(rng.below(8192)) : rng.edge64()  // overlaps, the top
                case 4: d.ua = rng.chance(50) ? (declared.last?.ua ?? 0) &+ UInt64(rng.below(8192)) : rng.edge64()
                case 5: d.size = 0
                default: break
                }
            }
            gp = d.gp &+ d.size
            payload.put(d.gp); payload.put(d.size); payload.put(d.ua); payload.put(d.offset)
            // The file: as long as offset + size, shorter (the mapping would run past its end), longer.
            let (need, overflow) = d.offset.addingReportingOverflow(d.size)
            var length = overflow || need > 1 << 22 ? pageSize : Int(need)
            if !honest {
                switch rng.below(10) {
                case 0: length = length / 2
                case 1: length = rng.chance(50) ? 0 : pageSize
                case 2: length += pageSize * rng.range(1...4)
                default: break
                }
            }
            if !honest && rng.chance(5) {
                fds.append(eventFD())  // not a memory file at all
            } else if let f = MemFile(size: length) {
                d.file = f
                fds.append(dup(f.fd))
            }
            declared.append(d)
        }
        if !honest && rng.chance(10) {
            // A descriptor too many or too few.
            if rng.chance(50), !fds.isEmpty { close(fds.removeLast()) } else { fds.append(eventFD()) }
        }
        return Message(request: 5, flags: flags, payload: payload, fds: fds, declared: declared)
    }

    /// SET_VRING_ADDR: rings in the declared memory (at a region's start, flush with its end,
    /// or anywhere), misaligned, or anywhere at all.
    func vringAddress(index: UInt32, size: UInt32) -> Message {
        let n = UInt64(max(size, 1))
        var a = VringAddress(index: index, flags: rng.chance(90) ? 0 : rng.u32(), descriptors: 0, used: 0, available: 0, log: 0)
        if let d = table.isEmpty ? nil : rng.pick(table), rng.chance(85) {
            let block = 16 * n + 6 + 2 * n + 2 + 6 + 8 * n
            var base = d.ua
            if rng.chance(40), d.size > block { base = d.ua &+ ((d.size - block) & ~15) }
            a.descriptors = base
            a.available = base &+ 16 * n
            a.used = (a.available &+ 6 &+ 2 * n &+ 3) & ~3
            if rng.chance(10) { a.used &+= UInt64(rng.range(1...3)) }
            if rng.chance(10) { a.available = d.ua &+ d.size &- 2 }
        } else {
            a.descriptors = rng.edge64(); a.used = rng.edge64(); a.available = rng.edge64()
        }
        var payload = pair(a.index, a.flags)
        payload.put(a.descriptors); payload.put(a.used); payload.put(a.available); payload.put(a.log)
        if rng.chance(5) { payload = Array(payload.prefix(rng.below(40))) }
        return Message(request: 9, flags: flags, payload: payload, fds: [], address: a)
    }

    // MARK: decoding and handling, checked

    /// Encodes the message as a frontend sends it, mutates the bytes sometimes, decodes it as the
    /// backend reads its socket, and hands it to the device. Returns whether it was taken.
    func feed(_ m: Message) -> Bool {
        var bytes = [UInt8]()
        bytes.put(m.request); bytes.put(m.flags); bytes.put(UInt32(truncatingIfNeeded: m.payload.count))
        bytes += m.payload
        if rng.chance(8) { rng.mutate(&bytes, rounds: rng.range(1...4)) }
        if rng.chance(2) { bytes = rng.bytes(rng.below(80)) }
        let fds = m.fds.filter { $0 >= 0 }
        func refuse(_ why: String) -> Bool {
            for fd in fds { close(fd) }  // what the backend does with a message it cannot read
            stats.note(why)
            return false
        }
        guard bytes.count >= VhostUserMessage.headerSize else { return refuse("headers short") }
        let header: (request: UInt32, flags: UInt32, size: Int)
        do { header = try VhostUserMessage.header(Array(bytes[0..<12])) } catch {
            trace("  header refused: \(error)")
            return refuse("headers refused")
        }
        if header.size > VhostUserMessage.maxPayload || header.flags & 3 != 1 { fail("header() accepted size \(header.size), flags \(header.flags)") }
        guard bytes.count - 12 >= header.size else { return refuse("payloads short") }
        let message = VhostUserMessage(request: header.request, flags: header.flags, payload: Array(bytes[12..<(12 + header.size)]), descriptors: fds)
        if message.encoded() != Array(bytes[0..<(12 + header.size)]) { fail("a decoded message does not encode to its bytes") }
        let protocolBefore = device.protocolFeatures
        let reply: VhostUserMessage?
        do {
            reply = try device.handle(message)
            trace("  \(message.name) flags \(message.flags) \(message.payload.count) bytes, \(fds.count) fds: ok \(reply.map { "reply \($0.payload)" } ?? "")")
        } catch {
            trace("  \(message.name) flags \(message.flags) \(message.payload.count) bytes, \(fds.count) fds: refused: \(error)")
            checkDescriptors(fds, after: "a refused \(message.name)")
            stats.note("messages refused by the device")
            return false
        }
        checkDescriptors(fds, after: message.name)
        checkReply(message, reply, protocolBefore: protocolBefore)
        // The model of what the device now holds.
        switch header.request {
        case 5:
            if let d = m.declared, m.payload == message.payload { table = d } else { table = [] }
            trace("    table: " + (device.memory?.regions.map { "gp 0x\(String($0.guestPhysical, radix: 16)) size 0x\(String($0.size, radix: 16)) ua 0x\(String($0.userAddress, radix: 16))" }.joined(separator: "; ") ?? ""))
        case 8:
            if let s = try? message.vringState(), s.index < 2 { ringSize[Int(s.index)] = s.number }
        case 9:
            if let a = try? message.vringAddress(), a.index < 2 { ringAddress[Int(a.index)] = a; driverAvail[Int(a.index)] = 0 }
            if let a = try? message.vringAddress() { trace("    rings: desc 0x\(String(a.descriptors, radix: 16)) avail 0x\(String(a.available, radix: 16)) used 0x\(String(a.used, radix: 16))") }
        case 10:
            if let s = try? message.vringState(), s.index < 2 { driverAvail[Int(s.index)] = UInt16(truncatingIfNeeded: s.number) }
        default:
            break
        }
        if device.protocolFeatures & ~VhostUserFeatures.offeredProtocol != 0 { fail("protocol features \(device.protocolFeatures) beyond those offered") }
        if let memory = device.memory {
            for r in memory.regions where r.size == 0 || r.guestPhysical > UInt64.max - r.size || r.userAddress > UInt64.max - r.size {
                fail("the device took a region of \(r.size) bytes at 0x\(String(r.guestPhysical, radix: 16))")
            }
        }
        return true
    }

    /// Every descriptor handed to `handle` is closed, unless it is now a queue's kick or call.
    func checkDescriptors(_ fds: [Int32], after: String) {
        let kept = Set(device.queues.flatMap { [$0.kick, $0.call] })
        for fd in fds where !kept.contains(fd) && isOpen(fd) {
            fail("descriptor \(fd) handed over with \(after) is still open and not kept as a kick or call")
        }
        for fd in kept where fd >= 0 && !isOpen(fd) { fail("a queue keeps descriptor \(fd), which is closed") }
    }

    func checkReply(_ m: VhostUserMessage, _ reply: VhostUserMessage?, protocolBefore: UInt64) {
        let getter: [UInt32: Int] = [1: 8, 15: 8, 17: 8, 11: 8]
        let ackExpected = m.needsReply && device.protocolFeatures & VhostUserFeatures.replyAck != 0
        guard let reply else {
            if getter[m.request] != nil || m.request == 24 { fail("no reply to \(m.name)") }
            if ackExpected { fail("no REPLY_ACK to \(m.name) with NEED_REPLY after REPLY_ACK was negotiated") }
            return
        }
        if reply.flags != VhostUserMessage.versionFlag | VhostUserMessage.replyFlag || reply.request != m.request {
            fail("reply to \(m.name): request \(reply.request), flags \(reply.flags)")
        }
        if let n = getter[m.request] {
            if reply.payload.count != n { fail("reply to \(m.name) of \(reply.payload.count) bytes") }
        } else if m.request == 24 {
            let size = Int(m.payload.getLE(UInt32.self, 4)), offset = Int(m.payload.getLE(UInt32.self, 0))
            if reply.payload.count != 12 + size { fail("GET_CONFIG of \(size) bytes answered with \(reply.payload.count)") }
            var cid = [UInt8](); cid.putLE(device.guestCID)
            for i in 0..<size where reply.payload[12 + i] != (offset + i < 8 ? cid[offset + i] : 0) {
                fail("GET_CONFIG at \(offset): byte \(i) is not the guest CID's")
            }
        } else if !ackExpected || reply.payload != u64(0) {
            fail("an unexpected reply to \(m.name) (need reply \(m.needsReply), protocol features \(device.protocolFeatures))")
        }
    }

    // MARK: the guest driver on the device's rings

    /// Where the driver's bytes for the frontend address `ua` (`length` of them) are: through the
    /// fuzzer's own mapping of the file, and only within the file.
    func driverPointer(ua: UInt64, length: Int) -> UnsafeMutableRawPointer? {
        for d in table where ua >= d.ua && ua - d.ua < d.size && UInt64(length) <= d.size - (ua - d.ua) {
            guard let f = d.file, let map = f.map else { return nil }
            let (at, o) = d.offset.addingReportingOverflow(ua - d.ua)
            guard !o, at <= UInt64(f.size), UInt64(length) <= UInt64(f.size) - at else { return nil }
            return map + Int(at)
        }
        return nil
    }

    func drive() {
        guard let memory = device.memory else { return }
        for (i, q) in device.queues.enumerated() {
            guard let a = ringAddress[i], ringSize[i] > 0, ringSize[i] <= 32768, ringSize[i] & (ringSize[i] - 1) == 0 else { continue }
            let n = Int(ringSize[i])
            if let desc = driverPointer(ua: a.descriptors, length: 16 * n), let avail = driverPointer(ua: a.available, length: 6 + 2 * n) {
                for _ in 0..<rng.range(0...3) {
                    // Mostly an honest one-descriptor buffer inside a declared region; sometimes a lie.
                    let slot = rng.below(n)
                    let honest = rng.chance(95)
                    let d = table.isEmpty ? nil : rng.pick(table)
                    let len = d.map { UInt64(rng.below(Int(min($0.size, 4096)) + 1)) } ?? 0
                    let addr = d.map { $0.gp &+ UInt64(rng.below(Int(min($0.size - len, 1 << 20)) + 1)) } ?? rng.edge64()
                    storeLE(desc, 16 * slot, honest ? addr : rng.chance(50) ? addr &+ len : rng.edge64())
                    storeLE(desc, 16 * slot + 8, honest ? UInt32(len) : rng.edge32())
                    storeLE(desc, 16 * slot + 12, honest ? UInt16(rng.below(2) * 2) : rng.u16())
                    storeLE(desc, 16 * slot + 14, rng.chance(90) ? UInt16(rng.below(n)) : rng.u16())
                    storeLE(avail, 4 + 2 * Int(driverAvail[i] & UInt16(n - 1)), rng.chance(98) ? UInt16(slot) : rng.u16())
                    driverAvail[i] &+= 1
                }
                if rng.chance(2) { driverAvail[i] = rng.u16() }
                storeLE(avail, 2, driverAvail[i])
            }
            trace("  driver: vring \(i) ready \(q.isReady), size \(q.size), broken \(String(describing: q.broken))")
            var served = 0
            if q.broken != nil { stats.note("queues broken") }
            while served < n + 1, let chain = q.next() {
                served += 1
                for p in chain.pieces where !insideSomeRegion(p.bytes, memory.regions) {
                    fail("vring \(i) served a piece outside the device's memory")
                }
                _ = chain.readableBytes()
                let written = chain.write(rng.bytes(rng.below(chain.writableLength + 8)))
                q.putUsed(chain.head, written: written)
                stats.note("chains served")
            }
            if served > 0 && rng.chance(50) { q.notify() }
        }
    }
}
