import CVBenchShims
import Glibc
import Synchronization
import Testing
import VBenchSystem
@testable import VBenchVhostUser

/// The backend on its socket, driven by a stand-in for QEMU: the handshake QEMU 7.2 performs,
/// guest memory in a memory file passed with SCM_RIGHTS, eventfds for kicks and calls, and a
/// guest driver writing the rings. (The real QEMU and a real guest kernel are in the lab test.)
@Suite struct BackendTests {
    final class Frontend {
        let socket: TCPSocket
        let memfd: Int32
        let rx: RingBuilder, tx: RingBuilder
        var kicks: [Int32] = [], calls: [Int32] = []
        static let bytes = 4 << 20

        /// The rings of both queues in one memory file: rx in the first 2 MiB, tx in the second.
        init(path: String) throws {
            var socket: TCPSocket?
            for _ in 0..<100 {
                socket = try? TCPSocket.connectUnix(path: path)
                if socket != nil { break }
                usleep(20_000)
            }
            self.socket = try #require(socket)
            memfd = try Descriptors.memoryFile(name: "guest", size: Self.bytes)
            rx = try RingBuilder(bytes: Self.bytes, fd: memfd)
            tx = try RingBuilder(bytes: Self.bytes, fd: memfd)
        }

        deinit {
            for fd in kicks + calls { Descriptors.close(fd) }
            Descriptors.close(memfd)
        }

        func send(_ request: VhostUserRequest, _ payload: [UInt8] = [], fds: [Int32] = [], needReply: Bool = false) throws {
            let m = VhostUserMessage(request, flags: needReply ? 0x9 : 0x1, payload: payload)
            try DescriptorPassing.send(socket.fd, m.encoded(), descriptors: fds)
        }

