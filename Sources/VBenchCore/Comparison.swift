import FoundationEssentials

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

/// What a comparison's samples are.
public enum SampleUnit: String, Codable, Sendable, CaseIterable {
    /// Each run's mean is one sample (the default): whatever moves a run as a whole (page
    /// placement, a busy neighbour, a boot) is part of the spread the test sees.
    case runs
    /// Every repetition is a sample, as if independent: only when asked (`--unit repetitions`)
    /// or when the data show the repetitions carry the run-to-run spread (`RunSpread`).
    case repetitions
    /// Each group of runs made together (`runs.group`: one `vbench run --runs N`) is a sample,
    /// its mean of run means: when asked, or when a side has several groups and they differ
    /// beyond what their runs predict (a shift between sessions is then part of the spread).
    case groups
}

/// How the test treats slow drift over time.
public enum DriftModel: String, Codable, Sendable, CaseIterable {
    /// Runs are exchangeable: interleaved or back-to-back groups.
    case none
    /// A linear trend through both sides, the upgrade a step on top (`LevelChange`).
    case linear
    /// `linear` where the times let a trend be told from a step, else `none`.
    case auto
}

/// The verdict on one metric.
public enum Verdict: String, Codable, Sendable, Comparable {
    case regression, improvement, unchanged
    /// The runs given cannot reach significance at alpha: more runs are needed (the note says
    /// how many and why).
    case tooFewRuns = "too-few-runs"
    /// Only on one side.
    case missing

    var rank: Int {
        switch self {
        case .regression: 0
        case .tooFewRuns: 1
        case .missing: 2
        case .improvement: 3
        case .unchanged: 4
        }
    }
    public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }
}

/// One metric of one workload on one device, baseline against candidate.
public struct MetricComparison: Codable, Sendable, Equatable {
    public var family: String
    public var workload: String
    /// The device the samples came from: its distinguishing driver (see DeviceInfo).
    public var device: String
    /// Guest or native: never compared across.
    public var role: RunRole
    public var metric: String
    public var unit: String
    public var polarity: Polarity
    /// What the samples are (see `SampleUnit`).
    public var sampleUnit: SampleUnit
    /// Runs (records) on each side that carried this metric.
    public var baselineRuns: Int
    public var candidateRuns: Int
    /// Groups of runs (`runs.group`; a run without one counts alone) on each side, and how the
    /// spread of run means splits between groups and the runs inside them (when estimable).
    public var baselineGroups: Int
    public var candidateGroups: Int
    public var groupSpread: RunSpread?
    /// Distinct boots on each side, when the records carry a boot id.
    public var baselineBoots: Int?
    public var candidateBoots: Int?
    /// Boots that hold runs of both sides.
    public var bootsInCommon: Int?
    /// The samples the test used.
    public var baseline: [Double]
    public var candidate: [Double]
    /// The baseline's level the candidate is set against (its mean, or with a drift model its
    /// fitted level at the candidate's time) and the candidate's mean.
    public var baselineMean: Double?
    public var candidateMean: Double?
    /// candidate / baseline − 1.
    public var change: Double?
    /// The change's 95 % interval, as candidate / baseline − 1.
    public var changeLow: Double?
    public var changeHigh: Double?
    public var test: PermutationTest?
    public var threshold: Double
    /// The smallest true change (relative) this comparison catches with `Detectability.power`:
    /// a "no regression" says nothing about changes below it.
    public var detectableChange: Double?
    /// Runs a side at which the test's own limit reaches the threshold, from the run-to-run
    /// spread seen here (when a side has two runs or more).
    public var runsNeeded: Int?
    /// How the variance splits between runs and repetitions (when estimable).
    public var runSpread: RunSpread?
    /// How far a session shifts on this machine (from earlier sessions), when it entered the
    /// test: one session a side then has 2σ² more variance than its runs show, and the verdict
    /// needs `sessionPValue` < α as well as the runs' permutation p.
    public var sessionShift: SessionShift?
    public var sessionPValue: Double?
    /// The drift model used: `none` or `linear`; with `linear`, the fit.
    public var drift: DriftModel
    public var levelChange: LevelChange?
    public var verdict: Verdict
    public var note: String?
}

/// Everything `compare` found.
public struct Comparison: Codable, Sendable, Equatable {
    public var schemaVersion = 2
    public var thresholds: Thresholds
    /// The unit asked for (items say what they used) and the drift model asked for.
    public var unit: SampleUnit
    public var drift: DriftModel
    /// The power at which detectable changes are given.
    public var power: Double
    public var baselineRuns: Int
    public var candidateRuns: Int
    public var items: [MetricComparison]
    /// Per device, the costly configurations (guest audit warnings) each side's runs were
    /// measured under; absent when no run of either side had one (and before the audit).
    public var configurations: [ConfigurationContrast]?

