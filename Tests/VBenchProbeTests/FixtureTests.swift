import FoundationEssentials
import Testing
import VBenchTestSupport
import VBenchCore
@testable import VBenchProbe
import VBenchSystem

/// What a fixture's expected.json says.
struct Expected: Decodable {
    struct Device: Decodable {
        var name: String
        var driver: String
        var controller: String
        var `class`: String
        var pciId: String?
    }
    var hypervisor: String
    var disks: [Device]
    var nics: [Device]
    var paravirtualDrivers: [String]
    var adviceFor: [String]
    /// The platform (`HypervisorInfo.product`) when the key is present; null means none. Absent
    /// in older fixtures, which are then not checked for it.
    var product: String??
    /// The container kind's raw value (`docker`, `none`, `container-other`), when checked.
    var container: String?
    /// The CPU model, when checked.
    var cpuModel: String?
    /// The machine architecture the tree was built for (`uname -m`), when given.
    var architecture: String?
    /// Audit findings the tree must give (from the QEMU command line of a recorded boot): each
    /// names its check, subject (a prefix: `bochs` matches `bochs-drm`), severity and words its
    /// summary or fix must contain. Findings not listed are not checked.
    var audit: [ExpectedFinding]?

    struct ExpectedFinding: Decodable {
        var check: String
        var subject: String
        var severity: String
        var mentions: [String]?
    }

    private enum Keys: String, CodingKey {
        case hypervisor, disks, nics, paravirtualDrivers, adviceFor, product, container, cpuModel, architecture, audit
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        hypervisor = try c.decode(String.self, forKey: .hypervisor)
        disks = try c.decode([Device].self, forKey: .disks)
        nics = try c.decode([Device].self, forKey: .nics)
        paravirtualDrivers = try c.decode([String].self, forKey: .paravirtualDrivers)
        adviceFor = try c.decode([String].self, forKey: .adviceFor)
        product = c.contains(.product) ? .some(try c.decodeIfPresent(String.self, forKey: .product)) : .none
        container = try c.decodeIfPresent(String.self, forKey: .container)
        cpuModel = try c.decodeIfPresent(String.self, forKey: .cpuModel)
        architecture = try c.decodeIfPresent(String.self, forKey: .architecture)
        audit = try c.decodeIfPresent([ExpectedFinding].self, forKey: .audit)
    }
}

enum Fixtures {
    static let root: String = {
        // Tests/VBenchProbeTests/FixtureTests.swift → Tests/Fixtures
        var parts = #filePath.split(separator: "/").dropLast(2)
        parts.append("Fixtures")
        return "/" + parts.joined(separator: "/")
    }()

    static let names: [String] = RootedFileSystem(root: root).list("/").filter {
        RootedFileSystem(root: root + "/" + $0).exists("/expected.json")
    }

    static func expected(_ name: String) throws -> Expected {
        let fs = RootedFileSystem(root: root + "/" + name)
        let text = try #require(fs.readString("/expected.json"))
        return try JSONDecoder().decode(Expected.self, from: Data(text.utf8))
    }

    static func report(_ name: String) -> ProbeReport {
        SystemProbe(fs: RootedFileSystem(root: root + "/" + name)).report()
    }
}

@Suite struct FixtureTests {
    @Test func everyHypervisorHasAFixture() {
        let names = Set(Fixtures.names)
        for required in ["qemu-kvm-virtio", "qemu-tcg-emulated", "vmware", "virtualbox", "xen-hvm", "hyperv",
                         "firecracker-mmio", "firecracker-pci-dev", "bare-metal"] {
            #expect(names.contains(required), "missing fixture \(required)")
        }
    }

