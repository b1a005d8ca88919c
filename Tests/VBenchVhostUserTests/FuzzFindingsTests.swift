import Glibc
import Synchronization
import Testing
import VBenchSystem
@testable import VBenchVhostUser

/// What Benchmarks/vhost-fuzz found in the device, each reproduced by hand.
@Suite struct FuzzFindingsTests {
    static let userBase: UInt64 = 0x7f00_0000_0000

    static func native<T: FixedWidthInteger>(_ values: T...) -> [UInt8] {
        var out = [UInt8]()
        for v in values { out.appendNative(v) }
        return out
    }

    /// SET_MEM_TABLE of one region of `bytes` of a new memory file at guest-physical 0x10_0000.
    static func memoryTable(_ device: VhostUserVsockDevice, bytes: Int, fileBytes: Int? = nil, offset: UInt64 = 0) throws {
        let fd = try Descriptors.memoryFile(name: "fuzz-finding", size: fileBytes ?? bytes)
        let payload = native(UInt32(1), UInt32(0)) + native(UInt64(0x10_0000), UInt64(bytes), userBase, offset)
        _ = try device.handle(VhostUserMessage(.setMemTable, payload: payload, descriptors: [fd]))
    }

    /// NUM, BASE, ADDR (rings laid out from `at` in the frontend's addresses), a kick without a
    /// descriptor, ENABLE: a started ring, as QEMU leaves it.
    static func startRing(_ device: VhostUserVsockDevice, index: UInt32, size: UInt32, at: UInt64) throws {
        _ = try device.handle(VhostUserMessage(.setVringNum, payload: native(index, size)))
        _ = try device.handle(VhostUserMessage(.setVringBase, payload: native(index, UInt32(0))))
        let n = UInt64(size)
        let addr = native(index, UInt32(0)) + native(at, at + 16 * n + 2 * n + 8, at + 16 * n, UInt64(0))
        _ = try device.handle(VhostUserMessage(.setVringAddr, payload: addr))
        _ = try device.handle(VhostUserMessage(.setVringKick, payload: native(UInt64(index) | 0x100)))
        _ = try device.handle(VhostUserMessage(.setVringEnable, payload: native(index, UInt32(1))))
    }

    /// A new memory table whose region is too small for one queue's rings was refused, but the
    /// device had already swapped its memory: that queue kept its ring pointers into the old
    /// mapping, which was unmapped, and its next walk read freed memory (SIGSEGV).
    @Test func aMemoryTableRefusingOneQueuesRingsLeavesNoQueueOnTheOldMemory() throws {
        let device = VhostUserVsockDevice(guestCID: 3)
        try Self.memoryTable(device, bytes: 64 * 1024)
        try Self.startRing(device, index: 0, size: 8, at: Self.userBase)
        try Self.startRing(device, index: 1, size: 8, at: Self.userBase + 0x8000)
        #expect(device.receive.isReady && device.transmit.isReady)
        // 16 KiB: the receive rings fit, the transmit rings (at 32 KiB) do not.
        #expect(throws: VhostUserError.self) { try Self.memoryTable(device, bytes: 16 * 1024) }
        try #require(!device.transmit.isReady)  // (before the fix: ready, on unmapped rings)
        #expect(device.transmit.next() == nil)
        // The receive queue serves from the new memory.
        #expect(device.receive.isReady)
        let region = try #require(device.memory?.regions.first)
        let ring = region.host  // the receive rings start the region
        ring.storeBytes(of: (UInt64(0x10_0000) + 0x2000).littleEndian, as: UInt64.self)
        ring.storeBytes(of: UInt32(64).littleEndian, toByteOffset: 8, as: UInt32.self)
        ring.storeBytes(of: Virtqueue.descriptorWrite.littleEndian, toByteOffset: 12, as: UInt16.self)
        (ring + 16 * 8).storeBytes(of: UInt16(1).littleEndian, toByteOffset: 2, as: UInt16.self)  // avail idx 1, slot 0 = head 0
        let chain = try #require(device.receive.next())
        #expect(chain.pieces.first?.bytes.baseAddress == region.host + 0x2000)
    }

    /// The same in Virtqueue alone: a refused attach leaves the queue unattached.
    @Test func aRefusedAttachForgetsThePreviousRings() throws {
        let ring = try RingBuilder()
        let q = try ring.queue()
        #expect(q.isReady)
        let elsewhere = try SharedMapping(anonymous: 4096)
        let small = GuestMemory(regions: [.init(guestPhysical: 0, size: 4096, userAddress: 0x1000, host: elsewhere.base)], mappings: [elsewhere])
        #expect(throws: VhostUserError.self) { try q.attach(memory: small) }
        try #require(!q.isReady)
        #expect(q.next() == nil)
    }
}