    public var regressions: [MetricComparison] { items.filter { $0.verdict == .regression } }
    public var inconclusive: [MetricComparison] { items.filter { $0.verdict == .tooFewRuns } }
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

    /// The in-memory label of the collector that received a run (set by the store's readers).
    public static let collectorHostTag = "collector.host"

    /// The tag `vbench run --runs N` gives each invocation's runs.
    public static let groupTag = "runs.group"

    /// Why these two selections must not be compared, or nil: a guest against the native host
    /// is a question for `report` (×NATIVE), not a regression check.
    public static func pairingProblem(baseline: [RunRecord], candidate: [RunRecord]) -> String? {
        pairingProblem(baselineRoles: Set(baseline.map(\.role)), candidateRoles: Set(candidate.map(\.role)))
    }

    public static func pairingProblem(baseline: [CompareRun], candidate: [CompareRun]) -> String? {
        pairingProblem(baselineRoles: Set(baseline.map(\.role)), candidateRoles: Set(candidate.map(\.role)))
    }

    static func pairingProblem(baselineRoles b: Set<RunRole>, candidateRoles c: Set<RunRole>) -> String? {
        guard !b.isEmpty, !c.isEmpty, b.isDisjoint(with: c) else { return nil }
        func name(_ s: Set<RunRole>) -> String { s.map { $0 == .native ? "native" : "guest" }.sorted().joined(separator: " and ") }
        return "the baseline holds only \(name(b)) runs and the candidate only \(name(c)) runs: compare checks one kind of run against "
            + "itself (a guest after an upgrade against the same guest before, the host against the host); for a guest against the "
            + "native host use `vbench report` (×NATIVE), or narrow both sides with role=guest or role=native"
    }

    /// One run's values of one metric and what places it in time.
    struct RunValues {
        var metric: RunMetric
        var runId: UUID
        var time: Double
        var boot: String?
        /// The group of runs made together: `runs.group`, else the run alone.
        var group: GroupID
        var mean: Double { metric.mean }
    }

    /// A group of runs: a `runs.group` tag, or one run on its own (no text made of its id).
    enum GroupID: Hashable {
        case tag(String)
        case run(UUID)
    }

    /// What a comparison groups by: family, workload, device (driver, or driver@collector
    /// with runs from several collectors) and role.
    struct Key: Hashable, Comparable {
        var family: String, workload: String, device: String, role: RunRole
        static func < (a: Key, b: Key) -> Bool {
            (a.family, a.device, a.workload, a.role.rawValue) < (b.family, b.device, b.workload, b.role.rawValue)
        }
    }

    /// Per key and default metric, the runs (oldest first) that have it, and the keys in the
    /// order first seen. The same driver behind two hypervisor hosts is two devices: with runs
    /// from more than one collector (`hosts`), a device is driver@host.
    static func grouped(_ runs: [CompareRun], hosts: Set<String>, workloads: Set<String>?) -> ([Key: [String: [RunValues]]], [Key]) {
        var out: [Key: [String: [RunValues]]] = [:]
        var order: [Key] = []
        var metricsOf: [String: [Metric]] = [:]
        for r in runs.sorted(by: { $0.startTime < $1.startTime }) {
            let device = hosts.count > 1 ? "\(r.device)@\(r.collectorHost ?? "?")" : r.device
            let metrics = metricsOf[r.family] ?? { let m = defaultMetrics(family: r.family); metricsOf[r.family] = m; return m }()
            let group = r.group.map(GroupID.tag) ?? .run(r.runId)
            for w in r.workloads where workloads?.contains(w.name) ?? true {
                let key = Key(family: r.family, workload: w.name, device: device, role: r.role)
                if out[key] == nil { order.append(key); out[key] = [:] }
                for m in metrics {
                    guard let metric = w.metrics[m.key] else { continue }
                    out[key]![m.key, default: []].append(RunValues(metric: metric, runId: r.runId, time: r.startTime.timeIntervalSince1970,
                                                                   boot: r.bootId, group: group))
                }
            }
        }
        return (out, order)
    }

