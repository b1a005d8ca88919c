import Glibc
import VBenchVhostUser

/// The fuzzer's own reading of a virtio-vsock header (44 bytes, little-endian), independent
/// of `VsockHeader`, for the model.
struct RawHeader {
    var src: UInt64 = 0, dst: UInt64 = 0
    var sport: UInt32 = 0, dport: UInt32 = 0, len: UInt32 = 0
    var type: UInt16 = 1, op: UInt16 = 0
    var flags: UInt32 = 0, buf: UInt32 = 0, fwd: UInt32 = 0

    init() {}
    init?(_ b: [UInt8]) {
        guard b.count >= 44 else { return nil }
        src = b.getLE(UInt64.self, 0); dst = b.getLE(UInt64.self, 8)
        sport = b.getLE(UInt32.self, 16); dport = b.getLE(UInt32.self, 20); len = b.getLE(UInt32.self, 24)
        type = b.getLE(UInt16.self, 28); op = b.getLE(UInt16.self, 30)
        flags = b.getLE(UInt32.self, 32); buf = b.getLE(UInt32.self, 36); fwd = b.getLE(UInt32.self, 40)
    }
    var encoded: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(44)
        out.putLE(src); out.putLE(dst); out.putLE(sport); out.putLE(dport); out.putLE(len)
        out.putLE(type); out.putLE(op); out.putLE(flags); out.putLE(buf); out.putLE(fwd)
        return out
    }
}

/// Part 3: guest packets into the muxer (random and mutated headers and payloads, ops at odd
/// times, lying lengths and credit), the local side of each stream played by the fuzzer
/// (reading, writing, closing), and the muxer's packets for the guest checked against a model:
/// streams bounded by maxConnections, never more data to the guest than its credit, never data
/// after its SHUTDOWN(receive), the data in each direction a prefix of what was sent, no credit
/// reset of a guest that kept within ours, counters that only grow, no descriptor leaks.
final class VsockFuzzer {
    var stats = PartStats(name: "vsock")

    final class Stream {
        let fd: Int32, port: UInt32
        var fdOpen = true
        var dead = false
        // What the muxer knows of the guest's credit (the last header it took for this stream).
        var bufAlloc: UInt32, fwdCnt: UInt32
        var hostSent: UInt32 = 0
        // The guest's side: what it sent in packets the muxer may accept, and the last forward
        // count it heard from us.
        var guestSent: UInt32 = 0
        var lastFwdHeard: UInt32 = 0
        var guestSendDone = false, guestReceiveDone = false
        /// Payloads the guest sent (candidates), and how many of their bytes the local side read.
        var toApp: [UInt8] = []
        var readByApp = 0
        var appEOF = false
        /// What the local side wrote, and how many of those bytes went to the guest.
        var fromApp: [UInt8] = []
        var sentToGuest = 0
        init(fd: Int32, port: UInt32, bufAlloc: UInt32, fwdCnt: UInt32) { self.fd = fd; self.port = port; self.bufAlloc = bufAlloc; self.fwdCnt = fwdCnt }
        var peerFree: UInt32 {
            let inFlight = hostSent &- fwdCnt
            return inFlight > bufAlloc ? 0 : bufAlloc - inFlight
        }
    }

    var rng = Rng(seed: 0, part: 0, episode: 0)
    var muxer: VsockMuxer! = nil
    var config = VsockMuxer.Configuration(guestCID: 3, port: 5000)
    var streams: [UInt32: Stream] = [:]
    var allStreams: [Stream] = []
    var current = RawHeader()
    var acceptedNow = false
    var callbacks = 0
    var last: VsockMuxer.Counters! = nil
    var guestPorts: [UInt32] = []
    let baselineDescriptors: Int

    init(baselineDescriptors: Int) { self.baselineDescriptors = baselineDescriptors }

