import Foundation
import VBenchCore
import VBenchLab
import VBenchSystem

/// The lab's table: per workload and device model, IOPS, MB/s, p99, and the ratios to the
/// native baseline and to virtio-blk.
enum LabTable {
    struct Row {
        var model: String
        var driver: String
        var deviceClass: String
        var iops: Double?
        var bw: Double?
        var p99: UInt64?
    }

    static func render(_ records: [RunRecord]) -> String {
        var byWorkload: [String: [Row]] = [:]
        var order: [String] = []
        for r in records {
            let model = r.tags["lab.disk"] ?? (r.role == .native ? "native" : r.device.name)
            let driver = r.device.driver == "sd" ? (r.device.controllerDriver ?? "sd") : (r.device.driver ?? "-")
            for w in r.workloads {
                if byWorkload[w.name] == nil { order.append(w.name) }
                byWorkload[w.name, default: []].append(Row(
                    model: model, driver: r.role == .native ? "\(driver) (host)" : driver, deviceClass: r.device.deviceClass.rawValue,
                    iops: w.summary[Metric.iops.key]?.mean, bw: w.summary[Metric.bandwidth.key]?.mean,
                    p99: w.latencyNs?.percentiles["p99"]))
            }
        }
        var table = TextTable(header: ["WORKLOAD", "MODEL", "DRIVER", "CLASS", "IOPS", "MB/s", "P99", "×NATIVE", "×VIRTIO"],
                              rightAligned: [4, 5, 6, 7, 8])
        let rank = ["native": 0, "virtio-blk": 1, "virtio-scsi": 2, "nvme": 3, "ahci": 4, "pvscsi": 5, "ide": 6]
        for name in order {
            let rows = (byWorkload[name] ?? []).sorted { (rank[$0.model] ?? 9, $0.model) < (rank[$1.model] ?? 9, $1.model) }
            let native = rows.first { $0.model == "native" }?.iops
            let virtio = rows.first { $0.model == "virtio-blk" }?.iops
            for row in rows {
                func ratio(_ base: Double?) -> String {
                    guard let b = base, b > 0, let v = row.iops else { return "-" }
                    return formatFixed(v / b, digits: 2)
                }
                let iops: String = row.iops.map(BlockTable.formatCount) ?? "-"
                let bw: String = row.bw.map { formatFixed($0 / 1e6, digits: 1) } ?? "-"
                let p99: String = row.p99.map(BlockTable.formatDuration) ?? "-"
                let isNative = row.model == "native"
                let cells: [String] = [name, row.model, row.driver, row.deviceClass, iops, bw, p99,
                                       isNative ? "1.00" : ratio(native), isNative ? "-" : ratio(virtio)]
                table.rows.append(cells)
            }
        }
        guard !table.rows.isEmpty else { return "no lab records were stored" }
        return table.render() + "\nIOPS and MB/s: mean of repetitions; P99: latency from submission to completion; ratios of IOPS."
    }

    static func summary(runId: String, matrix: LabMatrix, acceleration: String, qemu: String, appliance: Appliance,
                        boots: [BootResult], table: String, failures: [String]) -> String {
        var s = "# vbench lab run \(runId)\n\n"
        s += "- command: `\(CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " "))`\n"
        s += "- matrix: \(matrix.name) — disks \(matrix.disks.map(\.rawValue).joined(separator: ", ")); \(matrix.boot.rawValue) boot; cache=\(matrix.cache), aio=\(matrix.aio); \(matrix.diskSizeMiB) MiB backing files; profile \(matrix.profile)"
        if let r = matrix.runtimeSeconds { s += ", runtime \(r) s" }
        if let r = matrix.repetitions { s += ", \(r) repetitions" }
        s += "\n- acceleration: \(acceleration)\n- \(qemu)\n- guest kernel \(appliance.kernel.version); appliance \(appliance.hash) (\(appliance.bytes) bytes)\n"
        s += "- host: \(hostName()), kernel \(Signals.kernelRelease())\n\n"
        for b in boots {
            s += "Boot \(b.index) (\(formatFixed(b.seconds, digits: 1)) s, \(b.recordsStored) records, \(b.bytesStored) bytes over \(b.uplink.rawValue)"
            if let v = b.vsockReport { s += "; AF_VSOCK in the guest: \(v)" }
            s += "):\n\n```\n\(b.commandLine.joined(separator: " "))\n```\n\n"
        }
        s += "```\n\(table)\n```\n"
        if !failures.isEmpty { s += "\nFailures:\n" + failures.map { "- \($0)\n" }.joined() }
        return s
    }
}
