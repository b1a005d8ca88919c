import FoundationEssentials
import Glibc
import Testing
import VBenchTestSupport
import VBenchCore
@testable import VBenchProbe
import VBenchSystem

/// A scratch tree for one identification case.
struct Tree {
    let folder: ScratchFolder
    var path: String { folder.path }
    var fs: RootedFileSystem { RootedFileSystem(root: folder.path) }

    init() throws { folder = try ScratchFolder() }

    func file(_ relative: String, _ text: String) throws { try folder.write(relative, text) }

    func bytes(_ relative: String, _ data: [UInt8]) throws {
        let url = URL(fileURLWithPath: path + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(data).write(to: url)
    }

    func link(_ relative: String, _ target: String) throws {
        let url = URL(fileURLWithPath: path + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        #expect(symlink(target, path + relative) == 0)
    }

    /// DMI strings by file name (`sys_vendor`, `product_name`, …).
    func dmi(_ fields: [String: String]) throws {
        for (name, value) in fields { try file("/sys/class/dmi/id/\(name)", value) }
    }

    func hypervisor() -> HypervisorInfo { HypervisorDetector.detect(fs, cpuid: .recorded) }
}