    func episode(_ e: UInt64, seed: UInt64, inputs: Int) {
        rng = Rng(seed: seed, part: 3, episode: e)
        config = VsockMuxer.Configuration(guestCID: rng.chance(80) ? 3 : rng.pick([4, 0xffff_ffff, 0x1_0000_0003, UInt64.max]),
                                          port: rng.chance(80) ? 5000 : rng.u32())
        config.bufferSize = rng.chance(50) ? 256 * 1024 : rng.pick([0, 1, 44, 4096, 65536, 65537, 1 << 20, UInt32.max / 2])
        config.maxConnections = rng.chance(50) ? rng.range(1...4) : rng.pick([0, 8, 64])
        config.maxQueuedControl = rng.chance(60) ? 1024 : rng.range(0...8)
        muxer = VsockMuxer(configuration: config)
        streams = [:]; allStreams = []; callbacks = 0; last = muxer.counters
        guestPorts = [1024, 1025, 1026, 1027, rng.u32(), UInt32.max, 0, config.port]
        muxer.onConnection = { [unowned self] fd, port in
            self.callbacks += 1
            if self.current.sport != port { fail("onConnection for guest port \(port) while taking a packet from port \(self.current.sport)") }
            let s = Stream(fd: fd, port: port, bufAlloc: self.current.buf, fwdCnt: self.current.fwd)
            if let old = self.streams[port] { old.dead = true }
            self.streams[port] = s
            self.allStreams.append(s)
            self.acceptedNow = true
        }
        for i in 0..<inputs {
            setContext("vsock episode \(e) input \(i)")
            stats.inputs += 1
            let rejected = rng.chance(70) ? guestPacket() : hostAction()
            if rejected { stats.rejected += 1 } else { stats.accepted += 1 }
            checkInvariants()
            if i % 64 == 0 { watchdog() }
        }
        muxer.resetAll()
        muxer = nil
        for s in allStreams where s.fdOpen { close(s.fd) }
        allStreams = []; streams = [:]
        let now = openDescriptorCount()
        if now != baselineDescriptors { fail("\(now) descriptors open after the episode, \(baselineDescriptors) before it (a leak)") }
    }

    func checkInvariants() {
        let c = muxer.counters
        if muxer.connectionCount > config.maxConnections { fail("\(muxer.connectionCount) streams open, at most \(config.maxConnections) allowed") }
        if c.connections != callbacks { fail("counters say \(c.connections) streams accepted, onConnection ran \(callbacks) times") }
        let pairs = [(c.packetsIn, last.packetsIn), (c.packetsOut, last.packetsOut), (c.bytesIn, last.bytesIn), (c.bytesOut, last.bytesOut),
                     (c.resets, last.resets), (c.malformed, last.malformed), (c.spoofed, last.spoofed),
                     (c.creditViolations, last.creditViolations), (c.droppedControl, last.droppedControl)]
        for (now, before) in pairs where now < before { fail("a counter went down: \(c) after \(String(describing: last))") }
        last = c
    }

    // MARK: the guest

    /// One packet from the guest. Returns whether the muxer refused it (dropped or reset).
    func guestPacket() -> Bool {
        var h = RawHeader()
        h.src = rng.chance(92) ? config.guestCID : rng.pick([2, 0, config.guestCID &+ 1, UInt64.max, rng.next()])
        h.dst = rng.chance(92) ? 2 : rng.pick([0, 1, 3, config.guestCID, UInt64.max, rng.next()])
        h.sport = rng.chance(90) ? rng.pick(guestPorts) : rng.u32()
        h.dport = rng.chance(85) ? config.port : rng.pick([config.port &+ 1, 0, UInt32.max, rng.u32()])
        h.type = rng.chance(95) ? 1 : rng.pick([0, 2, 3, rng.u16()])
        let r = rng.below(100)
        h.op = r < 20 ? 1 : r < 55 ? 5 : r < 63 ? 4 : r < 71 ? 3 : r < 79 ? 6 : r < 86 ? 7 : r < 90 ? 2 : rng.pick([0, 8, 9, 0xffff, rng.u16()])
        // Data, credit and shutdowns mostly on a stream that is open (as far as the model knows).
        if h.op >= 4 && h.op <= 7 && rng.chance(70) {
            let live = streams.values.filter { !$0.dead }.sorted { $0.port < $1.port }  // (a dictionary's order differs per process)
            if !live.isEmpty { h.sport = rng.pick(live).port }
        }
        let s = streams[h.sport]
        // Credit: honest (what the guest has heard and consumed), or anything.
        h.buf = rng.chance(60) ? 256 * 1024 : rng.chance(50) ? UInt32(rng.below(8192)) : rng.edge32()
        if let s, rng.chance(70) {
            h.fwd = s.hostSent &- UInt32(rng.below(Int(min(s.hostSent, 4096)) + 1))
        } else {
            h.fwd = rng.chance(50) ? 0 : rng.edge32()
        }
        h.flags = h.op == 4 ? (rng.chance(80) ? UInt32(rng.range(0...3)) : rng.u32()) : (rng.chance(85) ? 0 : rng.u32())
        var payload: [UInt8] = []
        if h.op == 5 || rng.chance(5) {
            // Within the guest's view of our credit, mostly; at 64 KiB; beyond.
            let credit: Int = s.map { Int(config.bufferSize) - Int($0.guestSent &- $0.lastFwdHeard) } ?? Int(config.bufferSize)
            let n: Int
            switch rng.below(10) {
            case 0..<6: n = rng.below(max(0, min(credit, 4096)) + 1)
            case 6: n = max(0, min(credit, 65536))
            case 7: n = rng.pick([65536, 65537, 1])
            default: n = rng.below(8192)
            }
            payload = rng.bytes(n)
        }
        h.len = rng.chance(85) ? UInt32(payload.count) : rng.pick([UInt32(payload.count) &+ 1, UInt32(payload.count) &- 1, 65537, UInt32.max, rng.edge32()])
        var bytes = h.encoded + payload
        if rng.chance(10) { rng.mutate(&bytes, rounds: rng.range(1...4)) }
        if rng.chance(2) { bytes = rng.bytes(rng.below(60)) }
        return deliver(bytes)
    }

