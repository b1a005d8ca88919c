import VBenchCore
import VBenchSystem

/// Names the hypervisor from CPUID leaf 0x40000000, DMI and /sys/hypervisor/type.
///
/// CPUID says which hypervisor interface the CPU presents (KVM, TCG, VMware, Xen, Hyper-V);
/// DMI says which product the firmware claims. DMI decides between products that share a CPUID
/// interface (VirtualBox may present KVM's; KVM may present Hyper-V's enlightenments); no DMI
/// with KVM's signature is Firecracker, which has no firmware tables.
public enum HypervisorDetector {
    public static func detect(_ fs: RootedFileSystem, cpuid: CPUIDSource) -> HypervisorInfo {
        let signature = cpuid.signature(fs)
        let bit = cpuid.hypervisorBit(fs)
        let vendor = fs.readString("/sys/class/dmi/id/sys_vendor")
        let product = fs.readString("/sys/class/dmi/id/product_name")
        let sysType = fs.readString("/sys/hypervisor/type")
        var evidence: [String] = []
        evidence.append(signature.map { "cpuid:\($0)" } ?? (bit == true ? "cpuid:hypervisor-bit" : "cpuid:none"))
        evidence.append(vendor.map { "dmi:\($0)" + (product.map { "/\($0)" } ?? "") } ?? "dmi:absent")
        if let sysType { evidence.append("sys-hypervisor:\(sysType)") }

        let fromCPUID = signature.flatMap(vendorFor(signature:))
        let fromDMI = vendorFor(dmiVendor: vendor, product: product)
        let result: Hypervisor
        switch (fromCPUID, fromDMI) {
        case (_, .some(let dmi)) where dmi != .qemu:
            // A product named by its firmware: VMware, VirtualBox, Xen, Hyper-V, Cloud Hypervisor.
            result = dmi
        case (.some(.kvm), .some(.qemu)): result = .kvm
        case (.some(.hyperV), .some(.qemu)): result = .kvm  // KVM with Hyper-V enlightenments
        case (.some(.qemuTcg), _): result = .qemuTcg
        case (.some(.kvm), nil):
            result = vendor == nil ? .firecracker : .kvm
        case (.some(let c), _): result = c
        case (nil, .some(.qemu)): result = .qemu
        case (nil, nil):
            if sysType == "xen" { result = .xen }
            else if bit == true { result = .unknown }
            else { result = .none }
        case (nil, .some(let d)): result = d
        }
        if result == .firecracker { evidence.append("no DMI tables with a KVM signature: Firecracker") }
        return HypervisorInfo(vendor: result, cpuidSignature: signature, dmiSysVendor: vendor,
                              dmiProductName: product, sysHypervisorType: sysType, evidence: evidence)
    }

    static func vendorFor(signature: String) -> Hypervisor? {
        switch signature.trimmingCharacters() {
        case "KVMKVMKVM": .kvm
        case "TCGTCGTCGTCG": .qemuTcg
        case "VMwareVMware": .vmware
        case "VBoxVBoxVBox": .virtualbox
        case "XenVMMXenVMM": .xen
        case "Microsoft Hv": .hyperV
        case "bhyve bhyve": .bhyve
        case "lrpepyh  vr", "lrpepyh vr": .parallels
        case "ACRNACRNACRN": .acrn
        default: .unknown
        }
    }

    static func vendorFor(dmiVendor: String?, product: String?) -> Hypervisor? {
        let v = (dmiVendor ?? "").lowercased()
        let p = (product ?? "").lowercased()
        if v.contains("vmware") || p.hasPrefix("vmware") { return .vmware }
        if v.contains("innotek") || p == "virtualbox" || v.contains("oracle") && p.contains("virtualbox") { return .virtualbox }
        if v == "xen" || p.contains("hvm domu") { return .xen }
        if v.contains("microsoft") && p.contains("virtual machine") { return .hyperV }
        if v.contains("cloud hypervisor") || p.contains("cloud hypervisor") { return .cloudHypervisor }
        if v.contains("parallels") { return .parallels }
        if v == "qemu" || p.contains("standard pc") || p.hasPrefix("kvm") { return .qemu }
        return nil
    }
}