    /// The runs whose repetition values a comparison of these sides may test (`RunMetric.values`):
    /// with `--unit repetitions` every run; else the runs of each item with too few runs for
    /// the run-level test at `alpha`, where repetitions may stand in. A store reads just these
    /// runs' repetition rows (`RunStore.repetitions`); every other item is judged on moments.
    public static func repetitionsNeeded(baseline: [CompareRun], candidate: [CompareRun], alpha: Double,
                                         metrics only: Set<String>? = nil, workloads: Set<String>? = nil,
                                         unit: SampleUnit = .runs) -> Set<UUID> {
        let hosts = Set((baseline + candidate).compactMap(\.collectorHost))
        let (base, _) = grouped(baseline, hosts: hosts, workloads: workloads)
        let (cand, _) = grouped(candidate, hosts: hosts, workloads: workloads)
        var need = Set<UUID>()
        for (key, b) in base {
            guard let c = cand[key] else { continue }
            for metric in defaultMetrics(family: key.family) where only?.contains(metric.key) ?? true {
                let bRuns = b[metric.key] ?? [], cRuns = c[metric.key] ?? []
                guard !bRuns.isEmpty, !cRuns.isEmpty else { continue }
                if unit == .repetitions || smallestP(bRuns.count, cRuns.count) > alpha {
                    need.formUnion((bRuns + cRuns).map(\.runId))
                }
            }
        }
        return need
    }

    /// Groups by (family, workload, device driver, role) and compares each default metric
    /// present. Runs are the samples (each record's mean); see `SampleUnit` and `DriftModel`.
    public static func compare(baseline: [RunRecord], candidate: [RunRecord], thresholds: Thresholds = .init(),
                               metrics only: Set<String>? = nil, workloads: Set<String>? = nil,
                               unit: SampleUnit = .runs, drift: DriftModel = .none,
                               sessionHistory: [RunRecord] = []) -> Comparison {
        compare(baseline: baseline.map { CompareRun($0) }, candidate: candidate.map { CompareRun($0) }, thresholds: thresholds,
                metrics: only, workloads: workloads, unit: unit, drift: drift, sessionHistory: sessionHistory.map { CompareRun($0) })
    }

    /// The same on what a store reads for a comparison (`RunStore.compareRuns`), not whole records.
    public static func compare(baseline: [CompareRun], candidate: [CompareRun], thresholds: Thresholds = .init(),
                               metrics only: Set<String>? = nil, workloads: Set<String>? = nil,
                               unit: SampleUnit = .runs, drift: DriftModel = .none,
                               sessionHistory: [CompareRun] = []) -> Comparison {
        let hosts = Set((baseline + candidate).compactMap(\.collectorHost))
        let (base, baseOrder) = grouped(baseline, hosts: hosts, workloads: workloads)
        let (cand, candOrder) = grouped(candidate, hosts: hosts, workloads: workloads)
        // Earlier sessions of the same machine, device and workload: how far a session shifts.
        let compared = Set((baseline + candidate).map(\.runId))
        let (history, _) = grouped(sessionHistory.filter { !compared.contains($0.runId) && $0.group != nil }, hosts: hosts,
                                   workloads: workloads)
        var keys = baseOrder
        for k in candOrder where base[k] == nil { keys.append(k) }
        var items: [MetricComparison] = []
        for key in keys {
            let b = base[key] ?? [:], c = cand[key] ?? [:]
            for metric in defaultMetrics(family: key.family) where only?.contains(metric.key) ?? true {
                let bRuns = b[metric.key] ?? []
                let cRuns = c[metric.key] ?? []
                guard !bRuns.isEmpty || !cRuns.isEmpty else { continue }
                var item = MetricComparison(
                    family: key.family, workload: key.workload, device: key.device, role: key.role, metric: metric.key, unit: metric.unit,
                    polarity: metric.polarity, sampleUnit: unit, baselineRuns: bRuns.count, candidateRuns: cRuns.count,
                    baselineGroups: groups(bRuns).count, candidateGroups: groups(cRuns).count,
                    baselineBoots: bootCount(bRuns), candidateBoots: bootCount(cRuns),
                    bootsInCommon: bootCount(bRuns) != nil && bootCount(cRuns) != nil
                        ? Set(bRuns.compactMap(\.boot)).intersection(cRuns.compactMap(\.boot)).count : nil,
                    baseline: [], candidate: [],
                    threshold: thresholds.threshold(for: metric.key), drift: .none, verdict: .missing)
                guard !bRuns.isEmpty, !cRuns.isEmpty else {
                    item.baseline = bRuns.map(\.mean)
                    item.candidate = cRuns.map(\.mean)
                    item.note = bRuns.isEmpty ? "not in the baseline" : "not in the candidate"
                    items.append(item)
                    continue
                }
                let shift = SessionShift.estimate(groups(history[key]?[metric.key] ?? []).map { $0.map(\.mean) })
                judge(&item, bRuns, cRuns, alpha: thresholds.alpha, unit: unit, drift: drift, shift: shift)
                items.append(item)
            }
        }
        let contrasts = ConfigurationContrast.of(baseline: baseline, candidate: candidate)
        return Comparison(thresholds: thresholds, unit: unit, drift: drift, power: Detectability.power,
                          baselineRuns: baseline.count, candidateRuns: candidate.count, items: items,
                          configurations: contrasts.isEmpty ? nil : contrasts)
    }

