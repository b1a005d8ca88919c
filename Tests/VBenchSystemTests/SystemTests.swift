import CLibAIO
import Foundation
import SystemPackage
import Testing
@testable import VBenchSystem

@Suite struct AIOTests {
    @Test func submitAndReapABatchOnAnODirectFile() throws {
        let path = "/var/tmp/vbench-aio-\(UUID().uuidString.prefix(8)).dat"
        try Data((0..<(64 * 4096)).map { UInt8(truncatingIfNeeded: $0 / 4096) }).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try BenchmarkFile(path: path, writable: false, direct: true)
        let context = try AIOContext(maxEvents: 8)
        let buffer = try AlignedBuffer(count: 8 * 4096)
        let cbs = UnsafeMutablePointer<iocb>.allocate(capacity: 8)
        let pointers = UnsafeMutablePointer<UnsafeMutablePointer<iocb>?>.allocate(capacity: 8)
        let events = UnsafeMutablePointer<io_event>.allocate(capacity: 8)
        defer { cbs.deallocate(); pointers.deallocate(); events.deallocate() }
        for i in 0..<8 {
            cbs[i] = iocb()
            IOControlBlock.prepareRead(cbs + i, fd: file.descriptor, buffer: buffer.base + i * 4096, count: 4096,
                                       offset: Int64((i * 7) * 4096), tag: UInt64(i))
            pointers[i] = cbs + i
        }
        #expect(try context.submit(pointers, count: 8).get() == 8)
        var reaped = 0
        var tags = Set<UInt64>()
        while reaped < 8 {
            let n = try context.getEvents(minimum: 1, maximum: 8, into: events).get()
            for e in 0..<n {
                #expect(events[e].result == 4096)
                tags.insert(events[e].tag)
            }
            reaped += n
        }
        #expect(tags == Set(0..<8))
        for i in 0..<8 {
            #expect(buffer.base.load(fromByteOffset: i * 4096, as: UInt8.self) == UInt8(i * 7))
        }
    }

    @Test func misalignedDirectReadReportsEINVAL() throws {
        let path = "/var/tmp/vbench-aio-\(UUID().uuidString.prefix(8)).dat"
        try Data(count: 8192).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try BenchmarkFile(path: path, writable: false, direct: true)
        let context = try AIOContext(maxEvents: 1)
        let buffer = try AlignedBuffer(count: 8192)
        var cb = iocb()
        // Offset 100 is not sector-aligned: O_DIRECT must fail with EINVAL, at submit or completion.
        IOControlBlock.prepareRead(&cb, fd: file.descriptor, buffer: buffer.base, count: 4096, offset: 100, tag: 1)
        var pointer: UnsafeMutablePointer<iocb>? = withUnsafeMutablePointer(to: &cb) { $0 }
        let submitted = withUnsafeMutablePointer(to: &pointer) { context.submit($0, count: 1) }
        switch submitted {
        case .failure(let e): #expect(e == .invalidArgument)
        case .success:
            var event = io_event()
            _ = try context.getEvents(minimum: 1, maximum: 1, into: &event).get()
            #expect(event.result == -Int64(EINVAL))
        }
    }
}

@Suite struct RootedFileSystemTests {
    @Test func resolvesRelativeAndAbsoluteLinksInsideTheRoot() throws {
        let root = "/var/tmp/vbench-root-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/sys/block", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: root + "/sys/block/vda", withDestinationPath: "../devices/pci0000:00/0000:00:05.0/virtio2/block/vda")
        try fm.createSymbolicLink(atPath: root + "/sys/block/abs", withDestinationPath: "/sys/devices/pci0000:00")
        try "42\n".write(toFile: root + "/sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda/size", atomically: true, encoding: .utf8)
        let fs = RootedFileSystem(root: root + "/")
        #expect(fs.resolve("/sys/block/vda") == "/sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda")
        #expect(fs.resolve("/sys/block/vda/../../block/vda/size") == "/sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda/size")
        #expect(fs.resolve("/sys/block/abs") == "/sys/devices/pci0000:00")  // absolute links stay in the root
        #expect(fs.readInt("/sys/block/vda/size") == 42)
        #expect(fs.list("/sys/block") == ["abs", "vda"])
        #expect(fs.resolve("/sys/block/missing") == nil)
        #expect(fs.readString("/nothing") == nil)
    }
}