    func deliver(_ bytes: [UInt8]) -> Bool {
        let before = muxer.counters
        let parsed = RawHeader(bytes)
        current = parsed ?? RawHeader()
        acceptedNow = false
        // What the model expects this packet to do to a stream it knows.
        var candidate: Stream?
        var wellBehaved = false
        if let h = parsed, h.src == config.guestCID, h.dst == 2, h.type == 1, h.dport == config.port, let s = streams[h.sport], !s.dead {
            candidate = s
            if h.op == 5, Int(h.len) <= 65536, bytes.count - 44 >= Int(h.len) {
                wellBehaved = !s.guestSendDone && Int64(s.guestSent &- s.lastFwdHeard) + Int64(h.len) <= Int64(config.bufferSize)
            }
        }
        if wellBehaved { stats.note("RW within credit") }
        muxer.receive(bytes)
        let after = muxer.counters
        if after.packetsIn != before.packetsIn + 1 { fail("packetsIn did not count the packet") }
        if let h = parsed, let s = candidate, !acceptedNow {
            switch h.op {
            case 1, 2, 3: s.dead = true  // a second request, a response, a reset: the stream is gone
            case 4, 5, 6, 7:
                s.bufAlloc = h.buf
                s.fwdCnt = h.fwd
                if h.op == 5, !(Int(h.len) <= 65536 && bytes.count - 44 >= Int(h.len)) {
                    s.dead = true  // a length beyond the packet or the limit: reset
                } else if h.op == 5 {
                    s.toApp += bytes[44..<(44 + Int(h.len))]
                    s.guestSent &+= h.len
                    if after.creditViolations > before.creditViolations {
                        if wellBehaved { fail("stream of guest port \(h.sport) reset for credit though the guest kept within it (sent \(s.guestSent), heard forwarded \(s.lastFwdHeard), buffer \(config.bufferSize))") }
                        s.dead = true
                    }
                    if after.resets > before.resets || after.malformed > before.malformed { s.dead = true }
                }
                if h.op == 4 {
                    if h.flags & 2 != 0 { s.guestSendDone = true }
                    if h.flags & 1 != 0 { s.guestReceiveDone = true }
                }
            default: s.dead = true  // an unknown op ends the stream
            }
        }
        stats.note("guest packets")
        return after.malformed > before.malformed || after.spoofed > before.spoofed || after.resets > before.resets
            || after.creditViolations > before.creditViolations
    }

    // MARK: the local side and the host's service