    static func bootCount(_ runs: [RunValues]) -> Int? {
        let boots = runs.compactMap(\.boot)
        return boots.count == runs.count && !runs.isEmpty ? Set(boots).count : nil
    }

    /// Fills in the samples, the test, the detectable change and the verdict of one item.
    ///
    /// The unit is chosen from the top down: groups of runs made together (`runs.group`) when
    /// a side has several and they differ beyond what their runs predict; else runs; else,
    /// with too few runs, repetitions when they are shown to carry the run-to-run spread.
    static func judge(_ item: inout MetricComparison, _ bRuns: [RunValues], _ cRuns: [RunValues], alpha: Double,
                      unit: SampleUnit, drift: DriftModel, shift: SessionShift? = nil) {
        let runMeans = { (runs: [RunValues]) in runs.map(\.mean) }
        let spread = RunSpread.estimate([bRuns.map(\.metric), cRuns.map(\.metric)])
        // Repetition values are read only for the items that may test them (`repetitionsNeeded`).
        let repetitionsRead = (bRuns + cRuns).allSatisfy { $0.metric.values != nil }
        item.runSpread = spread
        // Groups: runs of one invocation share its time window (a busy neighbour, the host's
        // state of those minutes); with several groups a side that shows.
        let bGroups = groups(bRuns), cGroups = groups(cRuns)
        item.baselineGroups = bGroups.count
        item.candidateGroups = cGroups.count
        let groupSpread = RunSpread.estimate([bGroups.map(runMeans), cGroups.map(runMeans)])
        item.groupSpread = groupSpread
        let runCoV = runMeanCoV([runMeans(bRuns), runMeans(cRuns)])
        if let cov = runCoV { item.runsNeeded = Detectability.runsNeeded(runCoV: cov, change: item.threshold, alpha: alpha) }
        var notes: [String] = []
        var chosen: SampleUnit = unit
        if unit == .repetitions && !repetitionsRead {
            chosen = .runs
            notes.append("--unit repetitions: the repetitions' values were not read (Comparator.repetitionsNeeded); runs are the unit")
        } else if unit == .repetitions {
            notes.append("repetitions taken as independent samples (--unit repetitions): whatever moves whole runs is left out of the test"
                         + (spread.map { ", and p is too small by as much as that spread weighs (\(describe($0)))" } ?? ""))
        } else if unit == .groups || (groupSpread.map { !$0.repetitionsCarryRunSpread } ?? false) {
            chosen = .groups
            if unit != .groups, let g = groupSpread {
                notes.append("groups are the unit: the groups of runs (runs.group) differ beyond what their runs predict (\(describe(g, lower: "run", upper: "group")))")
            }
        } else if smallestP(bRuns.count, cRuns.count) > alpha {
            // Too few runs for the run-level test: repetitions may stand in only when the data
            // show they carry the run-to-run spread.
            if let s = spread, s.repetitionsCarryRunSpread, repetitionsRead,
               smallestP(bRuns.reduce(0) { $0 + $1.metric.n }, cRuns.reduce(0) { $0 + $1.metric.n }) <= alpha {
                chosen = .repetitions
                notes.append("repetitions stand in for runs: the runs differ no more than their repetitions predict (\(describe(s)))")
            } else {
                chosen = .runs
            }
        } else if let g = groupSpread {
            notes.append("runs stand in for groups: the groups of runs differ no more than their runs predict (\(describe(g, lower: "run", upper: "group")))")
        }
        item.sampleUnit = chosen
        let bs: [Double], cs: [Double], times: [Double]
        switch chosen {
        case .repetitions:
            (bs, cs, times) = (bRuns.flatMap { $0.metric.values ?? [] }, cRuns.flatMap { $0.metric.values ?? [] }, [])
        case .runs:
            (bs, cs, times) = (runMeans(bRuns), runMeans(cRuns), bRuns.map(\.time) + cRuns.map(\.time))
        case .groups:
            (bs, cs) = (bGroups.map { Significance.mean(runMeans($0)) }, cGroups.map { Significance.mean(runMeans($0)) })
            times = (bGroups + cGroups).map { Significance.mean($0.map(\.time)) }
        }
        item.baseline = bs
        item.candidate = cs
        fillMeans(&item)
        if smallestP(bs.count, cs.count) > alpha && drift == .none {
            item.verdict = .tooFewRuns
            let cov = chosen == .groups ? runMeanCoV([bs, cs]) : runCoV
            if chosen == .groups { item.runsNeeded = cov.flatMap { Detectability.runsNeeded(runCoV: $0, change: item.threshold, alpha: alpha) } }
            notes.insert(tooFewRunsNote(bs.count, cs.count, alpha: alpha, threshold: item.threshold, runCoV: cov,
                                        runsNeeded: item.runsNeeded, spread: chosen == .runs ? spread : nil,
                                        unitName: chosen.rawValue), at: 0)
            item.note = notes.joined(separator: "; ")
            return
        }

        // Drift: a trend through both sides with the upgrade as a step, where the times allow.
        var levelChange: LevelChange?
        if chosen != .repetitions && drift != .none {
            let fit = LevelChange.test(times: times, values: bs + cs, candidate: bs.map { _ in false } + cs.map { _ in true })
            if let f = fit, f.varianceInflation <= LevelChange.identifiableInflation, f.degreesOfFreedom >= 2, f.expectedLevel > 0 {
                levelChange = f
            } else if drift == .linear {
                let span = (bRuns.map(\.time).max() ?? 0) - (bRuns.map(\.time).min() ?? 0)
                let gap = (cRuns.map(\.time).min() ?? 0) - (bRuns.map(\.time).max() ?? 0)
                notes.append("no drift model: the baseline's runs span \(duration(span)) and the candidate starts \(duration(gap)) after them, "
                             + "so a trend cannot be told from a step (\(fit.map { "variance inflation \(formatFixed($0.varianceInflation, digits: 1))" } ?? "too few runs or times")); "
                             + "compared as exchangeable \(chosen.rawValue)")
            }
        }
        let test: PermutationTest?
        var relativeSE: Double?, df: Double?
        if let f = levelChange {
            item.drift = .linear
            item.levelChange = f
            item.baselineMean = f.expectedLevel
            item.change = f.delta / f.expectedLevel
            let t = StudentT.quantile(0.975, degreesOfFreedom: Double(f.degreesOfFreedom))
            item.changeLow = (f.delta - t * f.standardError) / f.expectedLevel
            item.changeHigh = (f.delta + t * f.standardError) / f.expectedLevel
            test = f.test
            relativeSE = f.standardError / f.expectedLevel
            df = Double(f.degreesOfFreedom)
            notes.append("drift-adjusted (linear trend \(ValueFormatCore.signedPercent(f.slopePerDay / f.expectedLevel))/day through both sides; baseline level at the candidate's time)")
        } else {
            if let r = Significance.ratioOfMeans(cs, bs), r.degreesOfFreedom != nil {
                item.changeLow = r.low - 1
                item.changeHigh = r.high - 1
            }
            test = Significance.permutationTest(bs, cs)
            (relativeSE, df) = standardError(bs, cs)
            // One session a side (no group structure of its own): add the session shift learned
            // from this machine's earlier sessions, when there are any.
            if let s = shift, chosen == .runs, groupSpread == nil, let se = relativeSE, let d = df, let change = item.change {
                let sessions = s.relativeSD * s.relativeSD * (1 / Double(bGroups.count) + 1 / Double(cGroups.count))
                let total = se * se + sessions
                let dfTotal = total * total / (se * se * se * se / d + sessions * sessions / Double(max(1, s.pairs)))
                let seTotal = total.squareRoot()
                item.sessionShift = s
                if seTotal > 0 {
                    let tQ = StudentT.quantile(0.975, degreesOfFreedom: max(1, dfTotal))
                    item.changeLow = change - tQ * seTotal
                    item.changeHigh = change + tQ * seTotal
                    item.sessionPValue = 2 * (1 - StudentT.cdf(abs(change) / seTotal, degreesOfFreedom: max(1, dfTotal)))
                } else {
                    item.sessionPValue = change == 0 ? 1 : 0
                }
                (relativeSE, df) = (seTotal, max(1, dfTotal))
                notes.append("sessions: a session of this machine shifts by \(formatFixed(s.relativeSD * 100, digits: 1)) % (SD, from \(s.sessions) earlier sessions, neighbour against neighbour) beyond its runs; that is in the test (p \(formatP(item.sessionPValue ?? 1)) with it)")
            }
        }
        item.test = test
        if let se = relativeSE, let df {
            item.detectableChange = Detectability.minimumChange(relativeSE: se, degreesOfFreedom: df, alpha: alpha, threshold: item.threshold)
        }
        let worse = item.change.map { item.polarity == .higherIsBetter ? $0 < 0 : $0 > 0 } ?? false
        let large = item.change.map { abs($0) > item.threshold } ?? false
        if let t = test, t.smallestPossible > alpha {
            item.verdict = .tooFewRuns
            notes.insert(tooFewRunsNote(bs.count, cs.count, alpha: alpha, threshold: item.threshold, runCoV: runCoV,
                                        runsNeeded: item.runsNeeded, spread: nil, unitName: chosen.rawValue), at: 0)
        } else if let t = test, t.pValue < alpha, (item.sessionPValue ?? 0) < alpha, large {
            item.verdict = worse ? .regression : .improvement
        } else {
            item.verdict = .unchanged
            if let t = test, t.pValue < alpha, (item.sessionPValue ?? 0) < alpha, !large {
                notes.append("significant but within the \(formatP(item.threshold * 100))% threshold")
            } else if let t = test, t.pValue < alpha, large, let ps = item.sessionPValue {
                notes.append("significant among the runs, not beyond the session shift (p \(formatP(ps)) with it)")
            }
        }
        item.note = notes.isEmpty ? nil : notes.joined(separator: "; ")
    }

