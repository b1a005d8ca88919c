import FoundationEssentials
import Testing
@testable import VBenchCore

/// The platform (`HypervisorInfo.product`) and container (`Environment.container`) fields: new
/// records carry them, and records written before they existed still read.
@Suite struct IdentificationModelTests {
    /// An environment as records held it before the product and container fields.
    static let olderEnvironment = """
        {"hostname":"h","kernelRelease":"6.1.0","cpuModel":"cpu","onlineCpus":2,"memoryBytes":1073741824,"numaNodes":1,
         "hypervisor":{"vendor":"kvm","cpuidSignature":"KVMKVMKVM","dmiSysVendor":"QEMU","evidence":["cpuid:KVMKVMKVM"]},
         "bootId":"b"}
        """

    @Test func olderEnvironmentsReadWithoutProductOrContainer() throws {
        let env = try JSONDecoder().decode(Environment.self, from: Data(Self.olderEnvironment.utf8))
        #expect(env.hypervisor.vendor == .kvm)
        #expect(env.hypervisor.product == nil)
        #expect(env.container == nil)
        #expect(env.bootId == "b")
    }

    @Test func olderRecordsReadWithoutProductOrContainer() throws {
        var record = RecordTests.sampleRecord()
        let old = try JSONDecoder().decode(Environment.self, from: Data(Self.olderEnvironment.utf8))
        record.environment = old
        let text = String(decoding: try record.jsonData(), as: UTF8.self)
        #expect(!text.contains("\"container\"") && !text.contains("\"product\""))
        #expect(try RunRecord.decode(Data(text.utf8)).environment == old)
    }

    @Test func productAndContainerRoundTrip() throws {
        var record = RecordTests.sampleRecord()
        record.environment.hypervisor.product = "Amazon EC2"
        record.environment.container = ContainerInfo(kind: .none, evidence: ["against: the initial PID namespace", "for docker: /.dockerenv present"])
        let data = try record.jsonData()
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"product\" : \"Amazon EC2\""))
        #expect(text.contains("\"kind\" : \"none\""))
        #expect(try RunRecord.decode(data) == record)
    }

    @Test func newHypervisorsHaveNamesAndRawValues() {
        #expect(Hypervisor(rawValue: "powervm") == .powerVM && Hypervisor.powerVM.displayName == "PowerVM")
        #expect(Hypervisor(rawValue: "zvm") == .zvm && Hypervisor.zvm.displayName == "z/VM")
    }

    @Test(arguments: [
        ("docker", ContainerKind.docker), ("podman", .podman), ("lxc", .lxc), ("lxc-libvirt", .lxcLibvirt),
        ("systemd-nspawn", .systemdNspawn), ("rkt", .rkt), ("wsl", .wsl), ("proot", .proot), ("pouch", .pouch),
        ("openvz", .openvz), ("crio", .other), ("something-new", .other), ("LXC", .lxc),
    ])
    func containerVariableNamesAKind(value: String, kind: ContainerKind) {
        #expect(ContainerKind(containerVariable: value) == kind)
    }

    @Test func everyContainerKindHasADistinctName() {
        let names = ContainerKind.allCases.map(\.displayName)
        #expect(Set(names).count == names.count)
        #expect(ContainerKind.other.rawValue == "container-other")
    }
}
