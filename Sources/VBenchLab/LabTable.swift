import Foundation
import VBenchCore
import VBenchReport
import VBenchSystem

/// The lab's table: per workload and device model, IOPS, MB/s, p99, and the ratios to the
/// native baseline and to virtio-blk.
public enum LabTable {
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
    public static func render(_ records: [RunRecord]) -> String {
        // A throttled boot's reference pass only sets the limits; the table shows the passes.
        let disks = renderDisks(records.filter { $0.family == "blk" && $0.tags["lab.phase"] != "reference" })
        let nics = renderNics(records.filter { $0.family == "net" })
        switch (disks, nics) {
        case (nil, nil): return "no lab records were stored"
        case (let d?, nil): return d
        case (nil, let n?): return n
        case (let d?, let n?): return d + "\n\n" + n
        }
    }

    /// The NIC rows: per network workload, NIC model and kernel, the result (goodput, transactions
    /// or connections per second), p99, and the ratio to virtio-net of the same kernel.
    public static func renderNics(_ records: [RunRecord]) -> String? {
        struct NicRow {
            var model: String
            var kernel: String
            var interface: String
            var driver: String
            var deviceClass: String
            var values: [Double] = []
            var p99: [Double] = []
            var retrans: [Double] = []
        }
        var rows: [String: NicRow] = [:]
        var order: [String] = []
        var workloads: [(name: String, test: NetTest)] = []
        let kernels = Set(records.map(\.environment.kernelRelease))
        for r in records {
            // The lab tests NICs through --iface auto: the record's driver names the model.
            let model = NicModel.allCases.first { $0.guestDriver == r.device.driver }?.rawValue ?? (r.device.driver ?? r.device.name)
            let kernel = r.environment.kernelRelease
            for w in r.workloads {
                guard let spec = w.spec.net else { continue }
                if !workloads.contains(where: { $0.name == w.name }) { workloads.append((w.name, spec.test)) }
                let key = "\(w.name)|\(model)|\(kernel)"
                if rows[key] == nil {
                    order.append(key)
                    rows[key] = NicRow(model: model, kernel: kernel, interface: r.device.name, driver: r.device.driver ?? "-",
                                       deviceClass: r.device.deviceClass.rawValue)
                }
                let metric = spec.test == .stream ? Metric.throughput : spec.test == .rr ? Metric.transactions : Metric.connections
                if let v = w.summary[metric.key]?.mean { rows[key]?.values.append(v) }
                if let v = w.latencyNs?.percentiles["p99"] { rows[key]?.p99.append(Double(v)) }
                if let v = w.summary[Metric.retransmits.key]?.mean { rows[key]?.retrans.append(v) }
            }
        }
        guard !order.isEmpty else { return nil }
        func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
        let showKernel = kernels.count > 1
        var header = ["WORKLOAD", "NIC"]
        if showKernel { header.append("KERNEL") }
        header += ["IFACE", "DRIVER", "CLASS", "RESULT", "P99", "RETRANS", "×VIRTIO", "N"]
        let first = showKernel ? 6 : 5
        var table = ReportTable(title: "", header: header, numeric: Set(first..<(first + 5)))
        let rank = ["virtio-net": 0, "vmxnet3": 1, "e1000e": 2, "e1000": 3, "rtl8139": 4]
        for (name, test) in workloads {
            let group = order.filter { $0.hasPrefix(name + "|") }.compactMap { rows[$0] }
                .sorted { (rank[$0.model] ?? 9, $0.model, $0.kernel) < (rank[$1.model] ?? 9, $1.model, $1.kernel) }
            for row in group {
                let virtio = group.first { $0.model == "virtio-net" && $0.kernel == row.kernel }.flatMap { mean($0.values) }
                let value = mean(row.values)
                let result = value.map { test == .stream ? formatFixed($0 / 1e9, digits: 2) + " Gbit/s"
                    : ValueFormat.compactCount($0) + (test == .rr ? " trans/s" : " conn/s") } ?? "-"
                let ratio = row.model == "virtio-net" ? "1.00"
                    : (virtio.flatMap { b in value.map { b > 0 ? formatFixed($0 / b, digits: 2) : "-" } } ?? "-")
                var cells = [name, row.model]
                if showKernel { cells.append(row.kernel) }
                cells += [row.interface, row.driver, row.deviceClass, result,
                          mean(row.p99).map { ValueFormat.compactDuration(UInt64($0)) } ?? "-",
                          test == .stream ? (mean(row.retrans).map { formatFixed($0, digits: 0) } ?? "-") : "-",
                          ratio, "\(row.values.count)"]
                table.append(cells)
            }
        }
        return TableRenderer.text(table) + "\nNICs against vbench serve in the lab's network namespace (tap devices, no vhost-net): streams are goodput at the receiver, request/response transactions/s with round-trip p99; means of repetitions; ×VIRTIO is the ratio to virtio-net."
    }

