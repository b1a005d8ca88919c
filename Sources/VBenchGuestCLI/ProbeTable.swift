import VBenchCore
import VBenchReport
import VBenchProbe

/// The human form of a probe report.
public enum ProbeTable {
    public static func render(_ r: ProbeReport) -> String {
        let env = r.environment
        let product = env.hypervisor.product.map { " — \($0)" } ?? ""
        let container = env.container.map { c in
            "\nContainer:  \(c.kind.displayName)" + c.evidence.map { "\n            \($0)" }.joined()
        } ?? ""
        var out = """
            Hypervisor: \(env.hypervisor.vendor.displayName)\(product)  (\(env.hypervisor.evidence.joined(separator: ", ")))\(container)
            Kernel:     \(env.kernelRelease)
            CPU:        \(env.cpuModel), \(env.onlineCpus) online
            Memory:     \(ByteCount.human(env.memoryBytes)), \(env.numaNodes) NUMA node\(env.numaNodes == 1 ? "" : "s")


            """
        var disks = ReportTable(title: "", header: ["DISK", "SIZE", "DRIVER", "CONTROLLER", "CLASS", "PCI", "MODEL"])
        for d in r.disks {
            disks.append([d.name, d.sizeBytes.map(ByteCount.human) ?? "-", d.driver ?? "-", d.controllerDriver ?? "-",
                               d.deviceClass.rawValue, d.pciId ?? "-", d.model ?? ""])
        }
        var nics = ReportTable(title: "", header: ["NIC", "DRIVER", "CONTROLLER", "CLASS", "PCI", "MTU"])
        for n in r.nics {
            nics.append([n.name, n.driver ?? "-", n.controllerDriver ?? "-", n.deviceClass.rawValue,
                              n.pciId ?? "-", n.mtuBytes.map(String.init) ?? "-"])
        }
        out += (r.disks.isEmpty ? "No disks with a device behind them." : TableRenderer.text(disks)) + "\n\n"
        out += (r.nics.isEmpty ? "No NICs with a device behind them." : TableRenderer.text(nics)) + "\n\n"
        out += "Paravirtual drivers and guest additions: "
            + (r.paravirtualDrivers.isEmpty ? "none" : r.paravirtualDrivers.joined(separator: ", "))
        if !r.advice.isEmpty {
            out += "\n\nAdvice:\n" + r.advice.map { "  - \($0.message)" }.joined(separator: "\n")
        }
        if let audit = r.audit { out += "\n\n" + renderAudit(audit) }
        return out
    }

    /// The audit: warnings first with their evidence and fixes, then what is fine, one line each.
    public static func renderAudit(_ audit: GuestAudit) -> String {
        let counts = AuditSeverity.allCases.reversed().compactMap { s -> String? in
            let n = audit.findings.filter { $0.severity == s }.count
            return n == 0 ? nil : "\(n) \(s.rawValue)"
        }
        var out = "Audit (\(audit.distribution ?? "unknown distribution"), fixes for \(audit.family.rawValue)): \(counts.joined(separator: ", "))"
        let ordered = audit.findings.enumerated().sorted { a, b in
            a.element.severity != b.element.severity ? a.element.severity > b.element.severity : a.offset < b.offset
        }.map(\.element)
        for f in ordered {
            out += "\n  [\(f.severity.rawValue)] \(f.check) \(f.subject): \(f.summary)" + (f.measuredText.map { "; \($0)" } ?? "")
            guard f.severity != .ok else { continue }
            for e in f.evidence { out += "\n      evidence: \(e)" }
            if let fix = f.fix {
                if let g = fix.guest { out += "\n      fix in the guest: \(g)" }
                if let l = fix.libvirt { out += "\n      fix in libvirt:   \(l)" }
                if let h = fix.host { out += "\n      fix on the host:  \(h)" }
            }
        }
        return out
    }
}