    @Test(arguments: Fixtures.names)
    func probeFindsWhatTheFixtureHolds(name: String) throws {
        let expected = try Fixtures.expected(name)
        let report = Fixtures.report(name)
        #expect(report.environment.hypervisor.vendor.rawValue == expected.hypervisor, "\(name): \(report.environment.hypervisor.evidence)")
        if let product = expected.product {
            #expect(report.environment.hypervisor.product == product, "\(name): product")
        }
        if let container = expected.container {
            #expect(report.environment.container?.kind.rawValue == container, "\(name): \(report.environment.container?.evidence ?? [])")
        }
        if let cpuModel = expected.cpuModel {
            #expect(report.environment.cpuModel == cpuModel, "\(name): CPU model")
        }
        func check(_ found: [DeviceInfo], _ wanted: [Expected.Device], kind: String) {
            #expect(found.map(\.name).sorted() == wanted.map(\.name).sorted(), "\(name): \(kind) names")
            for w in wanted {
                guard let d = found.first(where: { $0.name == w.name }) else { continue }
                #expect(d.driver == w.driver, "\(name)/\(w.name) driver")
                #expect(d.controllerDriver == w.controller, "\(name)/\(w.name) controller")
                #expect(d.deviceClass.rawValue == w.class, "\(name)/\(w.name) class")
                #expect(d.pciId == w.pciId, "\(name)/\(w.name) PCI id")
            }
        }
        check(report.disks, expected.disks, kind: "disks")
        check(report.nics, expected.nics, kind: "nics")
        #expect(report.paravirtualDrivers == expected.paravirtualDrivers.sorted())
        #expect(report.advice.map(\.device).sorted() == expected.adviceFor.sorted())
        for want in expected.audit ?? [] {
            let found = report.audit?.findings.first { $0.check == want.check && $0.subject.hasPrefix(want.subject) }
            #expect(found?.severity.rawValue == want.severity, "\(name): \(want.check) \(want.subject): \(found.map { "\($0.severity) \($0.summary)" } ?? "no such finding")")
            let text = found.map { f in ([f.summary] + f.evidence + [f.fix?.guest, f.fix?.libvirt, f.fix?.host].compactMap { $0 }).joined(separator: "\n") } ?? ""
            for word in want.mentions ?? [] { #expect(text.contains(word), "\(name): \(want.check) \(want.subject) does not mention '\(word)':\n\(text)") }
        }
    }

    @Test func adviceNamesTheEmulatedDriverAndTheReplacement() {
        let report = Fixtures.report("qemu-tcg-emulated")
        let messages = report.advice.map(\.message)
        #expect(messages.contains("sda is on ata_piix (emulated IDE); attach it as virtio-blk (or virtio-scsi for many disks)"))
        #expect(messages.contains { $0.hasPrefix("eth1 is on e1000 (emulated Intel e1000); attach it as virtio-net") })
        let vmware = Fixtures.report("vmware").advice.map(\.message)
        #expect(vmware.contains { $0.contains("mptspi") && $0.contains("PVSCSI") })
    }

    @Test func hostRecordedTreeNamesVdaAsVirtioBlk() throws {
        let report = Fixtures.report("firecracker-pci-dev")
        let vda = try #require(report.disks.first { $0.name == "vda" })
        #expect(vda.driver == "virtio_blk")
        #expect(vda.deviceClass == .paravirtual)
        #expect(report.environment.hypervisor.evidence.contains("dmi:absent"))
    }

    @Test func multiNodeFixtureCountsNodesAndCPUs() {
        let env = Fixtures.report("bare-metal").environment
        #expect(env.numaNodes == 2)
        #expect(env.onlineCpus == 64)
        #expect(env.hypervisor.vendor == .none)
    }

    @Test func cpuListsAreCounted() {
        #expect(SystemProbe.countCPUList("0-3,8,10-11") == 7)
        #expect(SystemProbe.countCPUList("0") == 1)
        #expect(SystemProbe.countCPUList("0-63\n") == 64)
    }
}

@Suite struct HypervisorRulesTests {
    @Test(arguments: [
        ("KVMKVMKVM", "QEMU", "Standard PC (Q35 + ICH9, 2009)", nil, Hypervisor.kvm),
        ("KVMKVMKVM", nil, nil, nil, .firecracker),
        ("KVMKVMKVM", "Amazon EC2", "m5.large", nil, .kvm),
        ("KVMKVMKVM", "innotek GmbH", "VirtualBox", nil, .virtualbox),
        ("Microsoft Hv", "QEMU", "Standard PC (i440FX + PIIX, 1996)", nil, .kvm),
        ("Microsoft Hv", "Microsoft Corporation", "Virtual Machine", nil, .hyperV),
        ("TCGTCGTCGTCG", "QEMU", "Standard PC (i440FX + PIIX, 1996)", nil, .qemuTcg),
        (nil, "QEMU", "Standard PC (i440FX + PIIX, 1996)", nil, .qemu),
        (nil, nil, nil, "xen", .xen),
        (nil, "Dell Inc.", "PowerEdge R650", nil, .none),
        ("VMwareVMware", "VMware, Inc.", "VMware7,1", nil, .vmware),
        ("KVMKVMKVM", "Cloud Hypervisor", "cloud-hypervisor", nil, .cloudHypervisor),
    ] as [(String?, String?, String?, String?, Hypervisor)])
    func rules(signature: String?, vendor: String?, product: String?, sysType: String?, expected: Hypervisor) throws {
        let dir = try ScratchFolder()
        if let signature { try dir.write("/cpuid-40000000", signature); try dir.write("/cpuid-hypervisor-bit", "1") }
        else { try dir.write("/cpuid-hypervisor-bit", "0") }
        if let vendor { try dir.write("/sys/class/dmi/id/sys_vendor", vendor) }
        if let product { try dir.write("/sys/class/dmi/id/product_name", product) }
        if let sysType { try dir.write("/sys/hypervisor/type", sysType) }
        let info = HypervisorDetector.detect(RootedFileSystem(root: dir.path), cpuid: .recorded)
        #expect(info.vendor == expected)
    }
}
