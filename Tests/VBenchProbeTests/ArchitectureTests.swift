import FoundationEssentials
import Testing
import VBenchTestSupport
import VBenchCore
@testable import VBenchProbe
import VBenchSystem

/// Identification without CPUID: arm64, ppc64 and s390x, from DMI, the device tree and the
/// partition files; and the CPU model on each.
@Suite struct ArchitectureTests {
    @Test func everyArchitectureAndHypervisorHasAFixture() throws {
        let expected = try Fixtures.names.map { try Fixtures.expected($0) }
        let architectures = Set(expected.compactMap(\.architecture))
        for arch in ["x86_64", "aarch64", "ppc64le", "s390x"] {
            #expect(architectures.contains(arch), "no fixture for \(arch)")
        }
        let hypervisors = Set(expected.map(\.hypervisor))
        for h in [Hypervisor.bhyve, .powerVM, .zvm, .kvm, .xen, .vmware, .hyperV, .qemu, .unknown, .none] {
            #expect(hypervisors.contains(h.rawValue), "no fixture for the hypervisor \(h.rawValue)")
        }
        // Every tree for another architecture has no CPUID, as the machine has none.
        for name in Fixtures.names where try Fixtures.expected(name).architecture.map({ $0 != "x86_64" }) == true {
            let fs = RootedFileSystem(root: Fixtures.root + "/" + name)
            #expect(!fs.exists("/cpuid-hypervisor-bit") && !fs.exists("/cpuid-40000000"), "\(name) has CPUID files")
            #expect(CPUIDSource.recorded.isAvailable(fs) == false, "\(name) reads as having CPUID")
        }
    }

    @Test func ppc64BareMetalAndAnArm64MachineWithNothingToTellBy() throws {
        let powerNV = try Tree()
        try powerNV.file("/proc/cpuinfo", "processor\t: 0\ncpu\t\t: POWER9, altivec supported\n\ntimebase\t: 512000000\nplatform\t: PowerNV\nmodel\t\t: 9006-22P")
        #expect(powerNV.hypervisor().vendor == .none)
        let nothing = try Tree()
        try nothing.file("/proc/cpuinfo", "processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c")
        let info = nothing.hypervisor()
        #expect(info.vendor == .unknown)
        #expect(info.evidence.contains("no CPUID, DMI or device tree to tell by"))
    }

    @Test func cpuModelsOnEveryArchitecture() {
        func model(_ cpuinfo: String, dt: String? = nil) -> String { CPUModel.name(cpuinfo: cpuinfo, deviceTreeModel: { dt }) }
        #expect(model("model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\nflags\t: fpu") == "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz")
        #expect(model("CPU implementer\t: 0x41\nCPU part\t: 0xd40") == "ARM Neoverse-V1")
        #expect(model("CPU implementer\t: 0xc0\nCPU part\t: 0xac3") == "Ampere Ampere-1")
        #expect(model("CPU implementer\t: 0x41\nCPU part\t: 0xfff", dt: "Some Board") == "Some Board")
        #expect(model("CPU implementer\t: 0x41\nCPU part\t: 0xfff") == "unknown")
        #expect(model("cpu\t\t: POWER10 (architected), altivec supported") == "POWER10 (architected)")
        #expect(model("vendor_id       : IBM/S390\nprocessor 0: version = 00,  identification = 0B1F78,  machine = 3931") == "IBM/S390 3931")
        #expect(model("") == "unknown")
    }

    @Test func malformedFirmwareFilesGiveUnknownWithTheReason() throws {
        let sysinfo = try Tree()
        try sysinfo.file("/proc/sysinfo", "\u{1}\u{2}garbage")
        let z = sysinfo.hypervisor()
        #expect(z.vendor == .unknown && z.evidence.contains("sysinfo:no LPAR or VM level"))

        let lparcfg = try Tree()
        try lparcfg.file("/proc/ppc64/lparcfg", "")
        let power = lparcfg.hypervisor()
        #expect(power.vendor == .unknown && power.evidence.contains("lparcfg names no system type or partition"))

        let tree = try Tree()
        try tree.bytes("/sys/firmware/devicetree/base/hypervisor/compatible", [0, 0, 0])
        try tree.bytes("/sys/firmware/devicetree/base/compatible", [0xff, 0x00, 0x80])
        let dt = tree.hypervisor()
        #expect(dt.vendor == .unknown && dt.evidence.contains("devicetree-hypervisor: a node whose compatible is empty or malformed"))

        let board = try Tree()
        try board.bytes("/sys/firmware/devicetree/base/compatible", [0xff, 0x00, 0x80])
        let garbage = board.hypervisor()
        #expect(garbage.vendor == .none && garbage.evidence.contains("device tree names no hypervisor"))

        let unknownNode = try Tree()
        try unknownNode.file("/proc/device-tree/hypervisor/compatible", "acme,hypervisor")
        let acme = unknownNode.hypervisor()
        #expect(acme.vendor == .unknown && acme.evidence.contains("a hypervisor node vbench does not know"))
    }

    @Test func anEmptyTreeIsUnknown() throws {
        let tree = try Tree()
        let env = SystemProbe(fs: tree.fs).environment()
        #expect(env.hypervisor.vendor == .unknown)
        #expect(env.cpuModel == "unknown")
    }
}
