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
}

/// Reads the system (or a recorded tree) through a root prefix.
public struct SystemProbe: Sendable {
    public let fs: RootedFileSystem
    public let cpuid: CPUIDSource

    public init(fs: RootedFileSystem, cpuid: CPUIDSource? = nil) {
        self.fs = fs
        self.cpuid = cpuid ?? .for(fs)
    }

    /// Runs every part of the probe.
    public func report() -> ProbeReport {
        let env = environment()
        let inventory = DeviceInventory(fs: fs, hypervisor: env.hypervisor.vendor)
        let disks = inventory.disks()
        let nics = inventory.nics()
        let advice = (disks + nics).compactMap { Advisor.advice(for: $0, hypervisor: env.hypervisor.vendor) }
        return ProbeReport(environment: env, disks: disks, nics: nics,
                           paravirtualDrivers: paravirtualDrivers(), advice: advice)
    }

    /// Kernel, CPU, memory, NUMA and hypervisor.
    public func environment() -> Environment {
        let cpuinfo = fs.readString("/proc/cpuinfo") ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { String($0).trimmingCharacters() } ?? "unknown"
        let memKiB = (fs.readString("/proc/meminfo") ?? "").split(separator: "\n")
            .first { $0.hasPrefix("MemTotal:") }
            .flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { UInt64($0) } ?? 0
        let nodes = fs.list("/sys/devices/system/node").filter { $0.hasPrefix("node") && $0.dropFirst(4).allSatisfy(\.isNumber) }
        return Environment(
            hostname: fs.isLive ? hostName() : (fs.readString("/proc/sys/kernel/hostname") ?? "recorded"),
            kernelRelease: fs.readString("/proc/sys/kernel/osrelease") ?? "unknown",
            cpuModel: model,
            onlineCpus: Self.countCPUList(fs.readString("/sys/devices/system/cpu/online") ?? "0"),
            memoryBytes: memKiB * 1024,
            numaNodes: max(1, fs.isLive ? (NUMA.configuredNodes() ?? nodes.count) : nodes.count),
            hypervisor: HypervisorDetector.detect(fs, cpuid: cpuid))
    }

    /// Names of loaded paravirtual drivers and guest additions, from /proc/modules and the
    /// drivers registered on each bus (built-in drivers appear only there).
    public func paravirtualDrivers() -> [String] {
        var names = Set<String>()
        for line in (fs.readString("/proc/modules") ?? "").split(separator: "\n") {
            if let name = line.split(separator: " ").first { names.insert(String(name)) }
        }
        for bus in fs.list("/sys/bus") {
            for driver in fs.list("/sys/bus/\(bus)/drivers") { names.insert(driver) }
        }
        return names.filter(Self.isParavirtualOrAddition).sorted()
    }

    static func isParavirtualOrAddition(_ name: String) -> Bool {
        let n = name.replacingDashes()
        return n.hasPrefix("virtio") || n.hasPrefix("vmw_") || n == "vmxnet3" || n.hasPrefix("vbox")
            || n.hasPrefix("xen") || n == "vbd" || n == "vif" || n.hasPrefix("hv_") || n == "hyperv_keyboard"
            || n == "hyperv_fb" || n == "ptp_kvm" || n == "kvm_guest" || n == "vsock_loopback"
            || n == "vmw_vsock_virtio_transport" || n == "vmw_vsock_vmci_transport"
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