    /// Runs grouped by `runs.group` (a run without one is its own group), in time order.
    static func groups(_ runs: [RunValues]) -> [[RunValues]] {
        var order: [GroupID] = []
        var out: [GroupID: [RunValues]] = [:]
        for r in runs {
            if out[r.group] == nil { order.append(r.group) }
            out[r.group, default: []].append(r)
        }
        return order.map { out[$0]! }
    }

    static func fillMeans(_ item: inout MetricComparison) {
        let mb = Significance.mean(item.baseline), mc = Significance.mean(item.candidate)
        item.baselineMean = mb
        item.candidateMean = mc
        if mb != 0 { item.change = mc / mb - 1 }
    }

    /// The relative standard error of candidate/baseline − 1 under no change, and its degrees
    /// of freedom: the pooled variance, as the permutation test's null (both sides from one
    /// distribution) has it; a side of one sample contributes no spread of its own.
    static func standardError(_ b: [Double], _ c: [Double]) -> (Double?, Double?) {
        let mb = Significance.mean(b)
        let df = b.count + c.count - 2
        guard mb != 0, df >= 1 else { return (nil, nil) }
        let pooled = (Double(b.count - 1) * Significance.variance(b) + Double(c.count - 1) * Significance.variance(c)) / Double(df)
        return ((pooled * (1 / Double(b.count) + 1 / Double(c.count))).squareRoot() / abs(mb), Double(df))
    }

