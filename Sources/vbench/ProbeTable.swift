import VBenchCore
import VBenchProbe

/// The human form of a probe report.
enum ProbeTable {
    static func render(_ r: ProbeReport) -> String {
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
        var disks = TextTable(header: ["DISK", "SIZE", "DRIVER", "CONTROLLER", "CLASS", "PCI", "MODEL"])
        for d in r.disks {
            disks.rows.append([d.name, d.sizeBytes.map(ByteCount.human) ?? "-", d.driver ?? "-", d.controllerDriver ?? "-",
                               d.deviceClass.rawValue, d.pciId ?? "-", d.model ?? ""])
        }
        var nics = TextTable(header: ["NIC", "DRIVER", "CONTROLLER", "CLASS", "PCI", "MTU"])
        for n in r.nics {
            nics.rows.append([n.name, n.driver ?? "-", n.controllerDriver ?? "-", n.deviceClass.rawValue,
                              n.pciId ?? "-", n.mtuBytes.map(String.init) ?? "-"])
        }
        out += (r.disks.isEmpty ? "No disks with a device behind them." : disks.render()) + "\n\n"
        out += (r.nics.isEmpty ? "No NICs with a device behind them." : nics.render()) + "\n\n"
        out += "Paravirtual drivers and guest additions: "
            + (r.paravirtualDrivers.isEmpty ? "none" : r.paravirtualDrivers.joined(separator: ", "))
        if !r.advice.isEmpty {
            out += "\n\nAdvice:\n" + r.advice.map { "  - \($0.message)" }.joined(separator: "\n")
        }
        return out
    }
}