/// SET_VRING_NUM after SET_VRING_ADDR.
@Suite struct FuzzFindingsResizeTests {
    /// The rings were checked for the size they had at SET_VRING_ADDR; a larger size sent after
    /// it was taken unchecked, and the walk read available-ring slots and descriptors past the
    /// checked rings (past the region: SIGSEGV on the fuzzer's guard page).
    @Test func aRingGrownAfterItsAddressIsCheckedAgain() throws {
        let page = try SharedMapping(anonymous: 4096)
        let memory = GuestMemory(regions: [.init(guestPhysical: 0, size: 4096, userAddress: 0x1000_0000, host: page.base)], mappings: [page])
        let q = Virtqueue(index: 1)
        try q.setSize(1)
        // Size 1 at the end of the page: descriptors 16 bytes, available 8, used 14.
        q.address = VringAddress(index: 1, flags: 0, descriptors: 0x1000_0000 + 4096 - 48, used: 0x1000_0000 + 4096 - 16,
                                 available: 0x1000_0000 + 4096 - 32, log: 0)
        try q.attach(memory: memory)
        q.started = true
        q.enabled = true
        #expect(q.isReady)
        try q.setSize(256)  // QEMU may send NUM before ADDR: not an error, but not served either
        try #require(!q.isReady)  // (before the fix: ready, with rings that run 4 KiB past the page)
        (page.base + 4096 - 32).storeBytes(of: UInt16(200).littleEndian, toByteOffset: 2, as: UInt16.self)
        #expect(q.next() == nil)
        try q.setSize(1)  // back to a size that fits: served again
        #expect(q.isReady)
    }

    @Test func aRingGrownWhereItFitsKeepsBeingServed() throws {
        let ring = try RingBuilder(size: 16)
        let q = Virtqueue(index: 0)
        try q.setSize(8)
        q.address = ring.address
        try q.attach(memory: ring.memory)
        q.started = true
        q.enabled = true
        try q.setSize(16)
        #expect(q.isReady)
        ring.sendReadable(12, [1, 2, 3])
        let chain = try #require(q.next())
        #expect(chain.head == 12 && chain.readableBytes() == [1, 2, 3])
    }
}

/// SET_MEM_TABLE over a file shorter than the region.
@Suite struct FuzzFindingsShortFileTests {
    /// The region was mapped as long as the table said, whatever the file's size: rings placed
    /// past the file's end made the device's first read of them (at SET_VRING_ADDR) a SIGBUS.
    @Test func aRegionLongerThanItsFileIsRefused() throws {
        let device = VhostUserVsockDevice(guestCID: 3)
        #expect(throws: VhostUserError.self) { try FuzzFindingsTests.memoryTable(device, bytes: 64 * 1024, fileBytes: 4096) }
        #expect(device.memory == nil)
        // The file's end counts from offset 0: an offset of a page needs a page more.
        #expect(throws: VhostUserError.self) { try FuzzFindingsTests.memoryTable(device, bytes: 8192, fileBytes: 8192, offset: 4096) }
        try FuzzFindingsTests.memoryTable(device, bytes: 4096, fileBytes: 8192, offset: 4096)
        try FuzzFindingsTests.memoryTable(device, bytes: 64 * 1024, fileBytes: 128 * 1024)
        #expect(device.memory?.regions.first?.size == 64 * 1024)
    }
}

/// Descriptors that came with a message the backend could not read.
@Suite struct FuzzFindingsBackendTests {
    /// Whether every copy of `probe`'s peer was closed within 5 s (the probe reads end of file).
    static func peerClosed(_ probe: Int32) -> Bool {
        var p = [pollfd(fd: probe, events: Int16(POLLIN), revents: 0)]
        guard (try? Descriptors.poll(&p, timeoutMs: 5000)) ?? 0 > 0 else { return false }
        var byte: UInt8 = 0
        return recv(probe, &byte, 1, Int32(MSG_DONTWAIT)) == 0
    }