@Suite struct AtomicFileTests {
    @Test func writesWholeFilesAndNeverReplacesUnasked() throws {
        let dir = "/var/tmp/vbench-atomic-\(UUID().uuidString.prefix(8))/a/b"
        defer { try? FileManager.default.removeItem(atPath: String(dir.dropLast(4))) }
        try AtomicFile.makeDirectories(dir)
        let path = dir + "/r.json"
        try AtomicFile.write(Array("first".utf8), to: path)
        #expect(throws: SystemError.self) { try AtomicFile.write(Array("second".utf8), to: path) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "first")
        try AtomicFile.write(Array("third".utf8), to: path, replace: true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "third")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["r.json"], "no temporary file is left")
    }

    @Test func majorMinorSplitMatchesGlibc() {
        // makedev(254, 0) = 0xFE00; makedev(259, 65536) uses the high bits.
        #expect(FileStatus.split(0xFE00) == (254, 0))
        let dev: UInt64 = (UInt64(259 & 0xfff) << 8) | (UInt64(259 & ~0xfff) << 32) | UInt64(65536 & 0xff) | (UInt64(65536 & ~0xff) << 12)
        #expect(FileStatus.split(dev) == (259, 65536))
    }
}

@Suite struct RouteTableTests {
    /// A lab guest's table: the peer 10.77.0.1 routed over three NICs by metric, each NIC's own
    /// subnet, and a rejected route.
    static let guestTable = """
        Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
        eth0\t01004D0A\t01014D0A\t0007\t0\t0\t1\tFFFFFFFF\t0\t0\t0
        eth1\t01004D0A\t01024D0A\t0007\t0\t0\t2\tFFFFFFFF\t0\t0\t0
        eth2\t01004D0A\t01034D0A\t0007\t0\t0\t3\tFFFFFFFF\t0\t0\t0
        eth0\t00014D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
        eth1\t00024D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
        eth3\t00004D0A\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0
        """

    @Test func ipv4RoutesDecodeInNetworkOrder() {
        let routes = Interfaces.parseIPv4Routes(Self.guestTable)
        #expect(routes.count == 6)
        #expect(routes[0] == KernelRoute(interface: "eth0", destination: [10, 77, 0, 1], prefixLength: 32,
                                         gateway: [10, 77, 1, 1], metric: 1, flags: 7))
        #expect(routes[3].destination == [10, 77, 1, 0] && routes[3].prefixLength == 24)
        #expect(routes[5].prefixLength == 16 && !routes[5].isUsable)
    }

    @Test func autoPicksEveryInterfaceRoutingThePeerByMetric() {
        let routes = Interfaces.parseIPv4Routes(Self.guestTable)
        #expect(Interfaces.interfaces(routing: [10, 77, 0, 1], routes: routes) == ["eth0", "eth1", "eth2"])
        #expect(Interfaces.interfaces(routing: [10, 77, 2, 9], routes: routes) == ["eth1"])
        // Only a rejected route covers 10.77.9.9; nothing routes 192.0.2.1.
        #expect(Interfaces.interfaces(routing: [10, 77, 9, 9], routes: routes).isEmpty)
        #expect(Interfaces.interfaces(routing: [192, 0, 2, 1], routes: routes).isEmpty)
        // A default route covers everything of its family, and loopback never counts.
        let withDefault = routes + [KernelRoute(interface: "eth9", destination: [0, 0, 0, 0], prefixLength: 0, gateway: [10, 0, 0, 1], metric: 100, flags: 3),
                                    KernelRoute(interface: "lo", destination: [192, 0, 2, 0], prefixLength: 24, gateway: [0, 0, 0, 0], metric: 0, flags: 1)]
        #expect(Interfaces.interfaces(routing: [192, 0, 2, 1], routes: withDefault) == ["eth9"])
    }

    @Test func ipv6RoutesDecodeAndMatchByPrefix() {
        let table = """
            fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth1
            00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
            """
        let routes = Interfaces.parseIPv6Routes(table)
        #expect(routes.count == 4)
        #expect(routes[0].prefixLength == 64 && routes[0].metric == 256 && routes[0].destination.first == 0xfd)
        let peer = Interfaces.addressBytes("fd00::5")!
        #expect(peer.count == 16)
        #expect(Interfaces.interfaces(routing: peer, routes: routes) == ["eth0", "eth1"])
        #expect(Interfaces.interfaces(routing: Interfaces.addressBytes("[2001:db8::1]")!, routes: routes) == ["eth1"])
    }

    @Test func numericAddressesOnly() {
        #expect(Interfaces.addressBytes("10.77.0.1") == [10, 77, 0, 1])
        #expect(Interfaces.addressBytes("peer.example") == nil)
        #expect(Interfaces.addressBytes("10.77.0") == nil)
    }

    @Test func thisMachinesTableParses() throws {
        // Real /proc/net/route (read only): every line after the header decodes.
        let text = try String(contentsOfFile: "/proc/net/route", encoding: .utf8)
        let lines = text.split(separator: "\n").count - 1
        #expect(Interfaces.parseIPv4Routes(text).count == lines)
    }
}

