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