    /// Coefficient of variation of run means within the sides (pooled over sides with ≥ 2 runs).
    static func runMeanCoV(_ sides: [[Double]]) -> Double? {
        var ss = 0.0, df = 0
        for side in sides where side.count >= 2 {
            let m = Significance.mean(side)
            guard m != 0 else { return nil }
            ss += side.reduce(0) { $0 + ($1 / m - 1) * ($1 / m - 1) }
            df += side.count - 1
        }
        return df > 0 ? (ss / Double(df)).squareRoot() : nil
    }

    /// The smallest two-sided p an exact permutation test of n against m samples can give:
    /// 2/C(n+m, n) for equal sizes (every relabeling has a mirror), else 1/C(n+m, n).
    public static func smallestP(_ n: Int, _ m: Int) -> Double {
        guard n > 0, m > 0 else { return 1 }
        let c = Significance.binomial(n + m, n) ?? .infinity
        return min(1, (n == m ? 2 : 1) / c)
    }

    static func smallestPText(_ n: Int, _ m: Int) -> String {
        "\(n == m ? 2 : 1)/C(\(n + m), \(min(n, m))) = \(formatFixed(smallestP(n, m), digits: smallestP(n, m) >= 0.001 ? 4 : 6))"
    }

    /// "Too few runs" (or groups), with the arithmetic and the number needed.
    static func tooFewRunsNote(_ n: Int, _ m: Int, alpha: Double, threshold: Double, runCoV: Double?, runsNeeded: Int?,
                               spread: RunSpread?, unitName: String = "runs") -> String {
        let k = minimumPerSide(alpha: alpha)
        let one = unitName == "groups" ? "group" : unitName == "repetitions" ? "repetition" : "run"
        var s = "\(n) vs \(m) \(unitName): a two-sided permutation test can give p no lower than \(smallestPText(n, m)), not below α = \(formatP(alpha)); "
            + "\(k) vs \(k) can (\(smallestPText(k, k)))"
        if let cov = runCoV {
            if let need = runsNeeded {
                s += "; with the \(one)-to-\(one) spread seen here (CoV \(formatFixed(cov * 100, digits: 1)) %), \(need) \(unitName) a side bring the detectable change down to the \(formatFixed(threshold * 100, digits: 1)) % threshold"
            } else {
                s += "; with the \(one)-to-\(one) spread seen here (CoV \(formatFixed(cov * 100, digits: 1)) %) more than 1000 \(unitName) a side would be needed to see \(formatFixed(threshold * 100, digits: 1)) %"
            }
        } else if n < 2 && m < 2 {
            s += "; with one \(one) a side the \(one)-to-\(one) spread is unknown"
        }
        if let sp = spread, unitName == "runs" {
            s += "; repetitions cannot stand in (\(describe(sp)))"
        }
        let need = max(k, runsNeeded ?? k)
        if unitName == "groups" {
            return s + ": make at least \(need) groups a side (separate `vbench run --runs N` invocations, at different times or across reboots)"
        }
        return s + ": make at least \(need) runs a side (vbench run --runs \(need))"
    }