@Suite struct UnixSocketTests {
    @Test func listenConnectAndExchangeBytes() throws {
        let path = "/tmp/vbench-unix-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        let listener = try TCPSocket.listenUnix(path: path)
        let client = try TCPSocket.connectUnix(path: path)
        let server = try #require(try listener.accept(timeoutMs: 5000))
        let hello = Array("go d1=22500\n".utf8)
        #expect(hello.withUnsafeBytes { client.sendAll($0.baseAddress!, $0.count) })
        var buffer = [UInt8](repeating: 0, count: hello.count)
        #expect(buffer.withUnsafeMutableBytes { server.receiveExactly($0.baseAddress!, $0.count) })
        #expect(buffer == hello)
        // A second listener on the same path is refused; so is a path longer than sun_path.
        #expect(throws: SystemError.self) { try TCPSocket.listenUnix(path: path) }
        #expect(throws: SystemError.self) { try TCPSocket.connectUnix(path: "/tmp/" + String(repeating: "x", count: 200)) }
        #expect(throws: SystemError.self) { try TCPSocket.connectUnix(path: path + ".missing") }
    }
}

/// posix_spawn with the standard streams redirected, as the lab will start QEMU and its tools.
@Suite struct ChildProcessTests {
    @Test func streamsGoToFilesPipesOrNullAndTheFolderIsSet() throws {
        let dir = "/var/tmp/vbench-spawn-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Files: stdout and stderr apart, in the folder asked for.
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "echo out; echo err >&2; pwd; exit 3"],
                                           stdin: .null, stdout: .file(dir + "/out"), stderr: .file(dir + "/err"), directory: dir)
        #expect(try child.wait() == .exited(3))
        #expect(try String(contentsOfFile: dir + "/out", encoding: .utf8) == "out\n\(dir)\n")
        #expect(try String(contentsOfFile: dir + "/err", encoding: .utf8) == "err\n")
        // A pipe: the child writes, the caller reads to EOF once its own write end is closed.
        let (r, w) = try ChildProcess.pipe()
        let cat = try ChildProcess.spawn("/bin/cat", [], stdin: .null, stdout: .descriptor(w), stderr: .inherit)
        close(w)
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(r, &buffer, buffer.count)
        close(r)
        #expect(n == 0, "cat of /dev/null writes nothing, and the pipe ends with the child")
        #expect(try cat.wait() == .exited(0))
        // A missing program is an error, not a child.
        #expect(throws: SystemError.self) { _ = try ChildProcess.spawn("/nonexistent/program", [], stdin: .null, stdout: .null, stderr: .null) }
    }
}
