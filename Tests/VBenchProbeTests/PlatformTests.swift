import FoundationEssentials
import Testing
import VBenchTestSupport
import VBenchCore
@testable import VBenchProbe
import VBenchSystem

/// Platforms named only by DMI (clouds, management products) and the hypervisor under them.
@Suite struct PlatformTests {
    @Test func everyPlatformHasAFixture() throws {
        let products = Set(try Fixtures.names.compactMap { try Fixtures.expected($0).product ?? nil })
        for product in ["OpenStack Nova", "OpenStack Compute", "Amazon EC2", "Google Compute Engine", "Alibaba Cloud ECS",
                        "oVirt", "RHEV", "Nutanix AHV"] {
            #expect(products.contains(product), "no fixture for the platform \(product)")
        }
    }

    @Test(arguments: [
        // (CPUID signature or nil for bit 0 or "-" for no CPUID, DMI vendor, product, board vendor, BIOS version, hypervisor, product)
        ("KVMKVMKVM", "Google", "Google Compute Engine", "Google", nil, Hypervisor.kvm, "Google Compute Engine"),
        ("TCGTCGTCGTCG", "OpenStack Foundation", "OpenStack Nova", nil, nil, .qemuTcg, "OpenStack Nova"),
        ("TCGTCGTCGTCG", "Red Hat", "KVM", nil, nil, .qemuTcg, nil),
        ("Linux KVM Hv", "QEMU", "Standard PC (Q35 + ICH9, 2009)", nil, nil, .kvm, nil),
        ("Microsoft Hv", "OpenStack Foundation", "OpenStack Nova", nil, nil, .kvm, "OpenStack Nova"),
        ("-", "Red Hat", "KVM", nil, nil, .kvm, nil),
        ("-", "QEMU", "QEMU Virtual Machine", nil, nil, .qemu, nil),
        ("-", "Amazon EC2", "c7g.metal", "Amazon EC2", nil, .none, "Amazon EC2"),
        ("-", "Amazon EC2", "m5.metal-24xl", nil, nil, .none, "Amazon EC2"),
        ("-", "Amazon EC2", "c7g.large", nil, nil, .kvm, "Amazon EC2"),
        ("-", "Nutanix", "NX-3060-G5", nil, nil, .none, nil),
        (nil, "Alibaba Cloud", "Alibaba Cloud ECS", nil, nil, .none, "Alibaba Cloud ECS"),
        ("KVMKVMKVM", "Alibaba Cloud", "Alibaba Cloud ECS", nil, nil, .kvm, "Alibaba Cloud ECS"),
        ("-", "Alibaba Cloud", "Alibaba Cloud ECS", nil, nil, .unknown, "Alibaba Cloud ECS"),
        ("-", "Ampere(R)", "Mt.Jade", "WIWYNN", nil, .none, nil),
        ("-", nil, "BHYVE", nil, nil, .bhyve, nil),
        ("-", "Xen", "HVM domU", nil, "4.11.amazon", .xen, "Amazon EC2"),
    ] as [(String?, String?, String?, String?, String?, Hypervisor, String?)])
    func platformRules(signature: String?, vendor: String?, product: String?, board: String?, biosVersion: String?,
                       expected: Hypervisor, platform: String?) throws {
        let tree = try Tree()
        switch signature {
        case "-"?: try tree.file("/proc/cpuinfo", "processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c")
        case let s?: try tree.file("/cpuid-40000000", s); try tree.file("/cpuid-hypervisor-bit", "1")
        case nil: try tree.file("/cpuid-hypervisor-bit", "0")
        }
        var fields: [String: String] = [:]
        fields["sys_vendor"] = vendor
        fields["product_name"] = product
        fields["board_vendor"] = board
        fields["bios_version"] = biosVersion
        try tree.dmi(fields)
        let info = tree.hypervisor()
        #expect(info.vendor == expected, "\(info.evidence)")
        #expect(info.product == platform)
    }

    @Test func truncatedOrUnreadableSMBIOSEntryLeavesAnAmbiguousCloudUnknown() throws {
        for (raw, reason) in [([UInt8]([0, 0x12, 0, 0]), "smbios:no BIOS characteristics extension"), ([], "smbios:no BIOS characteristics extension")] {
            let tree = try Tree()
            try tree.dmi(["sys_vendor": "Alibaba Cloud", "product_name": "Alibaba Cloud ECS"])
            try tree.bytes("/sys/firmware/dmi/entries/0-0/raw", raw)
            let info = tree.hypervisor()
            #expect(info.vendor == .unknown)
            #expect(info.evidence.contains(reason))
        }
        let hidden = try Tree()
        try hidden.dmi(["sys_vendor": "Alibaba Cloud", "product_name": "Alibaba Cloud ECS"])
        try hidden.file("/sys/firmware/dmi/entries/0-0/raw.unreadable", "Permission denied")
        let info = hidden.hypervisor()
        #expect(info.vendor == .unknown && info.evidence.contains("smbios:unreadable (Permission denied)"))
    }
}
