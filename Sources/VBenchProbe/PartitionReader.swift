import VBenchCore
import VBenchSystem

/// The logical partition an IBM POWER or IBM Z system runs in, from the files its kernel keeps:
///
/// - ppc64: `/proc/ppc64/lparcfg` exists on every pseries guest (arch/powerpc/platforms/pseries/
///   lparcfg.c). Under QEMU its `system_type` and `/proc/cpuinfo`'s `model` read
///   `IBM pSeries (emulated by qemu)`; anything else is a PowerVM LPAR. `platform : PowerNV` in
///   cpuinfo is a bare-metal (OPAL) machine.
/// - s390x: `/proc/sysinfo` (arch/s390/kernel/sysinfo.c) lists the levels under the machine: the
///   LPAR (`LPAR Name:`) and, for a guest, `VM00 Control Program: z/VM 7.3.0` or `KVM/Linux`.
///   An LPAR with no `VM00` level runs directly on PR/SM, IBM Z's firmware partitioning, whose
///   I/O is the machine's own channel subsystem: vbench treats it as no hypervisor.
struct PartitionReader: Sendable {
    let fs: RootedFileSystem

    /// The hypervisor the partition files name, with the reasons; nil when there are none.
    /// `.none` means the files show a machine with no hypervisor level (PowerNV, a bare LPAR).
    func identify(cpuinfo: String) -> (hypervisor: Hypervisor, evidence: [String])? {
        if let sysinfo = fs.readString("/proc/sysinfo") { return zSystems(sysinfo) }
        let platform = Self.field(cpuinfo, "platform")
        if let lparcfg = fs.readString("/proc/ppc64/lparcfg") { return pseries(lparcfg, cpuinfo: cpuinfo) }
        if platform == "PowerNV" { return (.none, ["cpuinfo:platform PowerNV (bare metal, OPAL firmware)"]) }
        return nil
    }

    private func pseries(_ lparcfg: String, cpuinfo: String) -> (Hypervisor, [String]) {
        let values = Self.keyValues(lparcfg)
        let systemType = values["system_type"] ?? ""
        let model = Self.field(cpuinfo, "model") ?? ""
        var evidence = ["lparcfg:system_type=\(systemType.isEmpty ? "absent" : systemType)"]
        if systemType.contains("emulated by qemu") || model.contains("emulated by qemu") {
            evidence.append("pseries emulated by QEMU")
            return (.qemu, evidence)
        }
        if systemType.isEmpty && values["partition_id"] == nil {
            evidence.append("lparcfg names no system type or partition")
            return (.unknown, evidence)
        }
        if let id = values["partition_id"] { evidence.append("lparcfg:partition_id=\(id)") }
        if let shared = values["shared_processor_mode"] {
            evidence.append(shared == "1" ? "shared processors" : "dedicated processors")
        }
        evidence.append("PowerVM LPAR")
        return (.powerVM, evidence)
    }

    private func zSystems(_ sysinfo: String) -> (Hypervisor, [String]) {
        // VM00 describes the level this system runs in (STSI 3.2.2 lists the innermost first).
        let lines = sysinfo.split(separator: "\n").map(String.init)
        let control = lines.first { $0.hasPrefix("VM00 Control Program:") }
            .map { String($0.dropFirst("VM00 Control Program:".count)).trimmingCharacters() }
        if let control {
            let words = control.split(separator: " ").joined(separator: " ")
            let evidence = ["sysinfo:VM00 Control Program \(words)"]
            if control.hasPrefix("z/VM") { return (.zvm, evidence) }
            if control.hasPrefix("KVM") { return (.kvm, evidence) }
            return (.unknown, evidence + ["a control program vbench does not know"])
        }
        if let lpar = lines.first(where: { $0.hasPrefix("LPAR Name:") }) {
            let name = String(lpar.dropFirst("LPAR Name:".count)).trimmingCharacters()
            return (.none, ["sysinfo:LPAR \(name) with no VM level (PR/SM partition)"])
        }
        return (.unknown, ["sysinfo:no LPAR or VM level"])
    }

    /// `key=value` lines.
    static func keyValues(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { out[String(parts[0]).trimmingCharacters()] = String(parts[1]).trimmingCharacters() }
        }
        return out
    }

    /// The value of the first `name : value` line of cpuinfo.
    static func field(_ cpuinfo: String, _ name: String) -> String? {
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: " \t") == name {
                return String(parts[1]).trimmingCharacters()
            }
        }
        return nil
    }
}
