/// How `compare` decides: a change is a regression only when it is significant (p < alpha)
/// and larger than the metric's threshold in the bad direction.
public struct Thresholds: Codable, Sendable, Equatable {
    /// Significance level of the permutation test.
    public var alpha: Double
    /// Smallest relative change that counts (0.05 = 5 %).
    public var minChange: Double
    /// Per-metric overrides of `minChange`, by metric key (`iops`, `latP99Ns`, …).
    public var metrics: [String: Double]

    public init(alpha: Double = 0.01, minChange: Double = 0.05, metrics: [String: Double] = [:]) {
        self.alpha = alpha
        self.minChange = minChange
        self.metrics = metrics
    }

    /// Named presets: `strict` (2 %, tail latency 5 %), `default` (5 %, tail latency 10 %),
    /// `relaxed` (10 %, tail latency 20 %). Tail latency is noisier than throughput.
    public static func preset(_ name: String) -> Thresholds? {
        switch name {
        case "strict": Thresholds(minChange: 0.02, metrics: [Metric.latP99.key: 0.05])
        case "default": Thresholds(minChange: 0.05, metrics: [Metric.latP99.key: 0.10])
        case "relaxed": Thresholds(minChange: 0.10, metrics: [Metric.latP99.key: 0.20])
        default: nil
        }
    }

    public func threshold(for key: String) -> Double { metrics[key] ?? minChange }

    private enum CodingKeys: String, CodingKey { case alpha, minChange, metrics }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(alpha: try c.decodeIfPresent(Double.self, forKey: .alpha) ?? 0.01,
                  minChange: try c.decodeIfPresent(Double.self, forKey: .minChange) ?? 0.05,
                  metrics: try c.decodeIfPresent([String: Double].self, forKey: .metrics) ?? [:])
    }

    /// Why these thresholds cannot be used, or nil.
    public func problem() -> String? {
        guard alpha > 0 && alpha < 1 else { return "alpha must be in (0, 1); got \(alpha)" }
        for (k, v) in [("minChange", minChange)] + metrics.sorted(by: { $0.key < $1.key }) where !(v >= 0 && v < 10) {
            return "\(k) must be a fraction in [0, 10) (0.05 = 5 %); got \(v)"
        }
        return nil
    }
}

/// The verdict on one metric.
public enum Verdict: String, Codable, Sendable, Comparable {
    case regression, improvement, unchanged
    /// The sample sizes cannot reach significance at alpha: more repetitions or boots needed.
    case tooFewSamples = "too-few-samples"
    /// Only on one side.
    case missing

    var rank: Int { [.regression: 0, .tooFewSamples: 1, .missing: 2, .improvement: 3, .unchanged: 4][self]! }
    public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }
}

/// One metric of one workload on one device, baseline against candidate.
public struct MetricComparison: Codable, Sendable, Equatable {
    public var family: String
    public var workload: String
    /// The device the samples came from: its distinguishing driver (see DeviceInfo).
    public var device: String
    public var metric: String
    public var unit: String
    public var polarity: Polarity
    /// `records` (each record's mean is one sample: boot-to-boot drift is inside the test) or
    /// `repetitions` (one record a side: only within-run noise is).
    public var sampleUnit: String
    public var baseline: [Double]
    public var candidate: [Double]
    public var baselineMean: Double?
    public var candidateMean: Double?
    /// candidate / baseline − 1.
    public var change: Double?
    /// The change's 95 % interval, as candidate / baseline − 1.
    public var changeLow: Double?
    public var changeHigh: Double?
    public var test: PermutationTest?
    public var threshold: Double
    public var verdict: Verdict
    public var note: String?
}

/// Everything `compare` found.
public struct Comparison: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var thresholds: Thresholds
    public var baselineRuns: Int
    public var candidateRuns: Int
    public var items: [MetricComparison]

    public var regressions: [MetricComparison] { items.filter { $0.verdict == .regression } }
    public var inconclusive: [MetricComparison] { items.filter { $0.verdict == .tooFewSamples } }
    /// True when nothing of the baseline could be set against the candidate.
    public var baselineMissing: Bool { baselineRuns == 0 || !items.contains { !$0.baseline.isEmpty && !$0.candidate.isEmpty } }
}

/// Sets two selections of runs against each other, metric by metric.
public enum Comparator {
    /// The metrics `compare` judges by default, per family: the ones users act on.
    public static func defaultMetrics(family: String) -> [Metric] {
        switch family {
        case "blk": [.iops, .bandwidth, .latP99]
        case "net": [.throughput, .transactions, .connections, .latP99]
        case "mem": [.bandwidth, .loadLatency]
        default: []
        }
    }

