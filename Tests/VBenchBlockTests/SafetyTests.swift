import Foundation
import Testing
@testable import VBenchBlock
import VBenchCore
import VBenchSystem

/// Refusals: every one names the thing and the fix, and leaves nothing behind.
@Suite(.serialized) struct SafetyTests {
    @Test func existingFileIsNotOverwrittenWithoutTheFlag() throws {
        let dir = try ScratchFolder()
        let path = dir.path + "/precious.img"
        try Data(repeating: 7, count: 1 << 20).write(to: URL(fileURLWithPath: path))
        #expect(throws: BlockError.self) { try prepare(path, writes: true) }
        do { _ = try prepare(path, writes: true) } catch {
            #expect(error.description.contains("--allow-destructive"))
            #expect(error.description.contains(path))
        }
        // Reading it is fine and leaves it in place afterwards.
        let target = try prepare(path, size: nil, writes: false)
        #expect(!target.created && target.sizeBytes == 1 << 20)
        try BlockTargetPreparer.cleanUp(target)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 7, count: 1 << 20))
    }

    @Test func missingFolderIsNamed() {
        #expect {
            try prepare("/var/tmp/vbench-no-such-dir-\(UUID().uuidString)/t.dat")
        } throws: { error in
            guard case .parentMissing = error as? BlockError else { return false }
            return "\(error)".contains("does not exist")
        }
    }

    @Test func signaturesAreRecognized() {
        func detect(_ patch: (UnsafeMutableRawBufferPointer) -> Void) -> [String] {
            let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: DeviceSignature.probeBytes, alignment: 8)
            defer { raw.deallocate() }
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            patch(raw)
            return DeviceSignature.detect(UnsafeRawBufferPointer(raw))
        }
        #expect(detect { _ in }.isEmpty)
        #expect(detect { $0[1080] = 0x53; $0[1081] = 0xEF } == ["ext2/3/4 filesystem"])
        #expect(detect { for (i, b) in "EFI PART".utf8.enumerated() { $0[512 + i] = b }; $0[510] = 0x55; $0[511] = 0xAA } == ["gpt partition table"])
        #expect(detect { $0[510] = 0x55; $0[511] = 0xAA } == ["dos partition table or boot sector"])
        #expect(detect { for (i, b) in "XFSB".utf8.enumerated() { $0[i] = b } } == ["xfs filesystem"])
        #expect(detect { for (i, b) in "SWAPSPACE2".utf8.enumerated() { $0[4086 + i] = b } } == ["swap space"])
    }
}

/// Refusals on a real loop device over an image file, with a real ext4 filesystem.
/// Needs root, losetup and mkfs.ext4 (CI runs as root; .ci/run installs e2fsprogs).
@Suite(.serialized, .enabled(if: LoopDevice.usable, "needs root, losetup and mkfs.ext4"))
struct LoopDeviceTests {
    @Test func blankLoopDeviceIsWritableOnlyWithTheFlag() throws {
        let loop = try LoopDevice(sizeMiB: 16)
        #expect {
            try prepare(loop.device, size: nil, writes: true)
        } throws: { error in
            guard case .deviceWriteNeedsFlag = error as? BlockError else { return false }
            return "\(error)".contains("--allow-destructive")
        }
        let target = try prepare(loop.device, size: nil, writes: true, allowDestructive: true)
        #expect(target.kind == .blockDevice && target.sizeBytes == 16 << 20 && !target.created)
        let result = try BlockHarness(target: target).run(
            BlockWorkloadSpec(pattern: .randwrite, blockSizeBytes: 4096, ioDepth: 8, sizeBytes: 1 << 20, verify: true))
        #expect(result.repetitions[0].writeOps == 256)
        try BlockTargetPreparer.cleanUp(target)
        #expect(FileManager.default.fileExists(atPath: loop.device), "a device is never removed")
    }

    @Test func filesystemSignatureIsRefusedEvenWithTheFlag() throws {
        let loop = try LoopDevice(sizeMiB: 16)
        try #require(try sh(["mkfs.ext4", "-q", "-F", loop.device]).status == 0)
        #expect {
            try prepare(loop.device, size: nil, writes: true, allowDestructive: true)
        } throws: { error in
            guard case .deviceInUse(_, let reasons) = error as? BlockError else { return false }
            return reasons.contains { $0.contains("ext2/3/4 filesystem") }
        }
        // Reading the same device is allowed.
        let target = try prepare(loop.device, size: nil, writes: false)
        #expect(target.kind == .blockDevice)
    }

    @Test func mountedDeviceIsRefused() throws {
        let loop = try LoopDevice(sizeMiB: 16)
        try #require(try sh(["mkfs.ext4", "-q", "-F", loop.device]).status == 0)
        let mountPoint = try ScratchFolder()
        try #require(try sh(["mount", loop.device, mountPoint.path]).status == 0)
        defer { _ = try? sh(["umount", mountPoint.path]) }
        #expect {
            try prepare(loop.device, size: nil, writes: true, allowDestructive: true)
        } throws: { error in
            guard case .deviceInUse(_, let reasons) = error as? BlockError else { return false }
            return reasons.contains { $0.contains("mounted on \(mountPoint.path)") }
        }
    }

    @Test func filesystemRefusingDirectIOIsNamedAndBufferedWorks() throws {
        let ramfs = try RamfsMount()
        let path = ramfs.path + "/t.dat"
        #expect {
            try prepare(path)
        } throws: { error in
            guard case .directIONotSupported(_, let fs) = error as? BlockError else { return false }
            return fs == "ramfs" && "\(error)".contains("--buffered")
        }
        #expect(!FileManager.default.fileExists(atPath: path), "a refused target must leave nothing behind")
        let target = try prepare(path, size: 1 << 20, direct: false)
        defer { try? BlockTargetPreparer.cleanUp(target) }
        let result = try BlockHarness(target: target).run(
            BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 4, sizeBytes: 1 << 20, direct: false))
        #expect(result.repetitions[0].readOps == 256)
    }

    @Test func blockSizeBelowTheLogicalSectorIsNamed() throws {
        let loop = try LoopDevice(sizeMiB: 16, sectorBytes: 4096)
        #expect {
            try prepare(loop.device, size: nil, writes: false, bs: 512)
        } throws: { error in
            guard case .blockSizeBelowSector(_, 512, 4096) = error as? BlockError else { return false }
            return "\(error)".contains("pass --bs 4096 or larger")
        }
        #expect(try prepare(loop.device, size: nil, writes: false, bs: 4096).kind == .blockDevice)
    }

    @Test func partitionedDeviceIsRefused() throws {
        let loop = try LoopDevice(sizeMiB: 16, partitioned: true)
        #expect {
            try prepare(loop.device, size: nil, writes: true, allowDestructive: true)
        } throws: { error in
            guard case .deviceInUse(_, let reasons) = error as? BlockError else { return false }
            return reasons.contains { $0.contains("partition") }
        }
    }
}

/// A filesystem that refuses O_DIRECT: ramfs (tmpfs accepts O_DIRECT since Linux 6.6).
final class RamfsMount {
    let path: String
    init() throws {
        path = "/var/tmp/vbench-ramfs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let (status, output) = try sh(["mount", "-t", "ramfs", "vbench-test", path])
        guard status == 0 else { throw LoopDevice.LoopError(message: "mount ramfs: \(output)") }
    }
    deinit {
        _ = try? sh(["umount", path])
        try? FileManager.default.removeItem(atPath: path)
    }
}