    static func describe(_ s: RunSpread, lower: String = "repetition", upper: String = "run") -> String {
        "between-\(upper) share of variance ρ = \(formatFixed(s.icc, digits: 2)), ≤ \(formatFixed(s.iccUpper, digits: 2)) at 95 %; taking \(lower)s as independent understates the variance up to \(formatFixed(s.designEffectUpper, digits: 1))×"
    }

    static func duration(_ seconds: Double) -> String {
        let s = abs(seconds)
        if s < 120 { return "\(Int(s.rounded())) s" }
        if s < 7200 { return "\(Int((s / 60).rounded())) min" }
        if s < 172_800 { return "\(formatFixed(s / 3600, digits: 1)) h" }
        return "\(formatFixed(s / 86_400, digits: 1)) days"
    }

    /// The smallest equal group size whose exact two-sided permutation test can go below alpha.
    public static func minimumPerSide(alpha: Double) -> Int {
        for n in 2...50 where smallestP(n, n) < alpha { return n }
        return 50
    }

    static func formatP(_ p: Double) -> String { p >= 0.001 ? formatFixed(p, digits: 3) : "<0.001" }
}

enum ValueFormatCore {
    static func signedPercent(_ x: Double) -> String { (x >= 0 ? "+" : "") + formatFixed(x * 100, digits: 2) + " %" }
}

/// What a comparison reads of a run: its keys and, per workload, the repetition values of the
/// metrics compared (`WorkloadResult.values(of:)`). A store reads these rows without building
/// records (`RunStore.compareRuns`); records from files are reduced to them.
public struct CompareRun: Sendable, Equatable {
    public struct Workload: Sendable, Equatable {
        /// The workload's place in its run and its name.
        public var index: Int
        public var name: String
        /// Metric key → the repetitions' moments (and values where read).
        public var metrics: [String: RunMetric]
        public init(index: Int, name: String, metrics: [String: RunMetric]) {
            self.index = index
            self.name = name
            self.metrics = metrics
        }
    }
    public var runId: UUID
    public var family: String
    public var role: RunRole
    public var startTime: Date
    public var bootId: String?
    /// The `runs.group` tag: the runs made together.
    public var group: String?
    /// The machine that ran it (`environment.hostname`) and the collector that received it.
    public var hostname: String
    public var collectorHost: String?
    /// The device's name and distinguishing driver (`DeviceInfo.distinguishingDriver`).
    public var deviceName: String
    public var device: String
    public var hypervisor: String, kernel: String, deviceClass: String
    /// The machine's online CPUs (capacity takes a native run's as the host's cores).
    public var onlineCpus: Int
    /// The `lab.guests` and `lab.round` tags of a concurrency sweep (`vbench lab run --guests`).
    public var labGuests: String?, labRound: String?
    public var workloads: [Workload]
    /// The costly part of the run's guest audit (`AuditConfiguration`): empty when audited
    /// clean, nil when the record carries no audit.
    public var costly: [CostlyFinding]?

    public init(runId: UUID, family: String, role: RunRole, startTime: Date, bootId: String?, group: String?, hostname: String,
                collectorHost: String?, deviceName: String, device: String, hypervisor: String, kernel: String, deviceClass: String,
                onlineCpus: Int = 0, labGuests: String? = nil, labRound: String? = nil, workloads: [Workload]) {
        self.runId = runId
        self.family = family
        self.role = role
        self.startTime = startTime
        self.bootId = bootId
        self.group = group
        self.hostname = hostname
        self.collectorHost = collectorHost
        self.deviceName = deviceName
        self.device = device
        self.hypervisor = hypervisor
        self.kernel = kernel
        self.deviceClass = deviceClass
        self.onlineCpus = onlineCpus
        self.labGuests = labGuests
        self.labRound = labRound
        self.workloads = workloads
    }

