import Glibc
import Testing
import VBenchSystem
@testable import VBenchVhostUser

/// The message codec against bytes written out by hand from vhost-user.rst.
@Suite struct MessageCodecTests {
    @Test func headerAndFeatureReplyAreTheSpecsBytes() throws {
        // GET_FEATURES (1), flags version 1, no payload.
        let h = try VhostUserMessage.header([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(h.request == 1 && h.flags == 1 && h.size == 0)
        let device = VhostUserVsockDevice(guestCID: 3)
        let reply = try #require(try device.handle(VhostUserMessage(.getFeatures)))
        // Reply flags are exactly version | reply (0x5); VERSION_1 (bit 32) and PROTOCOL_FEATURES (bit 30).
        #expect(reply.encoded() == [1, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x40, 1, 0, 0, 0])
        let protocolReply = try #require(try device.handle(VhostUserMessage(.getProtocolFeatures)))
        #expect(protocolReply.payload == [0x09, 0x02, 0, 0, 0, 0, 0, 0])  // MQ | REPLY_ACK | CONFIG
    }

    @Test func configReadGivesTheGuestCIDLittleEndian() throws {
        let device = VhostUserVsockDevice(guestCID: 0x1234)
        // offset 0, size 8, flags 0, then 8 bytes to be filled.
        let request = VhostUserMessage(.getConfig, payload: [0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8))
        let reply = try #require(try device.handle(request))
        #expect(reply.flags == 0x5)
        #expect(reply.encoded().count == 12 + 20)
        #expect(Array(reply.payload[12...]) == [0x34, 0x12, 0, 0, 0, 0, 0, 0])
        // A read of the upper half only.
        let upper = try #require(try device.handle(VhostUserMessage(.getConfig, payload: [4, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])))
        #expect(Array(upper.payload[12...]) == [0, 0, 0, 0])
    }

    @Test func replyAckOnlyWhenNegotiatedAndAsked() throws {
        let device = VhostUserVsockDevice(guestCID: 3)
        var u64 = [UInt8]()
        u64.appendNative(UInt64(0))
        #expect(try device.handle(VhostUserMessage(.setOwner, flags: 0x9)) == nil)  // REPLY_ACK not negotiated yet
        var features = [UInt8]()
        features.appendNative(VhostUserFeatures.offeredProtocol)
        _ = try device.handle(VhostUserMessage(.setProtocolFeatures, payload: features))
        let ack = try #require(try device.handle(VhostUserMessage(.setOwner, flags: 0x9)))
        #expect(ack.encoded() == [3, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0] + u64)
        #expect(try device.handle(VhostUserMessage(.setOwner)) == nil)
    }

    @Test func malformedMessagesAreRefusedWithTheirDescriptorsClosed() throws {
        #expect(throws: VhostUserError.self) { try VhostUserMessage.header([1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]) }  // version 2
        #expect(throws: VhostUserError.self) { try VhostUserMessage.header([5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]) }  // 64 KiB payload
        #expect(throws: VhostUserError.self) { try VhostUserMessage.header([1, 0, 0]) }
        let device = VhostUserVsockDevice(guestCID: 3)
        // A memory table of one region that came with no descriptor, and one with a descriptor too many.
        var table = [UInt8]()
        table.appendNative(UInt32(1)); table.appendNative(UInt32(0))
        for v: UInt64 in [0, 4096, 0x7000_0000, 0] { table.appendNative(v) }
        #expect(throws: VhostUserError.self) { try device.handle(VhostUserMessage(.setMemTable, payload: table)) }
        let a = try Descriptors.eventFD(), b = try Descriptors.eventFD()
        #expect(throws: VhostUserError.self) { try device.handle(VhostUserMessage(.setMemTable, payload: table, descriptors: [a, b])) }
        #expect(fcntl(a, F_GETFD) == -1 && fcntl(b, F_GETFD) == -1)  // both closed
        // Ring 2 is QEMU's event queue, never ours; a kick without its descriptor.
        var state = [UInt8]()
        state.appendNative(UInt32(2)); state.appendNative(UInt32(8))
        #expect(throws: VhostUserError.self) { try device.handle(VhostUserMessage(.setVringNum, payload: state)) }
        var kick = [UInt8]()
        kick.appendNative(UInt64(1))
        #expect(throws: VhostUserError.self) { try device.handle(VhostUserMessage(.setVringKick, payload: kick)) }
        // Sizes that are not powers of two.
        state = []; state.appendNative(UInt32(0)); state.appendNative(UInt32(12))
        #expect(throws: VhostUserError.self) { try device.handle(VhostUserMessage(.setVringNum, payload: state)) }
        #expect(throws: VhostUserError.self) { try device.handle(VhostUserMessage(request: 99)) }
    }
}

/// The descriptor-chain walker against rings laid out by hand, honest and lying.
@Suite struct DescriptorChainTests {
    @Test func chainsAreGatheredInOrderAcrossDescriptors() throws {
        let ring = try RingBuilder()
        let q = try ring.queue()
        let header = packet(.readWrite, payload: [])
        let body: [UInt8] = Array("hello, host".utf8)
        // Header split over two descriptors, payload in a third (no assumption about the split).
        ring.setDescriptor(0, address: ring.buffer(Array(header[0..<10])), length: 10, flags: Virtqueue.descriptorNext, next: 5)
        ring.setDescriptor(5, address: ring.buffer(Array(header[10...])), length: 34, flags: Virtqueue.descriptorNext, next: 2)
        ring.setDescriptor(2, address: ring.buffer(body), length: UInt32(body.count), flags: 0)
        ring.publish(0)
        let chain = try #require(q.next())
        #expect(chain.head == 0)
        #expect(chain.readableBytes() == header + body)
        #expect(q.next() == nil)
        q.putUsed(chain.head, written: 0)
        #expect(ring.takeUsed().map { $0.0 } == [0])
        // A writable chain: writes fill the pieces in order.
        ring.setDescriptor(1, address: ring.buffer([], length: 16), length: 16, flags: Virtqueue.descriptorWrite | Virtqueue.descriptorNext, next: 3)
        ring.setDescriptor(3, address: ring.buffer([], length: 64), length: 64, flags: Virtqueue.descriptorWrite)
        ring.publish(1)
        let rx = try #require(q.next())
        #expect(rx.writableLength == 80)
        let data = (0..<50).map { UInt8($0) }
        #expect(rx.write(data) == 50)
        q.putUsed(rx.head, written: 50)
        #expect(ring.takeUsed().map { $0.1 } == [50])
    }

    @Test func aLoopingChainBreaksTheQueueOnly() throws {
        let ring = try RingBuilder()
        let q = try ring.queue()
        ring.setDescriptor(0, address: ring.buffer([1]), length: 1, flags: Virtqueue.descriptorNext, next: 1)
        ring.setDescriptor(1, address: ring.buffer([2]), length: 1, flags: Virtqueue.descriptorNext, next: 0)
        ring.publish(0)
        #expect(q.next() == nil)
        #expect(q.broken?.message.contains("loops") == true)
        #expect(!q.isReady)
    }

    @Test func indexesAndAddressesOutsideTheRingOrMemoryAreRefused() throws {
        // Head index beyond the ring.
        var ring = try RingBuilder()
        var q = try ring.queue()
        ring.publish(8)
        #expect(q.next() == nil)
        #expect(q.broken?.message.contains("outside a ring of 8") == true)
        // Next index beyond the ring.
        ring = try RingBuilder(); q = try ring.queue()
        ring.setDescriptor(0, address: ring.buffer([1]), length: 1, flags: Virtqueue.descriptorNext, next: 200)
        ring.publish(0)
        #expect(q.next() == nil && q.broken != nil)
        // A guest-physical address below, past the end of, and straddling the end of memory.
        for (address, length) in [(UInt64(0x1000), UInt32(16)), (RingBuilder.guestBase + (1 << 20), 16),
                                  (RingBuilder.guestBase + (1 << 20) - 8, 16), (UInt64.max - 4, 16)] {
            ring = try RingBuilder(); q = try ring.queue()
            ring.setDescriptor(0, address: address, length: length, flags: 0)
            ring.publish(0)
            #expect(q.next() == nil)
            #expect(q.broken?.message.contains("outside the guest's memory") == true)
        }
        // More buffers made available than the ring holds.
        ring = try RingBuilder(); q = try ring.queue()
        ring.setAvailableIndex(9)
        #expect(q.next() == nil && q.broken?.message.contains("available in a ring of 8") == true)
        // Indirect descriptors were not offered.
        ring = try RingBuilder(); q = try ring.queue()
        ring.setDescriptor(0, address: ring.buffer([0], length: 16), length: 16, flags: Virtqueue.descriptorIndirect)
        ring.publish(0)
        #expect(q.next() == nil && q.broken?.message.contains("indirect") == true)
        // A chain longer than any packet.
        ring = try RingBuilder(); q = try ring.queue()
        q.maxChainBytes = 4096
        ring.setDescriptor(0, address: ring.buffer([], length: 8192), length: 8192, flags: 0)
        ring.publish(0)
        #expect(q.next() == nil && q.broken != nil)
    }

    @Test func ringsOutsideMemoryOrMisalignedAreRefusedAtSetup() throws {
        let ring = try RingBuilder()
        let q = Virtqueue(index: 1)
        try q.setSize(8)
        q.address = VringAddress(index: 1, flags: 0, descriptors: RingBuilder.userBase + 8, used: RingBuilder.userBase + 0x2000,
                                 available: RingBuilder.userBase + 0x1000, log: 0)
        #expect(throws: VhostUserError.self) { try q.attach(memory: ring.memory) }
        q.address = VringAddress(index: 1, flags: 0, descriptors: 0x1000, used: RingBuilder.userBase + 0x2000,
                                 available: RingBuilder.userBase + 0x1000, log: 0)
        #expect(throws: VhostUserError.self) { try q.attach(memory: ring.memory) }
    }

    @Test func translationSplitsAcrossAdjacentRegionsAndRefusesGaps() throws {
        let a = try SharedMapping(anonymous: 8192), b = try SharedMapping(anonymous: 8192)
        let memory = GuestMemory(regions: [.init(guestPhysical: 0, size: 8192, userAddress: 0x1_0000, host: a.base),
                                           .init(guestPhysical: 8192, size: 8192, userAddress: 0x9_0000, host: b.base),
                                           .init(guestPhysical: 0x10_0000, size: 8192, userAddress: 0x20_0000, host: b.base)],
                                 mappings: [a, b])
        let pieces = try #require(memory.translate(guestPhysical: 8000, length: 400))
        #expect(pieces.map(\.count) == [192, 208])
        #expect(pieces[0].baseAddress == a.base + 8000 && pieces[1].baseAddress == b.base)
        #expect(memory.translate(guestPhysical: 16000, length: 400) == nil)  // runs into the gap
        #expect(memory.translate(userAddress: 0x1_0000 + 8000, length: 400) == nil)  // rings never straddle
        #expect(memory.translate(userAddress: 0x9_0000, length: 8192) == b.base)
    }
}

/// Streams, credit and shutdown, with the local side a real socket pair.
@Suite struct MuxerTests {
    final class Local { var fds: [Int32] = [] }

    func muxer(bufferSize: UInt32 = 256 * 1024) -> (VsockMuxer, Local) {
        var c = VsockMuxer.Configuration(guestCID: 3, port: 5000)
        c.bufferSize = bufferSize
        let m = VsockMuxer(configuration: c)
        let local = Local()
        m.onConnection = { fd, _ in local.fds.append(fd) }
        return (m, local)
    }

    func drain(_ m: VsockMuxer) -> [(VsockHeader, [UInt8])] {
        var out: [(VsockHeader, [UInt8])] = []
        while let p = m.nextPacket(maxPayload: 4096) { out.append((p.header, p.payload)) }
        return out
    }

    func readAll(_ fd: Int32, _ count: Int) -> [UInt8] {
        var out = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
        var p = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        while out.count < count, (try? Descriptors.poll(&p, timeoutMs: 2000)) ?? 0 > 0 {
            let n = buffer.withUnsafeMutableBytes { Descriptors.readAvailable(fd, into: $0) } ?? 0
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    @Test func requestGetsAResponseWithOurCreditAndDataReachesTheLocalSide() throws {
        let (m, local) = muxer()
        m.receive(packet(.request))
        let out = drain(m)
        #expect(out.count == 1)
        let r = out[0].0
        #expect(r.knownOp == .response && r.sourceCID == 2 && r.destinationCID == 3 && r.sourcePort == 5000 && r.destinationPort == 1025)
        #expect(r.bufferAllocation == 256 * 1024 && r.forwardCount == 0)
        let fd = try #require(local.fds.first)
        defer { Descriptors.close(fd) }
        let body = Array("a record".utf8)
        m.receive(packet(.readWrite, payload: body))
        #expect(readAll(fd, body.count) == body)
        #expect(m.counters.bytesIn == body.count)
        // And back: what the collector writes goes out as RW within the guest's credit.
        _ = Array("ack".utf8).withUnsafeBytes { Descriptors.writeAvailable(fd, $0) }
        var p = m.pollInterest(receiveStarved: false)
        _ = try Descriptors.poll(&p, timeoutMs: 2000)
        m.ready(p)
        let back = drain(m)
        #expect(back.count == 1 && back[0].0.knownOp == .readWrite && back[0].1 == Array("ack".utf8))
        #expect(back[0].0.forwardCount == UInt32(body.count))  // every packet carries what we forwarded
    }

    @Test func theGuestsCreditBoundsWhatWeSendAndUpdatesReleaseIt() throws {
        let (m, local) = muxer()
        m.receive(packet(.request, bufAlloc: 1000))  // the guest buffers 1000 bytes
        _ = drain(m)
        let fd = try #require(local.fds.first)
        defer { Descriptors.close(fd) }
        let big = [UInt8](repeating: 7, count: 3000)
        _ = big.withUnsafeBytes { Descriptors.writeAvailable(fd, $0) }
        var p = m.pollInterest(receiveStarved: false)
        _ = try Descriptors.poll(&p, timeoutMs: 2000)
        m.ready(p)
        #expect(drain(m).map(\.1.count).reduce(0, +) == 1000)
        #expect(m.pollInterest(receiveStarved: false).isEmpty)  // no credit: not even polled
        // The guest consumed 600 bytes.
        m.receive(packet(.creditUpdate, bufAlloc: 1000, fwdCnt: 600))
        p = m.pollInterest(receiveStarved: false)
        _ = try Descriptors.poll(&p, timeoutMs: 2000)
        m.ready(p)
        #expect(drain(m).map(\.1.count).reduce(0, +) == 600)
    }

    @Test func aGuestBeyondItsCreditIsResetAndOthersGoOn() throws {
        let (m, local) = muxer(bufferSize: 4096)
        m.receive(packet(.request, srcPort: 1))
        m.receive(packet(.request, srcPort: 2))
        _ = drain(m)
        #expect(local.fds.count == 2)
        defer { for fd in local.fds { Descriptors.close(fd) } }
        // Port 1 sends within its credit (forwarded at once: the socket pair has room), then one
        // packet larger than the whole buffer it was given.
        let chunk = [UInt8](repeating: 1, count: 3000)
        m.receive(packet(.readWrite, srcPort: 1, payload: chunk))
        m.receive(packet(.readWrite, srcPort: 1, payload: [UInt8](repeating: 1, count: 5000)))
        let out = drain(m)
        #expect(out.contains { $0.0.knownOp == .reset && $0.0.destinationPort == 1 })
        #expect(m.counters.creditViolations == 1)
        #expect(m.connectionCount == 1)
        m.receive(packet(.readWrite, srcPort: 2, payload: Array("fine".utf8)))
        #expect(readAll(local.fds[1], 4) == Array("fine".utf8))
    }

    @Test func creditIsReturnedWhenHalfTheBufferIsForwarded() throws {
        let (m, local) = muxer(bufferSize: 8192)
        m.receive(packet(.request))
        _ = drain(m)
        let fd = try #require(local.fds.first)
        defer { Descriptors.close(fd) }
        m.receive(packet(.readWrite, payload: [UInt8](repeating: 2, count: 3000)))
        #expect(drain(m).isEmpty)  // 3000 of 8192 heard: no update yet
        m.receive(packet(.readWrite, payload: [UInt8](repeating: 2, count: 2000)))
        let update = drain(m)
        #expect(update.count == 1 && update[0].0.knownOp == .creditUpdate && update[0].0.forwardCount == 5000)
        _ = readAll(fd, 5000)
        // A credit request is answered at once.
        m.receive(packet(.creditRequest))
        #expect(drain(m).first?.0.knownOp == .creditUpdate)
    }

    @Test func spoofedAndStrayPacketsAreHandledPerTheSpec() throws {
        let (m, local) = muxer()
        m.receive(packet(.request, src: 4))  // another CID: dropped, no answer
        #expect(drain(m).isEmpty && m.counters.spoofed == 1 && local.fds.isEmpty)
        m.receive(packet(.readWrite, payload: [1]))  // no such stream: RST
        #expect(drain(m).map(\.0.knownOp) == [.reset])
        m.receive(packet(.reset))  // RST of nothing: silence
        #expect(drain(m).isEmpty)
        m.receive(packet(.request, dstPort: 6000))  // nobody listens there
        #expect(drain(m).map(\.0.knownOp) == [.reset])
        m.receive(packet(.request, dst: 7))  // not the host
        #expect(drain(m).map(\.0.knownOp) == [.reset])
        m.receive(Array(packet(.request)[0..<20]))  // short header
        #expect(drain(m).isEmpty && m.counters.malformed == 1)
        m.receive(packet(.request))
        _ = drain(m)
        m.receive(packet(.readWrite, payload: [1, 2], length: 900))  // len beyond the bytes
        #expect(drain(m).map(\.0.knownOp) == [.reset] && m.connectionCount == 0)
        for fd in local.fds { Descriptors.close(fd) }
    }

    @Test func shutdownsCloseBothWays() throws {
        let (m, local) = muxer()
        // The guest finishes: its data reaches the local side, then end of file, then RST to the guest.
        m.receive(packet(.request))
        _ = drain(m)
        let fd = try #require(local.fds.first)
        m.receive(packet(.readWrite, payload: Array("last".utf8)))
        m.receive(packet(.shutdown, flags: VsockHeader.shutdownSend | VsockHeader.shutdownReceive))
        #expect(drain(m).map(\.0.knownOp) == [.reset])
        #expect(readAll(fd, 10) == Array("last".utf8))  // then EOF
        Descriptors.close(fd)
        #expect(m.connectionCount == 0)
        // The collector closes: SHUTDOWN to the guest, whose RST ends the stream.
        m.receive(packet(.request, srcPort: 1026))
        _ = drain(m)
        let fd2 = local.fds[1]
        Descriptors.close(fd2)
        var p = m.pollInterest(receiveStarved: false)
        _ = try Descriptors.poll(&p, timeoutMs: 2000)
        m.ready(p)
        let out = drain(m)
        #expect(out.map(\.0.knownOp) == [.shutdown] && out[0].0.flags == 3)
        m.receive(packet(.reset, srcPort: 1026))
        #expect(m.connectionCount == 0)
        // A guest that never answers is reset after the close timeout.
        m.receive(packet(.request, srcPort: 1027))
        _ = drain(m)
        Descriptors.close(local.fds[2])
        p = m.pollInterest(receiveStarved: false)
        _ = try Descriptors.poll(&p, timeoutMs: 2000)
        m.ready(p)
        _ = drain(m)
        m.expire(now: .now + .seconds(11))
        #expect(drain(m).map(\.0.knownOp) == [.reset] && m.connectionCount == 0)
    }

    @Test func streamsAndQueuedControlAreBounded() throws {
        var c = VsockMuxer.Configuration(guestCID: 3, port: 5000)
        c.maxConnections = 2
        c.maxQueuedControl = 3
        let m = VsockMuxer(configuration: c)
        var fds: [Int32] = []
        m.onConnection = { fd, _ in fds.append(fd) }
        for port: UInt32 in 1...10 { m.receive(packet(.request, srcPort: port)) }
        #expect(fds.count == 2 && m.connectionCount == 2)
        #expect(m.counters.droppedControl == 7)  // 2 responses + 1 reset queued, the rest dropped
        for fd in fds { Descriptors.close(fd) }
    }
}