    func hostAction() -> Bool {
        let live = allStreams.filter { $0.fdOpen }
        switch rng.below(100) {
        case 0..<20:
            // The collector answers: bytes into the stream for the guest.
            guard let s = live.isEmpty ? nil : rng.pick(live) else { break }
            let data = rng.bytes(rng.chance(80) ? rng.range(1...4096) : rng.range(1...70000))
            let n = data.withUnsafeBytes { send(s.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n > 0 { s.fromApp += data[0..<n] }
            stats.note("local writes")
        case 20..<40:
            guard let s = live.isEmpty ? nil : rng.pick(live) else { break }
            readApp(s)
        case 40..<44:
            // The collector closes (or half-closes) its end.
            guard let s = live.isEmpty ? nil : rng.pick(live) else { break }
            if rng.chance(50) {
                close(s.fd)
                s.fdOpen = false
            } else {
                shutdown(s.fd, Int32(SHUT_WR))
            }
            stats.note("local closes")
        case 44..<48:
            muxer.expire(now: .now + rng.pick([Duration.seconds(0), .seconds(5), .seconds(11), .seconds(3600)]))
        case 48..<49:
            muxer.resetAll()
            for s in allStreams { s.dead = true }
            stats.note("resets of all")
        default:
            break
        }
        service()
        return false
    }

    func readApp(_ s: Stream) {
        var buffer = [UInt8](repeating: 0, count: rng.chance(50) ? 65536 : rng.range(1...4096))
        let n = buffer.withUnsafeMutableBytes { recv(s.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n > 0 {
            let end = s.readByApp + n
            guard end <= s.toApp.count, Array(s.toApp[s.readByApp..<end]) == Array(buffer[0..<n]) else {
                fail("the local side of guest port \(s.port) read \(n) bytes that are not the next bytes the guest sent (read so far \(s.readByApp), sent \(s.toApp.count))")
            }
            s.readByApp = end
            stats.note("bytes to the local side", n)
        } else if n == 0 {
            s.appEOF = true
        }
    }

    /// What the device's loop does each round: poll the local ends, then fill receive buffers.
    func service() {
        var p = muxer.pollInterest(receiveStarved: rng.chance(10))
        if !p.isEmpty {
            let n = poll(&p, nfds_t(p.count), 0)
            if n < 0 { fail("poll: errno \(errno)") }
            muxer.ready(p)
        }
        for _ in 0..<rng.range(0...8) {
            let maxPayload = rng.chance(70) ? rng.pick([4096 - 44, 65536, 60000]) : rng.pick([-1, 0, 1, 43, 44, 100, Int.max, rng.below(70000)])
            guard let packet = muxer.nextPacket(maxPayload: maxPayload) else { break }
            check(packet.header, packet.payload, maxPayload: maxPayload)
        }
    }

    func check(_ h: VsockHeader, _ payload: [UInt8], maxPayload: Int) {
        if h.sourceCID != 2 || h.destinationCID != config.guestCID || h.type != 1 {
            fail("a packet for the guest from CID \(h.sourceCID) to \(h.destinationCID), type \(h.type)")
        }
        guard let op = h.knownOp, op != .request, op != .creditRequest else { fail("the host sent op \(h.op)") }
        if Int(h.length) != payload.count { fail("header length \(h.length), payload \(payload.count)") }
        if op != .readWrite && !payload.isEmpty { fail("\(op) with \(payload.count) bytes of payload") }
        if h.bufferAllocation != 0 && h.bufferAllocation != config.bufferSize { fail("buf_alloc \(h.bufferAllocation), the buffer is \(config.bufferSize)") }
        let s = h.sourcePort == config.port ? streams[h.destinationPort] : nil
        if let s {
            if h.forwardCount > s.guestSent { fail("fwd_cnt \(h.forwardCount) is more than the guest sent (\(s.guestSent)) on port \(h.destinationPort)") }
            s.lastFwdHeard = max(s.lastFwdHeard, h.forwardCount)
        }
        guard op == .readWrite else { return }
        guard let s, !s.dead else { fail("data for guest port \(h.destinationPort), a stream that is not open") }
        if payload.isEmpty || payload.count > min(maxPayload, 65536) { fail("an RW of \(payload.count) bytes for a buffer of \(maxPayload)") }
        if h.bufferAllocation != config.bufferSize { fail("an RW with buf_alloc \(h.bufferAllocation)") }
        if s.guestReceiveDone { fail("data for guest port \(h.destinationPort) after its SHUTDOWN(receive)") }
        if UInt32(payload.count) > s.peerFree {
            fail("\(payload.count) bytes for guest port \(h.destinationPort) beyond its credit (buf_alloc \(s.bufAlloc), fwd_cnt \(s.fwdCnt), sent \(s.hostSent): \(s.peerFree) free)")
        }
        let end = s.sentToGuest + payload.count
        guard end <= s.fromApp.count, Array(s.fromApp[s.sentToGuest..<end]) == payload else {
            fail("data for guest port \(h.destinationPort) that the local side did not write next")
        }
        s.sentToGuest = end
        s.hostSent &+= UInt32(payload.count)
        stats.note("bytes to the guest", payload.count)
    }
}