    /// Groups by (family, workload, device driver) and compares each default metric present.
    /// With two or more records on both sides a record's mean is one sample (interleaved boots
    /// carry the drift between boots into the test); otherwise the repetitions of the records
    /// are the samples, and the item says so.
    public static func compare(baseline: [RunRecord], candidate: [RunRecord], thresholds: Thresholds = .init(),
                               metrics only: Set<String>? = nil, workloads: Set<String>? = nil) -> Comparison {
        struct Key: Hashable, Comparable {
            var family: String, workload: String, device: String
            static func < (a: Key, b: Key) -> Bool { (a.family, a.device, a.workload) < (b.family, b.device, b.workload) }
        }
        // Per key, per record: that record's repetition values of each metric.
        func group(_ records: [RunRecord]) -> ([Key: [[String: [Double]]]], [Key]) {
            var out: [Key: [[String: [Double]]]] = [:]
            var order: [Key] = []
            for r in records {
                for w in r.workloads where workloads == nil || workloads!.contains(w.name) {
                    let key = Key(family: r.family, workload: w.name, device: r.device.distinguishingDriver)
                    var values: [String: [Double]] = [:]
                    for m in defaultMetrics(family: r.family) { values[m.key] = w.values(of: m.key) }
                    if out[key] == nil { order.append(key) }
                    out[key, default: []].append(values)
                }
            }
            return (out, order)
        }
        let (base, baseOrder) = group(baseline)
        let (cand, candOrder) = group(candidate)
        var keys = baseOrder
        for k in candOrder where base[k] == nil { keys.append(k) }
        var items: [MetricComparison] = []
        for key in keys {
            let b = base[key] ?? [], c = cand[key] ?? []
            for metric in defaultMetrics(family: key.family) where only == nil || only!.contains(metric.key) {
                let bRecords = b.compactMap { $0[metric.key] }.filter { !$0.isEmpty }
                let cRecords = c.compactMap { $0[metric.key] }.filter { !$0.isEmpty }
                guard !bRecords.isEmpty || !cRecords.isEmpty else { continue }
                let byRecord = bRecords.count >= 2 && cRecords.count >= 2
                let bs = byRecord ? bRecords.map(Significance.mean) : bRecords.flatMap { $0 }
                let cs = byRecord ? cRecords.map(Significance.mean) : cRecords.flatMap { $0 }
                var item = MetricComparison(family: key.family, workload: key.workload, device: key.device, metric: metric.key,
                                            unit: metric.unit, polarity: metric.polarity, sampleUnit: byRecord ? "records" : "repetitions",
                                            baseline: bs, candidate: cs, threshold: thresholds.threshold(for: metric.key), verdict: .missing)
                guard !bs.isEmpty, !cs.isEmpty else {
                    item.note = bs.isEmpty ? "not in the baseline" : "not in the candidate"
                    items.append(item)
                    continue
                }
                let mb = Significance.mean(bs), mc = Significance.mean(cs)
                item.baselineMean = mb
                item.candidateMean = mc
                if mb != 0 { item.change = mc / mb - 1 }
                if let r = Significance.ratioOfMeans(cs, bs), r.degreesOfFreedom != nil {
                    item.changeLow = r.low - 1
                    item.changeHigh = r.high - 1
                }
                let test = Significance.permutationTest(bs, cs)
                item.test = test
                let worse = item.change.map { metric.polarity == .higherIsBetter ? $0 < 0 : $0 > 0 } ?? false
                let large = item.change.map { abs($0) > item.threshold } ?? false
                if let t = test, t.smallestPossible > thresholds.alpha {
                    item.verdict = .tooFewSamples
                    item.note = "\(bs.count) vs \(cs.count) \(item.sampleUnit) can give p ≥ \(formatP(t.smallestPossible)) at best, not below α = \(formatP(thresholds.alpha)): run more \(byRecord ? "boots or rounds" : "repetitions") (at least \(minimumPerSide(alpha: thresholds.alpha)) per side)"
                } else if let t = test, t.pValue < thresholds.alpha, large {
                    item.verdict = worse ? .regression : .improvement
                } else {
                    item.verdict = .unchanged
                    if let t = test, t.pValue < thresholds.alpha, !large { item.note = "significant but within the \(formatP(item.threshold * 100))% threshold" }
                }
                if !byRecord && (bRecords.count > 1 || cRecords.count > 1) {
                    item.note = [item.note, "repetitions pooled across records (fewer than 2 records on a side)"].compactMap { $0 }.joined(separator: "; ")
                }
                items.append(item)
            }
        }
        return Comparison(thresholds: thresholds, baselineRuns: baseline.count, candidateRuns: candidate.count, items: items)
    }

    /// The smallest equal group size whose exact two-sided permutation test can go below alpha.
    public static func minimumPerSide(alpha: Double) -> Int {
        for n in 2...50 where 2 / (Significance.binomial(2 * n, n) ?? .infinity) < alpha { return n }
        return 50
    }

    static func formatP(_ p: Double) -> String { p >= 0.001 ? formatFixed(p, digits: 3) : "<0.001" }
}