    /// A header the backend refuses (version 2, a payload of 64 KiB) drops the frontend; the
    /// descriptors that came with it were never closed (a frontend reconnecting could exhaust
    /// the collector's descriptors, and memory files stayed referenced). Likewise the header's
    /// descriptors when the payload's read failed (more descriptors than the backend takes).
    @Test func descriptorsOfARefusedOrUnreadableMessageAreClosed() throws {
        let dir = "/tmp/vbench-vhost-fuzz-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { _ = unlink("\(dir)/v.sock"); rmdir(dir) }
        let backend = try VhostUserVsockBackend(configuration: .init(path: "\(dir)/v.sock", guestCID: 3, port: 5000),
                                                onConnection: { fd, _ in Descriptors.close(fd) }, onNotice: { _ in })
        defer { backend.stop() }
        let badHeaders: [[UInt8]] = [[1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0], [5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]]
        for (i, header) in (badHeaders + [[]]).enumerated() {
            var frontend: TCPSocket?
            for _ in 0..<200 where frontend == nil {
                frontend = try? TCPSocket.connectUnix(path: "\(dir)/v.sock")
                if frontend == nil { usleep(10_000) }
            }
            let socket = try #require(frontend)
            defer { socket.close() }
            let (probe, sent) = try Descriptors.socketPair()
            defer { Descriptors.close(probe) }
            if i < 2 {
                try DescriptorPassing.send(socket.fd, header, descriptors: [sent])
            } else {
                // SET_VRING_CALL's header with the probe, its payload with nine eventfds (the backend takes eight).
                try DescriptorPassing.send(socket.fd, [13, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0], descriptors: [sent])
                let extra = try (0..<9).map { _ in try Descriptors.eventFD() }
                try DescriptorPassing.send(socket.fd, [1, 0, 0, 0, 0, 0, 0, 0], descriptors: extra)
                for fd in extra { Descriptors.close(fd) }
            }
            Descriptors.close(sent)
            #expect(Self.peerClosed(probe), "case \(i): the backend still holds the descriptor")
            // The frontend was dropped (its socket reads end of file) and the next one is taken.
            var p = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)]
            _ = try Descriptors.poll(&p, timeoutMs: 5000)
        }
    }
}

/// The backend's loop after a round that dropped the frontend.
@Suite struct FuzzFindingsKickTests {
    /// The loop polled the kicks it had at the start of a round; when the frontend's message in
    /// that round dropped the frontend (or replaced a kick), the kicks were closed, and the loop
    /// still read 8 bytes from their numbers — which another thread may have reused by then
    /// (the fuzzer's next connection did: the device thread blocked forever on it). Here the
    /// backend's own notice callback takes the freed numbers with blocking sockets, and the kick
    /// is a memory file, readable at every poll.
    @Test func aKickClosedInTheRoundItWasPolledIsNotReadAfterwards() throws {
        let dir = "/tmp/vbench-vhost-kick-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { _ = unlink("\(dir)/v.sock"); rmdir(dir) }
        let taken = Mutex<[Int32]>([])
        let backend = try VhostUserVsockBackend(configuration: .init(path: "\(dir)/v.sock", guestCID: 3, port: 5000),
                                                onConnection: { fd, _ in Descriptors.close(fd) },
                                                onNotice: { notice in
                                                    guard notice.contains("frontend dropped") else { return }
                                                    var fds: [Int32] = []
                                                    for _ in 0..<8 {
                                                        var pair: [Int32] = [-1, -1]
                                                        if socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 { fds += pair }
                                                    }
                                                    taken.withLock { $0 += fds }
                                                })
        defer { backend.stop() }
        defer { taken.withLock { for fd in $0 { Descriptors.close(fd) } } }  // (unblocks a read stuck on one)
        func connect() throws -> TCPSocket {
            for _ in 0..<200 {
                if let s = try? TCPSocket.connectUnix(path: "\(dir)/v.sock") { return s }
                usleep(10_000)
            }
            throw VhostUserError("no backend")
        }
        let first = try connect()
        let kick = try Descriptors.memoryFile(name: "always-readable", size: 4096)
        try DescriptorPassing.send(first.fd, VhostUserMessage(.setVringKick, payload: FuzzFindingsTests.native(UInt64(0))).encoded(), descriptors: [kick])
        Descriptors.close(kick)
        usleep(50_000)
        try DescriptorPassing.send(first.fd, [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])  // version 2: the frontend is dropped
        var p = [pollfd(fd: first.fd, events: Int16(POLLIN), revents: 0)]
        _ = try Descriptors.poll(&p, timeoutMs: 5000)
        first.close()
        // A new frontend is served (the device thread is not stuck on someone else's descriptor).
        // (Right after the drop the backend may still refuse a second frontend: it closes it, and
        // the next one is tried. No answer within 5 s is the hang; then no more connects, which
        // would block once the stuck backend's listen backlog is full.)
        var answered = false
        for _ in 0..<20 where !answered {
            let second = try connect()
            defer { second.close() }
            try DescriptorPassing.send(second.fd, VhostUserMessage(.getFeatures).encoded())
            var q = [pollfd(fd: second.fd, events: Int16(POLLIN), revents: 0)]
            guard try Descriptors.poll(&q, timeoutMs: 5000) > 0 else { break }
            answered = (try? DescriptorPassing.receive(second.fd, count: 20))??.bytes.count ?? 0 >= 12
            if !answered { usleep(10_000) }
        }
        #expect(answered, "the backend answers no new frontend")
    }
}