    public static func renderDisks(_ records: [RunRecord]) -> String? {
        var rows: [String: Row] = [:]
        var order: [String] = []
        var workloadOrder: [String] = []
        let kernels = Set(records.filter { $0.role == .guest }.map(\.environment.kernelRelease))
        // A model on several disks of one matrix (identical disks, throttled ones): one row per slot.
        var slots: [String: Set<String>] = [:]
        for r in records { if let d = r.tags["lab.disk"], let s = r.tags["lab.slot"] { slots[d, default: []].insert(s) } }
        for r in records {
            var model = r.tags["lab.disk"] ?? (r.role == .native ? "native" : r.device.name)
            if let n = r.tags["lab.guests"], n != "1" { model += " (\(n) guests)" }
            if (slots[model]?.count ?? 0) > 1, let slot = r.tags["lab.slot"] {
                model += "#\(slot)" + (r.tags["lab.throttle"].map { " (limit \(Int(((Double($0) ?? 1) * 100).rounded()))%)" } ?? "")
            }
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
        var table = ReportTable(title: "", header: header, numeric: Set(first..<(first + 6)))
        func base(_ model: String) -> String { String(model.split(separator: "#").first?.split(separator: " ").first ?? "") }
        let rank = ["native": 0, "virtio-blk": 1, "virtio-scsi": 2, "nvme": 3, "ahci": 4, "pvscsi": 5, "ide": 6]
        for name in workloadOrder {
            let group = order.filter { $0.hasPrefix(name + "|") }.compactMap { rows[$0] }
                .sorted { (rank[base($0.model)] ?? 9, $0.model, $0.kernel) < (rank[base($1.model)] ?? 9, $1.model, $1.kernel) }
            let native = group.first { $0.model == "native" }.flatMap { mean($0.iops) }
            for row in group {
                let virtio = group.first { ($0.model == "virtio-blk" || $0.model == "virtio-blk#0") && $0.kernel == row.kernel }.flatMap { mean($0.iops) }
            // Concurrent guests: IOPS per guest; the ratios compare one guest of N with one alone.
                func ratio(_ base: Double?) -> String {
                    guard let b = base, b > 0, let v = mean(row.iops) else { return "-" }
                    return formatFixed(v / b, digits: 2)
                }
                let iops: String = mean(row.iops).map(ValueFormat.compactCount) ?? "-"
                let bw: String = mean(row.bw).map { formatFixed($0 / 1e6, digits: 1) } ?? "-"
                let p99: String = mean(row.p99).map { ValueFormat.compactDuration(UInt64($0)) } ?? "-"
                let isNative = row.model == "native"
                var cells: [String] = [name, row.model]
                if showKernel { cells.append(isNative ? "(host)" : row.kernel) }
                cells += [row.driver, row.deviceClass, iops, bw, p99, isNative ? "1.00" : ratio(native),
                          isNative ? "-" : (row.model == "virtio-blk" || row.model == "virtio-blk#0" ? "1.00" : ratio(virtio)),
                          "\(row.iops.count)"]
                table.append(cells)
            }
        }
        guard !table.rows.isEmpty else { return nil }
        return TableRenderer.text(table) + "\nIOPS and MB/s: mean of repetitions (and of N records when a matrix ran several rounds); P99: latency from submission to completion; ratios of mean IOPS."
    }

    public static func summary(runId: String, matrix: LabMatrix, acceleration: String, qemu: String, appliances: [Appliance],
                        boots: [BootResult], table: String, failures: [String]) -> String {
        var s = "# vbench lab run \(runId)\n\n"
        s += "- command: `\(CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " "))`\n"
        s += "- matrix: \(matrix.name) — disks \(matrix.disks.map(\.rawValue).joined(separator: ", "))\(matrix.nics.isEmpty ? "" : "; NICs \(matrix.nics.map(\.rawValue).joined(separator: ", ")) (tap devices in a network namespace, vbench serve inside; \(matrix.netSeconds) s × \(matrix.netRepetitions) per network workload)"); \(matrix.boot.rawValue) boot; cache=\(matrix.cache), aio=\(matrix.aio); \(matrix.diskSizeMiB) MiB backing files; profile \(matrix.profile)"
        if let r = matrix.runtimeSeconds { s += ", runtime \(r) s" }
        if let r = matrix.repetitions { s += ", \(r) repetitions" }
        s += "\n- acceleration: \(acceleration)\n- \(qemu)\n- guest kernels: \(appliances.map { "\($0.kernel.version) (appliance \($0.hash), \($0.bytes) bytes)" }.joined(separator: ", "))\n"
        s += "- host: \(hostName()), kernel \(Signals.kernelRelease())\n\n"
        for b in boots {
            s += "Boot \(b.index) (\(formatFixed(b.seconds, digits: 1)) s, \(b.recordsStored) records, \(b.bytesStored) bytes over \(b.uplink.rawValue)"
            if let v = b.vsock { s += "; AF_VSOCK in the guest: \(v.text)" }
            if !b.throttles.isEmpty { s += "; throttled \(b.throttles.sorted { $0.key < $1.key }.map { "disk \($0.key) to \($0.value) IOPS" }.joined(separator: ", ")) from disk reference \(formatFixed(b.throttleReference ?? 0, digits: 0)) IOPS" }
            if let f = b.throttleFailure { s += "; throttling failed: \(f)" }
            if !b.nics.isEmpty { s += "; NICs \(b.nics.map { "\($0.rawValue) as \(b.nicInterfaces[$0] ?? "missing")" }.joined(separator: ", ")), peer: \(b.serveReport ?? "no report")" }
            s += "):\n\n```\n\(b.commandLine.joined(separator: " "))\n```\n\n"
        }
        s += "```\n\(table)\n```\n"
        if !failures.isEmpty { s += "\nFailures:\n" + failures.map { "- \($0)\n" }.joined() }
        return s
    }
}
