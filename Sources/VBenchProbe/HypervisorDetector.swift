import VBenchCore
import VBenchSystem

/// Names the hypervisor from CPUID leaf 0x40000000, DMI, /sys/hypervisor/type, the device tree
/// and the partition files of POWER and IBM Z, and the platform (cloud) from DMI.
///
/// CPUID says which hypervisor interface the CPU presents (KVM, TCG, VMware, Xen, Hyper-V);
/// DMI says which product the firmware claims. DMI decides between products that share a CPUID
/// interface (VirtualBox may present KVM's; KVM may present Hyper-V's enlightenments); no DMI
/// with KVM's signature is Firecracker, which has no firmware tables. Without CPUID (arm64,
/// ppc64, s390x) the firmware files decide, and a machine none of them names stays `unknown`.
public enum HypervisorDetector {
    /// Products DMI names precisely, ahead of whatever CPUID interface they present.
    static let distinctProducts: Set<Hypervisor> = [.vmware, .virtualbox, .xen, .hyperV, .cloudHypervisor, .parallels, .bhyve]

    public static func detect(_ fs: RootedFileSystem, cpuid: CPUIDSource) -> HypervisorInfo {
        let hasCPUID = cpuid.isAvailable(fs)
        let signature = cpuid.signature(fs)
        let bit = cpuid.hypervisorBit(fs)
        let dmi = DMITable(fs)
        let sysType = fs.readString("/sys/hypervisor/type")
        var evidence: [String] = []
        if !hasCPUID { evidence.append("cpuid:unavailable (not x86)") }
        else { evidence.append(signature.map { "cpuid:\($0)" } ?? (bit == true ? "cpuid:hypervisor-bit" : "cpuid:none")) }
        evidence.append(dmi.sysVendor.map { "dmi:\($0)" + (dmi.productName.map { "/\($0)" } ?? "") }
                        ?? dmi.productName.map { "dmi:/\($0)" } ?? "dmi:absent")
        if let board = dmi.boardVendor, board != dmi.sysVendor { evidence.append("dmi-board:\(board)") }
        if let sysType { evidence.append("sys-hypervisor:\(sysType)") }

        let fromCPUID = signature.map(vendorFor(signature:))
        let fromDMI = vendorFor(dmi)
        let platform = PlatformProduct.match(dmi)
        if let platform { evidence.append("product:\(platform.name) (\(platform.reason))") }

        let result: Hypervisor
        if let d = fromDMI, distinctProducts.contains(d) {
            // A product named by its firmware: VMware, VirtualBox, Xen, Hyper-V, Cloud Hypervisor, bhyve.
            result = d
        } else if let c = fromCPUID {
            switch c {
            case .kvm:
                if dmi.isEmpty {
                    result = .firecracker
                    evidence.append("no DMI tables with a KVM signature: Firecracker")
                } else { result = .kvm }
            case .hyperV where fromDMI != nil || platform?.hypervisor == .kvm:
                result = .kvm  // KVM with Hyper-V enlightenments
            default: result = c
            }
        } else if let d = fromDMI {
            result = d  // QEMU or KVM named by DMI alone
        } else if let platform {
            result = decide(platform, bit: bit, hasCPUID: hasCPUID, fs: fs, evidence: &evidence)
        } else if sysType == "xen" {
            result = .xen
        } else {
            result = firmwareFiles(fs, hasCPUID: hasCPUID, bit: bit, dmi: dmi, sysType: sysType, evidence: &evidence)
        }
        return HypervisorInfo(vendor: result, cpuidSignature: signature, dmiSysVendor: dmi.sysVendor,
                              dmiProductName: dmi.productName, sysHypervisorType: sysType, product: platform?.name,
                              evidence: evidence)
    }