    /// The tags of a concurrency sweep, written by `vbench lab run --guests`.
    public static let labGuestsTag = "lab.guests", labRoundTag = "lab.round"

    /// A record reduced to what compare reads: the family's default metrics (nil `metrics`) or those named.
    public init(_ r: RunRecord, metrics: [String]? = nil) {
        let keys = metrics ?? Comparator.defaultMetrics(family: r.family).map(\.key)
        self.init(runId: r.runId, family: r.family, role: r.role, startTime: r.startTime, bootId: r.environment.bootId,
                  group: r.tags[Comparator.groupTag], hostname: r.environment.hostname, collectorHost: r.tags[Comparator.collectorHostTag],
                  deviceName: r.device.name, device: r.device.distinguishingDriver, hypervisor: r.environment.hypervisor.vendor.rawValue,
                  kernel: r.environment.kernelRelease, deviceClass: r.device.deviceClass.rawValue,
                  onlineCpus: r.environment.onlineCpus, labGuests: r.tags[Self.labGuestsTag], labRound: r.tags[Self.labRoundTag],
                  workloads: r.workloads.enumerated().compactMap { i, w in
                      let metrics = Dictionary(uniqueKeysWithValues: keys.compactMap { k in RunMetric(values: w.values(of: k)).map { (k, $0) } })
                      // A workload without any of them is not compared (a store has no row of it).
                      return metrics.isEmpty ? nil : Workload(index: i, name: w.name, metrics: metrics)
                  })
        costly = r.environment.audit.map { AuditConfiguration($0).findings }
    }

    /// Without the repetitions' values: what a store's summary rows give.
    public var momentsOnly: CompareRun {
        var r = self
        for i in r.workloads.indices {
            for k in r.workloads[i].metrics.keys { r.workloads[i].metrics[k]?.values = nil }
        }
        return r
    }

    /// Sets the repetitions' values read for this run: workload index → metric → values.
    public mutating func setRepetitions(_ values: [Int: [String: [Double]]]) {
        for i in workloads.indices {
            for (k, v) in values[workloads[i].index] ?? [:] where workloads[i].metrics[k] != nil {
                workloads[i].metrics[k]?.values = v.filter(\.isFinite)
            }
        }
    }
}

/// One costly configuration (a guest audit warning that can change the device's numbers) and
/// how many runs of each side were measured under it: a change between sides that differ here
/// may be the configuration, not what was upgraded.
public struct ConfigurationContrast: Codable, Sendable, Equatable {
    public var family: String
    /// The distinguishing driver, as the comparison's items name the device.
    public var device: String
    /// `scheduler vda`, and the audit's sentence.
    public var label: String
    public var summary: String
    /// Runs of each side under it, and runs of that device on each side.
    public var baselineRuns: Int, baselineOf: Int
    public var candidateRuns: Int, candidateOf: Int

    /// Whether the sides differ: a share of runs under it on one side that the other lacks.
    public var differs: Bool { (baselineRuns == 0) != (candidateRuns == 0) || (baselineRuns == baselineOf) != (candidateRuns == candidateOf) }

    /// Every costly finding any run of either side carried, per family and device, with each
    /// side's counts; empty when no run carried one (or no run had an audit).
    public static func of(baseline: [CompareRun], candidate: [CompareRun]) -> [ConfigurationContrast] {
        struct Key: Hashable { var family: String, device: String, label: String }
        var summaries: [Key: String] = [:]
        var counts: [Key: (b: Int, c: Int)] = [:]
        var totals: [String: (b: Int, c: Int)] = [:]
        for (side, runs) in [(0, baseline), (1, candidate)] {
            for r in runs {
                let deviceKey = r.family + "\u{1F}" + r.device
                if side == 0 { totals[deviceKey, default: (0, 0)].b += 1 } else { totals[deviceKey, default: (0, 0)].c += 1 }
                for f in r.costly ?? [] where f.applies(toFamily: r.family, device: r.deviceName) {
                    let k = Key(family: r.family, device: r.device, label: f.label)
                    summaries[k] = summaries[k] ?? f.summary
                    if side == 0 { counts[k, default: (0, 0)].b += 1 } else { counts[k, default: (0, 0)].c += 1 }
                }
            }
        }
        return counts.keys.sorted { ($0.family, $0.device, $0.label) < ($1.family, $1.device, $1.label) }.map { k in
            let t = totals[k.family + "\u{1F}" + k.device] ?? (0, 0)
            return ConfigurationContrast(family: k.family, device: k.device, label: k.label, summary: summaries[k] ?? "",
                                         baselineRuns: counts[k]?.b ?? 0, baselineOf: t.b, candidateRuns: counts[k]?.c ?? 0, candidateOf: t.c)
        }
    }
}
