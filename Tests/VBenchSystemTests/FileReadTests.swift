import Foundation
import Testing
@testable import VBenchSystem

/// Reads that say why they failed, and how a recording keeps the reason.
@Suite struct FileReadTests {
    static func scratch() throws -> String {
        let root = "/var/tmp/vbench-fileread-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/proc/1/ns", withIntermediateDirectories: true)
        return root
    }

    @Test func valueAbsentAndRecordedUnreadable() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "init\n".write(toFile: root + "/proc/1/comm", atomically: false, encoding: .utf8)
        try "Permission denied\n".write(toFile: root + "/proc/1/environ.unreadable", atomically: false, encoding: .utf8)
        let fs = RootedFileSystem(root: root)
        #expect(fs.readFile("/proc/1/comm") == .value("init"))
        #expect(fs.readFile("/proc/1/cgroup") == .absent)
        #expect(fs.readFile("/proc/1/environ") == .unreadable("Permission denied"))
        #expect(fs.readFile("/proc/1/environ").value == nil)
    }

    @Test func namespaceLinksReadAsTheirText() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(symlink("pid:[4026531836]", root + "/proc/1/ns/pid") == 0)
        try "user:[4026531837]".write(toFile: root + "/proc/1/ns/user", atomically: false, encoding: .utf8)
        let fs = RootedFileSystem(root: root)
        #expect(fs.readLinkResult("/proc/1/ns/pid") == .value("pid:[4026531836]"))
        #expect(fs.readLinkResult("/proc/1/ns/mnt") == .absent)
        #expect(fs.readLinkResult("/proc/1/ns/user") == .unreadable("Invalid argument"))  // a file, not a link
    }

    @Test func recordingKeepsWhatWasReadAndWhyTheRestWasNot() throws {
        let live = try Self.scratch(), copy = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: live); try? FileManager.default.removeItem(atPath: copy) }
        try Data([0, 0x1A, 0xff]).write(to: URL(fileURLWithPath: live + "/raw"))
        #expect(symlink("pid:[4026532298]", live + "/proc/1/ns/pid") == 0)
        let recorder = TreeRecorder(destination: copy)
        let fs = RootedFileSystem(root: live, recorder: recorder)
        #expect(fs.readBinary("/raw") == .value([0, 0x1A, 0xff]))
        #expect(fs.readLinkResult("/proc/1/ns/pid") == .value("pid:[4026532298]"))
        let replay = RootedFileSystem(root: copy)
        #expect(replay.readBinary("/raw") == .value([0, 0x1A, 0xff]))
        #expect(replay.readLinkResult("/proc/1/ns/pid") == .value("pid:[4026532298]"))
    }

    @Test func cpuidIsAvailableOnlyOnX86() {
        #if arch(x86_64) || arch(i386)
        #expect(CPUID.isAvailable)
        #expect(CPUID.hypervisorBit() != nil)
        #else
        #expect(!CPUID.isAvailable)
        #expect(CPUID.hypervisorBit() == nil && CPUID.hypervisorSignature() == nil)
        #endif
    }
}
