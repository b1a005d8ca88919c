import VBenchCore

/// One measured quantity of one device: guest (or native) value, the native baseline, the ratio
/// with its 95 % interval, and how much to trust it.
public struct ReportRow: Codable, Sendable, Equatable {
    public var family: String
    public var workload: String
    public var metric: String
    public var unit: String
    public var polarity: Polarity
    /// The device's distinguishing driver (virtio_blk, ata_piix, e1000, …).
    public var device: String
    public var deviceClass: DeviceClass
    public var role: RunRole
    /// The guest kernel(s) of the records behind the row.
    public var kernels: [String]
    public var hypervisor: String
    /// `records` (a record's mean is a sample) or `repetitions`.
    public var sampleUnit: String
    public var n: Int
    public var mean: Double
    public var cov: Double
    public var ci95Low: Double?
    public var ci95High: Double?
    public var nativeMean: Double?
    public var toNative: RatioInterval?
    /// The same workload's paravirtual device of this selection (virtio_blk for disks,
    /// virtio_net for NICs), as a ratio.
    public var paravirtualDevice: String?
    public var toParavirtual: RatioInterval?
    public var noisy: Bool
    /// The costly configurations the row's runs were measured under (the guest audit's
    /// warnings for this family and device); absent when none of its runs carried one, or
    /// none was audited.
    public var warnings: [ConfigurationWarning]?
}

/// A costly configuration (a guest audit warning that can change the number: an emulated
/// device, a slow clocksource, a scheduler on a paravirtual disk) that some of a row's runs
/// were measured under.
public struct ConfigurationWarning: Codable, Sendable, Equatable {
    /// The audit's check and subject (`scheduler`, `vda`).
    public var check: String
    public var subject: String
    /// The audit's sentence.
    public var summary: String
    /// How many of the row's runs carried it, of how many.
    public var runs: Int
    public var ofRuns: Int

    public init(check: String, subject: String, summary: String, runs: Int, ofRuns: Int) {
        self.check = check
        self.subject = subject
        self.summary = summary
        self.runs = runs
        self.ofRuns = ofRuns
    }

    /// `scheduler vda — 12 of 12 runs`.
    public var short: String { "\(subject.isEmpty ? check : "\(check) \(subject)") — \(runs) of \(ofRuns) run\(ofRuns == 1 ? "" : "s")" }
}

/// A latency percentile curve of one device and workload (merged histograms of its records).
public struct LatencyCurve: Codable, Sendable, Equatable {
    public var family: String
    public var workload: String
    public var device: String
    public var deviceClass: DeviceClass
    public var role: RunRole
    /// (percentile, nanoseconds), p50 … p99.99.
    public var points: [LatencyPoint]
}

public struct LatencyPoint: Codable, Sendable, Equatable {
    public var percentile: Double
    public var ns: Double
}

/// Everything `vbench report` says about a selection of runs. Built from records alone, no I/O.
public struct Report: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var selection: String
    public var runs: Int
    public var covThreshold: Double
    public var rows: [ReportRow]
    public var curves: [LatencyCurve]
    /// "virtio_blk 29 % of native randread-4k-qd32 IOPS; ata_piix 5 %" — per workload.
    public var headlines: [String]
    public var warnings: [String]
    /// The probe's advice for emulated devices that were measured (the CLI supplies it).
    public var advice: [String]
    /// How the numbers were made, for the reader (printed with every format).
    public var method: [String]
}

public enum ReportBuilder {
    /// The metrics a report shows, per family, headline first.
    public static func metrics(family: String) -> [Metric] {
        switch family {
        case "blk": [.iops, .bandwidth, .latP99]
        case "net": [.throughput, .transactions, .connections, .latP99]
        case "mem": [.bandwidth, .loadLatency]
        default: []
        }
    }

    static func paravirtualDriver(family: String) -> String? {
        switch family {
        case "blk": "virtio_blk"
        case "net": "virtio_net"
        default: nil
        }
    }

