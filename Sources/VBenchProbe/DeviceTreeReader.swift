import VBenchCore
import VBenchSystem

/// What the flattened device tree says about the machine (arm64, ppc64 and riscv guests boot with
/// one; x86 and ACPI-booted arm64 have none). Read from `/sys/firmware/devicetree/base`, or from
/// `/proc/device-tree` (the kernel's link to it) in trees laid out that way.
///
/// - `hypervisor/compatible`: the hypervisor node, e.g. `xen,xen-4.15` `xen,xen` (Xen,
///   Documentation/devicetree/bindings/arm/xen.txt), `linux,kvm` (QEMU's pseries guests under
///   KVM), `vmware` (ESXi on arm).
/// - the root's `compatible`: `linux,dummy-virt` for QEMU's arm `virt` machine, and also for
///   Firecracker, kvmtool and Cloud Hypervisor, which reuse it; `qemu,pseries` for QEMU's pseries.
/// - a `fw-cfg@…` node: QEMU's firmware configuration device, so QEMU.
/// - `psci/method`: `hvc` means a hypervisor at EL2 implements PSCI; bare metal uses `smc`.
/// - `model`: the board's name (`Raspberry Pi 4 Model B Rev 1.4`).
struct DeviceTreeReader: Sendable {
    /// The folder of the tree's root, or nil without a device tree.
    let base: String?
    let fs: RootedFileSystem

    init(_ fs: RootedFileSystem) {
        self.fs = fs
        base = ["/sys/firmware/devicetree/base", "/proc/device-tree"].first { fs.isDirectory($0) }
    }

    /// A string-list property (NUL-separated, as the kernel exposes it), or nil when absent.
    func strings(_ property: String) -> [String]? {
        guard let base, let raw = fs.readString(base + "/" + property) else { return nil }
        let list = raw.split(separator: "\0").map { String($0).trimmingCharacters() }.filter { !$0.isEmpty }
        return list.isEmpty ? nil : list
    }

    /// The hypervisor node's `compatible` list.
    var hypervisorCompatible: [String]? { strings("hypervisor/compatible") }

    /// The root node's `compatible` list.
    var rootCompatible: [String]? { strings("compatible") }

    /// The board's model.
    var model: String? { strings("model")?.first }

    /// The PSCI conduit (`hvc` or `smc`).
    var psciMethod: String? { strings("psci/method")?.first }

    /// Whether the root holds QEMU's `fw-cfg` node.
    var hasFirmwareConfig: Bool {
        guard let base else { return false }
        return fs.list(base).contains { $0.hasPrefix("fw-cfg") }
    }

    /// The hypervisor the tree names or implies, with the reasons; nil without a device tree.
    func identify() -> (hypervisor: Hypervisor?, evidence: [String])? {
        guard base != nil else { return nil }
        var evidence: [String] = []
        if let node = hypervisorCompatible {
            evidence.append("devicetree-hypervisor:\(node.joined(separator: " "))")
            if node.contains("linux,kvm") { return (.kvm, evidence) }
            if node.contains(where: { $0.hasPrefix("xen,") }) { return (.xen, evidence) }
            if node.contains(where: { $0.lowercased().contains("vmware") }) { return (.vmware, evidence) }
            evidence.append("a hypervisor node vbench does not know")
            return (.unknown, evidence)
        }
        if let base, fs.readString(base + "/hypervisor/compatible") != nil {
            evidence.append("devicetree-hypervisor: a node whose compatible is empty or malformed")
            return (.unknown, evidence)
        }
        let root = rootCompatible ?? []
        if !root.isEmpty { evidence.append("devicetree:\(root.joined(separator: " "))") }
        if hasFirmwareConfig {
            evidence.append("devicetree:fw-cfg (QEMU)")
            return (.qemu, evidence)
        }
        if root.contains("qemu,pseries") { return (.qemu, evidence) }
        if root.contains("linux,dummy-virt") {
            evidence.append("linux,dummy-virt without QEMU's fw-cfg: Firecracker, Cloud Hypervisor, kvmtool or crosvm")
            return (.unknown, evidence)
        }
        if let method = psciMethod {
            evidence.append("psci:\(method)")
            if method == "hvc" {
                evidence.append("PSCI calls go to a hypervisor")
                return (.unknown, evidence)
            }
        }
        if let model { evidence.append("devicetree-model:\(model)") }
        return (nil, evidence)
    }
}
