import Foundation
import VBenchCore
import VBenchLab
import VBenchSystem

/// The lab's table: per workload and device model, IOPS, MB/s, p99, and the ratios to the
/// native baseline and to virtio-blk.
enum LabTable {
    struct Row {
        var model: String
        var kernel: String
        var driver: String
        var deviceClass: String
        var iops: [Double] = []
        var bw: [Double] = []
        var p99: [Double] = []
    }

    /// One row per workload, device model and (guest) kernel; records of several rounds are
    /// averaged and counted in N. Ratios are of mean IOPS, to the native row and to virtio-blk
    /// of the same kernel.
    static func render(_ records: [RunRecord]) -> String {
        var rows: [String: Row] = [:]
        var order: [String] = []
        var workloadOrder: [String] = []
        let kernels = Set(records.filter { $0.role == .guest }.map(\.environment.kernelRelease))
        for r in records {
            let model = r.tags["lab.disk"] ?? (r.role == .native ? "native" : r.device.name)
            let kernel = r.role == .native ? "" : r.environment.kernelRelease
            let driver = r.device.driver == "sd" ? (r.device.controllerDriver ?? "sd") : (r.device.driver ?? "-")
            for w in r.workloads {
                if !workloadOrder.contains(w.name) { workloadOrder.append(w.name) }
                let key = "\(w.name)|\(model)|\(kernel)"
                if rows[key] == nil {
                    order.append(key)
                    rows[key] = Row(model: model, kernel: kernel, driver: r.role == .native ? "\(driver) (host)" : driver,
                                    deviceClass: r.device.deviceClass.rawValue)
                }
                if let v = w.summary[Metric.iops.key]?.mean { rows[key]?.iops.append(v) }
                if let v = w.summary[Metric.bandwidth.key]?.mean { rows[key]?.bw.append(v) }
                if let v = w.latencyNs?.percentiles["p99"] { rows[key]?.p99.append(Double(v)) }
            }
        }
        func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
        let showKernel = kernels.count > 1
        var header = ["WORKLOAD", "MODEL"]
        if showKernel { header.append("KERNEL") }
        header += ["DRIVER", "CLASS", "IOPS", "MB/s", "P99", "×NATIVE", "×VIRTIO", "N"]
        let first = showKernel ? 5 : 4
        var table = TextTable(header: header, rightAligned: Set(first..<(first + 6)))
        let rank = ["native": 0, "virtio-blk": 1, "virtio-scsi": 2, "nvme": 3, "ahci": 4, "pvscsi": 5, "ide": 6]
        for name in workloadOrder {
            let group = order.filter { $0.hasPrefix(name + "|") }.compactMap { rows[$0] }
                .sorted { (rank[$0.model] ?? 9, $0.model, $0.kernel) < (rank[$1.model] ?? 9, $1.model, $1.kernel) }
            let native = group.first { $0.model == "native" }.flatMap { mean($0.iops) }
            for row in group {
                let virtio = group.first { $0.model == "virtio-blk" && $0.kernel == row.kernel }.flatMap { mean($0.iops) }
                func ratio(_ base: Double?) -> String {
                    guard let b = base, b > 0, let v = mean(row.iops) else { return "-" }
                    return formatFixed(v / b, digits: 2)
                }
                let iops: String = mean(row.iops).map(BlockTable.formatCount) ?? "-"
                let bw: String = mean(row.bw).map { formatFixed($0 / 1e6, digits: 1) } ?? "-"
                let p99: String = mean(row.p99).map { BlockTable.formatDuration(UInt64($0)) } ?? "-"
                let isNative = row.model == "native"
                var cells: [String] = [name, row.model]
                if showKernel { cells.append(isNative ? "(host)" : row.kernel) }
                cells += [row.driver, row.deviceClass, iops, bw, p99, isNative ? "1.00" : ratio(native),
                          isNative || row.model == "virtio-blk" ? (row.model == "virtio-blk" ? "1.00" : "-") : ratio(virtio),
                          "\(row.iops.count)"]
                table.rows.append(cells)
            }
        }
        guard !table.rows.isEmpty else { return "no lab records were stored" }
        return table.render() + "\nIOPS and MB/s: mean of repetitions (and of N records when a matrix ran several rounds); P99: latency from submission to completion; ratios of mean IOPS."
    }

    static func summary(runId: String, matrix: LabMatrix, acceleration: String, qemu: String, appliances: [Appliance],
                        boots: [BootResult], table: String, failures: [String]) -> String {
        var s = "# vbench lab run \(runId)\n\n"
        s += "- command: `\(CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " "))`\n"
        s += "- matrix: \(matrix.name) — disks \(matrix.disks.map(\.rawValue).joined(separator: ", ")); \(matrix.boot.rawValue) boot; cache=\(matrix.cache), aio=\(matrix.aio); \(matrix.diskSizeMiB) MiB backing files; profile \(matrix.profile)"
        if let r = matrix.runtimeSeconds { s += ", runtime \(r) s" }
        if let r = matrix.repetitions { s += ", \(r) repetitions" }
        s += "\n- acceleration: \(acceleration)\n- \(qemu)\n- guest kernels: \(appliances.map { "\($0.kernel.version) (appliance \($0.hash), \($0.bytes) bytes)" }.joined(separator: ", "))\n"
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