    /// Builds the report of `records` in memory (`--from`): see `build(_ input:…)`.
    public static func build(_ records: [RunRecord], selection: String, covThreshold: Double = 0.10, advice: [String] = []) -> Report {
        let facts = ReportFacts(records: records, metrics: { metrics(family: $0).map(\.key) })
        var input = facts.inputs(by: nil)[0].input
        input.runs = Set(records.map(\.runId)).count
        return build(input, selection: selection, covThreshold: covThreshold, advice: advice)
    }

    /// Builds the report. Guest rows are grouped by family, workload and device; native runs
    /// of the same family and workload are the baseline. Samples are run means when a group
    /// has two or more runs, else the one run's repetitions (as `compare` does). Only the
    /// groups' moments are needed, so a store computes them in SQL (`RunStore.reportFacts`).
    public static func build(_ input: ReportInput, selection: String, covThreshold: Double = 0.10, advice: [String] = []) -> Report {
        var groups: [ReportGroupKey: ReportFacts.Group] = [:]
        for g in input.groups { groups[g.key] = g }
        let order = input.groups.map(\.key)
        var rows: [ReportRow] = []
        var curves: [LatencyCurve] = []
        var warnings: [String] = []
        var missingNative = Set<String>()
        for k in order {
            let group = groups[k]!
            let kernels = group.kernels.sorted()
            let configuration = group.costly.sorted { $0.key < $1.key }.map { finding, runs in
                ConfigurationWarning(check: finding.check, subject: finding.subject, summary: finding.summary, runs: runs,
                                     ofRuns: max(runs, group.runCount))
            }
            let nativeKey = ReportGroupKey(family: k.family, workload: k.workload, device: "native", role: .native)
            let pvDriver = paravirtualDriver(family: k.family)
            let pvKey = pvDriver.map { ReportGroupKey(family: k.family, workload: k.workload, device: $0, role: .guest) }
            for metric in metrics(family: k.family) {
                guard let facts = group.metrics[metric.key] else { continue }
                let (s, unit) = facts.samples
                guard s.n > 0 else { continue }
                let ci = s.ci95
                var row = ReportRow(family: k.family, workload: k.workload, metric: metric.key, unit: metric.unit, polarity: metric.polarity,
                                    device: k.device == "native" ? "\(group.driver) (native)" : k.device,
                                    deviceClass: group.deviceClass, role: k.role,
                                    kernels: kernels,
                                    hypervisor: group.hypervisor, sampleUnit: unit, n: s.n,
                                    mean: s.mean, cov: s.cov, ci95Low: ci?.low, ci95High: ci?.high,
                                    noisy: s.cov > covThreshold && s.n >= 2,
                                    warnings: configuration.isEmpty ? nil : configuration)
                if k.role == .guest {
                    if let native = groups[nativeKey] {
                        if let ns = native.metrics[metric.key]?.samples.moments, ns.n > 0 {
                            row.nativeMean = ns.mean
                            row.toNative = Significance.ratioOfMeans(s, ns)
                        }
                    } else if metric == metrics(family: k.family).first {
                        missingNative.insert("\(k.family) \(k.workload)")
                    }
                    if let pk = pvKey, pk != k, let pv = groups[pk] {
                        if let ps = pv.metrics[metric.key]?.samples.moments, ps.n > 0 {
                            row.paravirtualDevice = pvDriver
                            row.toParavirtual = Significance.ratioOfMeans(s, ps)
                        }
                    }
                }
                if row.noisy {
                    warnings.append("\(row.device) \(row.workload) \(row.metric): CoV \(formatFixed(row.cov * 100, digits: 1)) % over \(row.n) \(row.sampleUnit) (above \(formatFixed(covThreshold * 100, digits: 0)) %): treat its ratios with care, or run more repetitions")
                }
                rows.append(row)
            }
            // The latency curve: every run's histogram of this workload merged.
            if let h = group.latency, h.totalCount > 0 {
                let points = [50.0, 90, 99, 99.9, 99.99].compactMap { p in h.value(atPercentile: p).map { LatencyPoint(percentile: p, ns: Double($0)) } }
                curves.append(LatencyCurve(family: k.family, workload: k.workload, device: k.device == "native" ? "native" : k.device,
                                           deviceClass: group.deviceClass, role: k.role, points: points))
            }
        }
        // Disks, then NICs, then memory; workloads as first seen; native, paravirtual,
        // passthrough, emulated; metrics in catalog order.
        let familyRank = ["blk": 0, "net": 1, "mem": 2]
        var workloadRank: [String: Int] = [:]
        for k in order where workloadRank[k.workload] == nil { workloadRank[k.workload] = workloadRank.count }
        func classRank(_ r: ReportRow) -> Int {
            if r.role == .native { return 0 }
            switch r.deviceClass { case .paravirtual: return 1; case .passthrough: return 2; case .emulated: return 3; default: return 4 }
        }
        func metricRank(_ r: ReportRow) -> Int { metrics(family: r.family).firstIndex { $0.key == r.metric } ?? 9 }
        rows = rows.enumerated().sorted { a, b in
            let ka = (familyRank[a.element.family] ?? 9, workloadRank[a.element.workload] ?? 0, classRank(a.element), a.element.device, metricRank(a.element), a.offset)
            let kb = (familyRank[b.element.family] ?? 9, workloadRank[b.element.workload] ?? 0, classRank(b.element), b.element.device, metricRank(b.element), b.offset)
            return ka < kb
        }.map(\.element)
        for m in missingNative.sorted() {
            warnings.append("no native baseline for \(m): run the same workload with `vbench run --native` on the host (or `vbench lab` with --native) to get ratios to native")
        }
        return Report(selection: selection, runs: input.runs, covThreshold: covThreshold, rows: rows, curves: curves,
                      headlines: headlines(rows), warnings: warnings, advice: advice, method: method(covThreshold))
    }