    /// A platform's hypervisor when CPUID did not name one.
    static func decide(_ platform: PlatformProduct, bit: Bool?, hasCPUID: Bool, fs: RootedFileSystem,
                       evidence: inout [String]) -> Hypervisor {
        guard platform.sharedWithBareMetal else { return platform.hypervisor }
        if bit == true { return platform.hypervisor }
        if bit == false {
            evidence.append("no hypervisor bit: a bare-metal instance")
            return .none
        }
        switch DMITable.virtualMachineBit(fs) {
        case .value(true):
            evidence.append("smbios:virtual-machine bit set")
            return platform.hypervisor
        case .value(false): evidence.append("smbios:virtual-machine bit clear")
        case .absent: evidence.append("smbios:no BIOS characteristics extension")
        case .unreadable(let why): evidence.append("smbios:unreadable (\(why))")
        }
        evidence.append("a VM or a bare-metal instance: cannot tell")
        return .unknown
    }

    /// Device tree, POWER/Z partition files, and what is left when nothing names a hypervisor.
    static func firmwareFiles(_ fs: RootedFileSystem, hasCPUID: Bool, bit: Bool?, dmi: DMITable, sysType: String?,
                              evidence: inout [String]) -> Hypervisor {
        let tree = DeviceTreeReader(fs)
        let fromTree = tree.identify()
        if let fromTree { evidence += fromTree.evidence }
        if let h = fromTree?.hypervisor, h != .unknown { return h }
        let cpuinfo = fs.readString("/proc/cpuinfo") ?? ""
        let partition = PartitionReader(fs: fs).identify(cpuinfo: cpuinfo)
        if let partition {
            evidence += partition.evidence
            return partition.hypervisor
        }
        if fromTree?.hypervisor == .unknown { return .unknown }
        if sysType != nil { return .unknown }
        if bit == true { return .unknown }
        if hasCPUID { return .none }
        // No CPUID to ask: only firmware that names a machine says there is no hypervisor.
        if !dmi.isEmpty {
            if case .value(true) = DMITable.virtualMachineBit(fs) {
                evidence.append("smbios:virtual-machine bit set, no product named")
                return .unknown
            }
            evidence.append("firmware names no hypervisor")
            return .none
        }
        if fromTree != nil {
            evidence.append("device tree names no hypervisor")
            return .none
        }
        evidence.append("no CPUID, DMI or device tree to tell by")
        return .unknown
    }

    static func vendorFor(signature: String) -> Hypervisor {
        switch signature.trimmingCharacters() {
        case "KVMKVMKVM", "Linux KVM Hv": .kvm
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

    /// The hypervisor the DMI strings name: a distinct product, or QEMU/KVM (which CPUID refines).
    static func vendorFor(_ dmi: DMITable) -> Hypervisor? {
        let v = (dmi.sysVendor ?? "").lowercased()
        let p = (dmi.productName ?? "").lowercased()
        let bios = (dmi.biosVendor ?? "").lowercased()
        let board = (dmi.boardVendor ?? "").lowercased()
        if v.contains("vmware") || p.hasPrefix("vmware") { return .vmware }
        if v.contains("innotek") || p == "virtualbox" || v.contains("oracle") && p.contains("virtualbox") { return .virtualbox }
        if v == "xen" || p.contains("hvm domu") { return .xen }
        if v.contains("microsoft") && p.contains("virtual machine") { return .hyperV }
        if v.contains("cloud hypervisor") || p.contains("cloud hypervisor") { return .cloudHypervisor }
        if v.contains("parallels") { return .parallels }
        if v.hasPrefix("bhyve") || p.hasPrefix("bhyve") || bios.hasPrefix("bhyve") { return .bhyve }
        // KVM named by product ("KVM" from RHEL's QEMU, "KVM Virtual Machine" from QEMU's arm and
        // riscv virt machines under KVM) or by vendor ("KVM" on Google's boards).
        if p.hasPrefix("kvm") || v.hasPrefix("kvm") || board.hasPrefix("kvm") { return .kvm }
        if v == "qemu" || p.contains("standard pc") { return .qemu }
        return nil
    }
}