        func reply() throws -> [UInt8] {
            var p = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)]
            guard try Descriptors.poll(&p, timeoutMs: 5000) > 0, let head = try DescriptorPassing.receive(socket.fd, count: 12) else {
                throw VhostUserError("no reply")
            }
            let h = try VhostUserMessage.header(head.bytes)
            #expect(h.flags == 0x5)
            guard h.size > 0 else { return [] }
            return try #require(try DescriptorPassing.receive(socket.fd, count: h.size)).bytes
        }

        static func native<T: FixedWidthInteger>(_ values: T...) -> [UInt8] {
            var out = [UInt8]()
            for v in values { out.appendNative(v) }
            return out
        }

        /// What QEMU 7.2 sends for a vhost-user-vsock-pci device, through SET_VRING_ENABLE.
        func handshake(expectCID: UInt64) throws {
            try send(.getFeatures)
            #expect(try reply() == Self.native(VhostUserFeatures.offered))
            try send(.getProtocolFeatures)
            let protocolFeatures = try reply()
            try send(.setProtocolFeatures, protocolFeatures)
            try send(.getQueueNum)
            #expect(try reply() == Self.native(UInt64(2)))
            try send(.setOwner)
            try send(.getConfig, Self.native(UInt32(0), UInt32(8), UInt32(0)) + [UInt8](repeating: 0, count: 8))
            let config = try reply()
            #expect(Array(config[12...]) == Self.native(expectCID.littleEndian))
            try send(.setFeatures, Self.native(VhostUserFeatures.offered))
            // One region: the memory file, guest-physical from RingBuilder.guestBase.
            try send(.setMemTable, Self.native(UInt32(1), UInt32(0)) + Self.native(RingBuilder.guestBase, UInt64(Self.bytes), RingBuilder.userBase, UInt64(0)),
                     fds: [memfd], needReply: true)
            #expect(try reply() == Self.native(UInt64(0)))
            // rx rings at the first layout, tx at the same layout 2 MiB further.
            let shift: UInt64 = 2 << 20
            for index: UInt32 in [0, 1] {
                let off = index == 1 ? shift : 0
                try send(.setVringNum, Self.native(index, UInt32(8)))
                try send(.setVringBase, Self.native(index, UInt32(0)))
                let a = rx.address
                try send(.setVringAddr, Self.native(index, UInt32(0)) + Self.native(a.descriptors + off, a.used + off, a.available + off, UInt64(0)))
                let kick = try Descriptors.eventFD(), call = try Descriptors.eventFD()
                kicks.append(kick)
                calls.append(call)
                try send(.setVringKick, Self.native(UInt64(index)), fds: [kick])
                try send(.setVringCall, Self.native(UInt64(index)), fds: [call])
                try send(.setVringEnable, Self.native(index, UInt32(1)))
            }
        }

        /// The tx ring's view 2 MiB into the file (RingBuilder lays its rings at the start).
        lazy var txRing: ShiftedRing = ShiftedRing(base: tx, shift: 2 << 20)

        func waitCall(_ queue: Int) -> Bool {
            var p = [pollfd(fd: calls[queue], events: Int16(POLLIN), revents: 0)]
            guard (try? Descriptors.poll(&p, timeoutMs: 5000)) ?? 0 > 0 else { return false }
            return Descriptors.drain(calls[queue])
        }
    }

    /// A RingBuilder's helpers at an offset of its memory (the second queue of one region).
    final class ShiftedRing {
        let base: RingBuilder, shift: Int
        var availIndex: UInt16 = 0
        var used: UInt16 = 0
        var next = 0
        init(base: RingBuilder, shift: Int) { self.base = base; self.shift = shift }

        func send(_ bytes: [UInt8]) {
            let i = Int(availIndex % 8)
            let at = shift + RingBuilder.bufferOffset + next
            next += (bytes.count + 63) & ~63
            bytes.withUnsafeBytes { (base.mapping.base + at).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            let d = base.mapping.base + shift + RingBuilder.descOffset + 16 * i
            d.storeBytes(of: (RingBuilder.guestBase + UInt64(at)).littleEndian, as: UInt64.self)
            d.storeBytes(of: UInt32(bytes.count).littleEndian, toByteOffset: 8, as: UInt32.self)
            d.storeBytes(of: UInt16(0), toByteOffset: 12, as: UInt16.self)
            (base.mapping.base + shift + RingBuilder.availOffset).storeBytes(of: UInt16(i).littleEndian, toByteOffset: 4 + 2 * i, as: UInt16.self)
            availIndex &+= 1
            vbench_store_release_u16(base.mapping.base + shift + RingBuilder.availOffset + 2, availIndex)
        }
    }

    /// Receive buffers: `count` writable descriptors of 4 KiB + header, published.
    func postReceive(_ f: Frontend, count: Int) {
        for _ in 0..<count {
            let i = Int(f.rx.availIndex % 8)
            f.rx.setDescriptor(i, address: f.rx.buffer([], length: 4096 + 44), length: 4096 + 44, flags: Virtqueue.descriptorWrite)
            f.rx.publish(UInt16(i))
        }
        Descriptors.signal(f.kicks[0])
    }

    /// The packets the device put in receive buffers since the last call.
    func received(_ f: Frontend) -> [(VsockHeader, [UInt8])] {
        f.rx.takeUsed().map { head, written in
            let d = f.rx.mapping.base + RingBuilder.descOffset + 16 * Int(head)
            let addr = UInt64(littleEndian: d.loadUnaligned(as: UInt64.self))
            let bytes = f.rx.read(addr, Int(written))
            return (VsockHeader(bytes)!, Array(bytes[44...]))
        }
    }

    func waitFor(_ f: Frontend, _ op: VsockHeader.Op) -> (VsockHeader, [UInt8])? {
        for _ in 0..<5 {
            let got = received(f)
            if let p = got.first(where: { $0.0.knownOp == op }) { return p }
            _ = f.waitCall(0)
        }
        return nil
    }

    @Test func aGuestStreamComesOutAsALocalSocketAndFrontendsCanReconnect() throws {
        let dir = "/tmp/vbench-vhost-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { _ = unlink("\(dir)/v.sock"); rmdir(dir) }
        let streams = Mutex<[Int32]>([])
        let notices = Mutex<[String]>([])
        let backend = try VhostUserVsockBackend(configuration: .init(path: "\(dir)/v.sock", guestCID: 42, port: 5000),
                                                onConnection: { fd, _ in streams.withLock { $0.append(fd) } },
                                                onNotice: { n in notices.withLock { $0.append(n) } })
        defer { backend.stop() }
        for round in 1...2 {
            let f = try Frontend(path: "\(dir)/v.sock")
            try f.handshake(expectCID: 42)
            postReceive(f, count: 8)
            // The guest connects from port 1025 to the host's port 5000.
            f.txRing.send(packet(.request, src: 42, srcPort: 1025))
            Descriptors.signal(f.kicks[1])
            let response = try #require(waitFor(f, .response))
            #expect(response.0.destinationCID == 42 && response.0.sourceCID == 2 && response.0.bufferAllocation > 0)
            var local: Int32 = -1
            for _ in 0..<100 where local < 0 {
                local = streams.withLock { $0.count >= round ? $0[round - 1] : -1 }
                usleep(10_000)
            }
            #expect(local >= 0)
            // Data from the guest reaches the local socket.
            f.txRing.send(packet(.readWrite, src: 42, srcPort: 1025, payload: Array("record \(round)".utf8)))
            Descriptors.signal(f.kicks[1])
            var p = [pollfd(fd: local, events: Int16(POLLIN), revents: 0)]
            _ = try Descriptors.poll(&p, timeoutMs: 5000)
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = buffer.withUnsafeMutableBytes { Descriptors.readAvailable(local, into: $0) } ?? 0
            #expect(Array(buffer[0..<max(0, n)]) == Array("record \(round)".utf8))
            // The local side answers; the answer is in a receive buffer.
            _ = Array("ack".utf8).withUnsafeBytes { Descriptors.writeAvailable(local, $0) }
            let answer = try #require(waitFor(f, .readWrite))
            #expect(answer.1 == Array("ack".utf8))
            // A packet claiming another CID is dropped.
            f.txRing.send(packet(.request, src: 7, srcPort: 1026))
            Descriptors.signal(f.kicks[1])
            usleep(200_000)
            #expect(received(f).isEmpty)
            // QEMU goes away: the stream ends (the local side sees end of file).
            f.socket.close()
            p = [pollfd(fd: local, events: Int16(POLLIN), revents: 0)]
            _ = try Descriptors.poll(&p, timeoutMs: 5000)
            #expect(buffer.withUnsafeMutableBytes { Descriptors.readAvailable(local, into: $0) } == 0)
            Descriptors.close(local)
        }
        #expect(backend.frontendsConnected == 2)
        #expect(backend.statistics.spoofed >= 1)
        #expect(notices.withLock { $0.contains { $0.contains("frontend disconnected") } })
    }

    @Test func aSecondFrontendIsRefusedWhileOneIsConnected() throws {
        let dir = "/tmp/vbench-vhost-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { _ = unlink("\(dir)/v.sock"); rmdir(dir) }
        let backend = try VhostUserVsockBackend(configuration: .init(path: "\(dir)/v.sock", guestCID: 3, port: 5000),
                                                onConnection: { fd, _ in Descriptors.close(fd) }, onNotice: { _ in })
        defer { backend.stop() }
        let first = try Frontend(path: "\(dir)/v.sock")
        try first.send(.getFeatures)
        _ = try first.reply()
        let second = try TCPSocket.connectUnix(path: "\(dir)/v.sock")
        var p = [pollfd(fd: second.fd, events: Int16(POLLIN), revents: 0)]
        _ = try Descriptors.poll(&p, timeoutMs: 5000)
        var byte: UInt8 = 0
        #expect(read(second.fd, &byte, 1) == 0)  // closed at once
        try first.send(.getQueueNum)
        #expect(try first.reply() == Frontend.native(UInt64(2)))
    }

    @Test func anotherKindOfFileAtThePathIsNeverReplaced() throws {
        let path = "/tmp/vbench-vhost-file-\(getpid())"
        let fd = open(path, O_CREAT | O_WRONLY, 0o600)
        close(fd)
        defer { unlink(path) }
        #expect(throws: SystemError.self) {
            _ = try VhostUserVsockBackend(configuration: .init(path: path, guestCID: 3, port: 5000), onConnection: { _, _ in }, onNotice: { _ in })
        }
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG)
    }
}