    /// Per workload, the headline metric of each guest device as a share of native (or of the
    /// paravirtual device when there is no native run).
    static func headlines(_ rows: [ReportRow]) -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        for r in rows where r.role == .guest && r.metric == metrics(family: r.family).first?.key {
            let key = "\(r.family)|\(r.workload)"
            guard !seen.contains(key) else { continue }
            seen.insert(key)
            let group = rows.filter { $0.role == .guest && $0.family == r.family && $0.workload == r.workload && $0.metric == r.metric }
            let useNative = group.contains { $0.toNative != nil }
            let parts = group.compactMap { g -> String? in
                if useNative { return g.toNative.map { "\(g.device) \(formatFixed($0.ratio * 100, digits: 0)) %" } }
                if g.device == paravirtualDriver(family: g.family) { return "\(g.device) 100 %" }
                return g.toParavirtual.map { "\(g.device) \(formatFixed($0.ratio * 100, digits: 0)) %" }
            }
            guard parts.count >= (useNative ? 1 : 2) else { continue }
            let name = Metric.named(r.metric)?.displayName ?? r.metric
            out.append("\(r.workload) \(name): " + parts.joined(separator: ", ") + (useNative ? " of native" : " of \(paravirtualDriver(family: r.family) ?? "paravirtual")"))
        }
        return out
    }

    static func method(_ cov: Double) -> [String] {
        ["Values are means over samples: each record's mean when a device has two or more records (boots), else its repetitions.",
         "×NATIVE is guest mean / native mean with a 95 % interval (delta method on the log ratio, Welch–Satterthwaite degrees of freedom); ×PV is the same against the paravirtual device (virtio_blk, virtio_net) of the selection.",
         "NOISY marks a coefficient of variation above \(formatFixed(cov * 100, digits: 0)) %.",
         "Under TCG (qemu-tcg) guest numbers measure QEMU's translator: read them as ratios, not as what KVM would give."]
    }
}
