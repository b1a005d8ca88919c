import VBenchCore
import VBenchSystem

/// Everything `vbench probe` reports.
public struct ProbeReport: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var environment: Environment
    public var disks: [DeviceInfo]
    public var nics: [DeviceInfo]
    /// Loaded paravirtual drivers and guest additions (virtio_*, vboxguest, vmw_*, xen*, hv_*).
    public var paravirtualDrivers: [String]
    public var advice: [Advice]
    /// What the guest is missing or runs in a costly way, with evidence and fixes (absent in
    /// reports of vbench before the audit).
    public var audit: GuestAudit?
}

/// Reads the system (or a recorded tree) through a root prefix.
public struct SystemProbe: Sendable {
    public let fs: RootedFileSystem
    public let cpuid: CPUIDSource
    /// How much of the clocksource's cost the audit measures (live systems only).
    public let clockCost: ClockCostMeasurement

    public init(fs: RootedFileSystem, cpuid: CPUIDSource? = nil, clockCost: ClockCostMeasurement? = nil) {
        self.fs = fs
        self.cpuid = cpuid ?? .for(fs)
        self.clockCost = fs.isLive ? (clockCost ?? .current) : .none
    }

    /// Runs every part of the probe.
    public func report() -> ProbeReport {
        let env = environment(withAudit: false)
        let inventory = DeviceInventory(fs: fs, hypervisor: env.hypervisor.vendor)
        let disks = inventory.disks()
        let nics = inventory.nics()
        let advice = (disks + nics).compactMap { Advisor.advice(for: $0, hypervisor: env.hypervisor.vendor) }
        let audit = GuestAuditor(fs: fs, hypervisor: env.hypervisor.vendor, onlineCpus: env.onlineCpus, clockCost: clockCost)
            .audit(disks: disks, nics: nics)
        return ProbeReport(environment: env, disks: disks, nics: nics,
                           paravirtualDrivers: paravirtualDrivers(), advice: advice, audit: audit)
    }

    /// The audit as a RunRecord keeps it (about 1 KB), so a report can say what configuration a
    /// number was measured under: every finding without its evidence and fix (the probe prints
    /// those), the summary only for warnings, and no line for a driver with no device to drive.
    public func recordedAudit(hypervisor: Hypervisor, onlineCpus: Int) -> GuestAudit {
        let inventory = DeviceInventory(fs: fs, hypervisor: hypervisor)
        var audit = GuestAuditor(fs: fs, hypervisor: hypervisor, onlineCpus: onlineCpus, clockCost: clockCost)
            .audit(disks: inventory.disks(), nics: inventory.nics())
        audit.findings = audit.findings.compactMap { f in
            if f.check == "driver", f.severity == .ok, f.summary.hasPrefix("no device") { return nil }
            var kept = f
            kept.fix = nil
            kept.evidence = []
            if f.severity != .warning { kept.summary = "" }
            return kept
        }
        return audit
    }

    /// Kernel, CPU, memory, NUMA, hypervisor and container, and (`withAudit`) the audit as
    /// records keep it.
    public func environment(withAudit: Bool = true) -> Environment {
        let cpuinfo = fs.readString("/proc/cpuinfo") ?? ""
        let model = CPUModel.name(cpuinfo: cpuinfo, deviceTreeModel: { DeviceTreeReader(fs).model })
        let memKiB = (fs.readString("/proc/meminfo") ?? "").split(separator: "\n")
            .first { $0.hasPrefix("MemTotal:") }
            .flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { UInt64($0) } ?? 0
        let nodes = fs.list("/sys/devices/system/node").filter { $0.hasPrefix("node") && $0.dropFirst(4).allSatisfy(\.isNumber) }
        var env = Environment(
            hostname: fs.isLive ? hostName() : (fs.readString("/proc/sys/kernel/hostname") ?? "recorded"),
            kernelRelease: fs.readString("/proc/sys/kernel/osrelease") ?? "unknown",
            cpuModel: model,
            onlineCpus: Self.countCPUList(fs.readString("/sys/devices/system/cpu/online") ?? "0"),
            memoryBytes: memKiB * 1024,
            numaNodes: max(1, fs.isLive ? (NUMA.configuredNodes() ?? nodes.count) : nodes.count),
            hypervisor: HypervisorDetector.detect(fs, cpuid: cpuid),
            bootId: fs.readString("/proc/sys/kernel/random/boot_id")?.trimmingCharacters(),
            container: ContainerDetector.detect(fs))
        if withAudit { env.audit = recordedAudit(hypervisor: env.hypervisor.vendor, onlineCpus: env.onlineCpus) }
        return env
    }

    /// Paravirtual drivers and guest additions in use: loaded modules (/proc/modules) and
    /// drivers bound to at least one device (built-in drivers appear only under /sys/bus; one
    /// that is merely registered, such as Debian's built-in xen-platform-pci on a KVM guest,
    /// is left out). Names are given as modules name them (`virtio_pci`, not `virtio-pci`);
    /// helper libraries (virtio_ring, virtio_pci_modern_dev, …) are not drivers and are left out.
    public func paravirtualDrivers() -> [String] {
        var names = Set<String>()
        for line in (fs.readString("/proc/modules") ?? "").split(separator: "\n") {
            if let name = line.split(separator: " ").first { names.insert(String(name).replacingDashes()) }
        }
        for bus in fs.list("/sys/bus") {
            for driver in fs.list("/sys/bus/\(bus)/drivers") where Self.isParavirtualOrAddition(driver.replacingDashes()) {
                let entries = fs.list("/sys/bus/\(bus)/drivers/\(driver)")
                if entries.contains(where: { !Self.driverControlFiles.contains($0) }) {
                    names.insert(driver.replacingDashes())
                }
            }
        }
        return names.filter { Self.isParavirtualOrAddition($0) && !Self.libraryModules.contains($0) }.sorted()
    }

    /// Entries of a driver's sysfs folder that are not bound devices.
    static let driverControlFiles: Set<String> = ["bind", "unbind", "uevent", "module", "new_id", "remove_id"]

    /// Modules that other virtio drivers use, not drivers of a device.
    static let libraryModules: Set<String> = [
        "virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_dma_buf",
    ]

    static func isParavirtualOrAddition(_ n: String) -> Bool {
        n.hasPrefix("virtio") || n.hasPrefix("vmw_") || n == "vmxnet3" || n.hasPrefix("vbox")
            || n.hasPrefix("xen") || n == "vbd" || n == "vif" || n.hasPrefix("hv_") || n == "hyperv_keyboard"
            || n == "hyperv_fb" || n == "ptp_kvm" || n == "kvm_guest" || n == "vsock_loopback"
    }

    /// Counts a CPU list such as `0-3,8,10-11`.
    static func countCPUList(_ list: String) -> Int {
        var count = 0
        for part in list.split(separator: ",") {
            let ends = part.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: " \n")) }
            if ends.count == 2 { count += ends[1] - ends[0] + 1 } else if ends.count == 1 { count += 1 }
        }
        return max(count, 1)
    }
}

extension String {
    func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}
