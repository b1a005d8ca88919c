import VBenchCore
import VBenchReport

/// The table `vbench run --device blk` prints: one row per workload.
public enum BlockTable {
    public static func render(_ r: RunRecord) -> String {
        var table = ReportTable(title: "", header: ["DEVICE", "DRIVER", "CLASS", "WORKLOAD", "IOPS", "MB/s", "P50", "P99", "COV", "N"],
                              numeric: [4, 5, 6, 7, 8, 9])
        let driver = r.device.driver == "sd" ? (r.device.controllerDriver ?? "sd") : (r.device.driver ?? "-")
        for w in r.workloads {
            let iops = w.summary[Metric.iops.key]
            let bw = w.summary[Metric.bandwidth.key]
            table.append([
                r.device.name, driver, r.device.deviceClass.rawValue, w.name,
                iops.map { formatCount($0.median) } ?? "-",
                bw.map { formatFixed($0.median / 1e6, digits: 1) } ?? "-",
                w.latencyNs?.percentiles["p50"].map(formatDuration) ?? "-",
                w.latencyNs?.percentiles["p99"].map(formatDuration) ?? "-",
                iops.map { formatFixed($0.cov * 100, digits: 1) + "%" } ?? "-",
                "\(w.repetitions.count)",
            ])
        }
        let env = r.environment
        let head = "\(r.role == .native ? "native" : "guest") on \(env.hypervisor.vendor.displayName), kernel \(env.kernelRelease), target \(r.target?.path ?? "-")"
            + (r.target?.direct == false ? " (buffered)" : "")
        return head + "\n" + TableRenderer.text(table) + "\nIOPS and MB/s: median of repetitions; P50/P99: latency from submission to completion, all repetitions merged."
    }

    /// `12.3k`, `1.20M`, `850`.
    public static func formatCount(_ v: Double) -> String { ValueFormat.compactCount(v) }

    /// `85µs`, `1.25ms`, `950ns`.
    public static func formatDuration(_ ns: UInt64) -> String { ValueFormat.compactDuration(ns) }
}
