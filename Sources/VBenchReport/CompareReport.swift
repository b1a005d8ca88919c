import VBenchCore

/// `vbench compare` for people and machines.
public enum CompareReport {
    /// The table of every compared metric, worst verdicts first.
    public static func table(_ c: Comparison, baseline: String, candidate: String) -> ReportTable {
        var t = ReportTable(title: "compare: baseline \(baseline) (\(c.baselineRuns) runs) → candidate \(candidate) (\(c.candidateRuns) runs)",
                            header: ["DEVICE", "WORKLOAD", "METRIC", "BASELINE", "CANDIDATE", "CHANGE", "95% CI", "P", "N", "DETECTABLE", "VERDICT"],
                            numeric: [3, 4, 5, 7, 9])
        let bothRoles = Set(c.items.map(\.role)).count > 1
        let items = c.items.sorted { ($0.verdict, $0.device, $0.workload, $0.metric) < ($1.verdict, $1.device, $1.workload, $1.metric) }
        for i in items {
            let ci = i.changeLow.flatMap { lo in i.changeHigh.map { "[\(ValueFormat.percentChange(lo)), \(ValueFormat.percentChange($0))]" } } ?? "-"
            let n = "\(i.baseline.count)/\(i.candidate.count) \(i.sampleUnit == .runs ? "runs" : i.sampleUnit == .groups ? "groups" : "reps")"
            t.append([i.device + (bothRoles && i.role == .native ? " (native)" : ""), i.workload, i.metric,
                      i.baselineMean.map { ValueFormat.format($0, unit: i.unit) } ?? "-",
                      i.candidateMean.map { ValueFormat.format($0, unit: i.unit) } ?? "-",
                      i.change.map(ValueFormat.percentChange) ?? "-", ci,
                      i.test.map { ValueFormat.pValue($0.pValue) } ?? "-", n,
                      i.detectableChange.map { "±" + formatFixed($0 * 100, digits: 1) + "%" } ?? (i.verdict == .tooFewRuns ? "none" : "-"),
                      verdictText(i)],
                     raw: [nil, nil, nil, i.baselineMean, i.candidateMean, i.change, nil, i.test?.pValue, nil, i.detectableChange, nil])
        }
        t.notes = notes(c)
        return t
    }

    static func verdictText(_ i: MetricComparison) -> String {
        switch i.verdict {
        case .regression: "REGRESSION"
        case .improvement: "improvement"
        case .unchanged: "unchanged"
        case .tooFewRuns: "too few runs"
        case .missing: "missing (\(i.note ?? "one side"))"
        }
    }

    /// The verdict in one line, then what it cannot see, then what to do about inconclusive items.
    public static func notes(_ c: Comparison) -> [String] {
        let count = { (v: Verdict) in c.items.filter { $0.verdict == v }.count }
        let unit = c.items.contains { $0.sampleUnit != .runs && $0.verdict != .missing } ? "samples as marked in N" : "runs as samples"
        var out = ["verdict: \(verdict(c)) — \(count(.regression)) regressions, \(count(.improvement)) improvements, \(count(.unchanged)) unchanged, \(count(.tooFewRuns)) with too few runs, \(count(.missing)) on one side only; regression = p < \(ValueFormat.pValue(c.thresholds.alpha)) (two-sided permutation test, \(unit)) and a change beyond the threshold (\(formatFixed(c.thresholds.minChange * 100, digits: 1))% unless set per metric) in the metric's bad direction"]
        let judged = c.items.filter { $0.detectableChange != nil && ($0.verdict == .unchanged || $0.verdict == .improvement) }
        if let lo = judged.compactMap(\.detectableChange).min(), let hi = judged.compactMap(\.detectableChange).max() {
            let (l, h) = (formatFixed(lo * 100, digits: 1), formatFixed(hi * 100, digits: 1))
            out.append("detectable: \(judged.count == 1 ? "a true change of" : "true changes of") \(l)\(h != l ? "–" + h : "") % or more are caught with \(formatFixed(c.power * 100, digits: 0)) % power at these sizes (DETECTABLE); \"unchanged\" says nothing about smaller ones")
        }
        if let first = c.inconclusive.first, let note = first.note { out.append("too few runs: \(note)") }
        if c.items.contains(where: { $0.sampleUnit == .repetitions && $0.verdict != .missing }) {
            let why = c.unit == .repetitions ? "--unit repetitions was asked for" : "the data showed the repetitions carry the run-to-run spread"
            out.append("samples marked reps are repetitions inside runs, taken as independent because \(why): whatever moves whole runs (page placement, a busy neighbour, a reboot) is not in the test")
        }
        let grouped = c.items.filter { $0.sampleUnit == .groups && $0.verdict != .missing }
        if let g = grouped.first {
            out.append("groups: \(grouped.count) metrics compare groups of runs (runs.group, one `vbench run --runs N` each) rather than runs, "
                       + "because \(c.unit == .groups ? "--unit groups was asked for" : "the groups differ beyond what their runs predict, e.g. \(g.device) \(g.workload) \(g.metric): \(g.groupSpread.map { "between-group share ρ = " + formatFixed($0.icc, digits: 2) } ?? "")"): "
                       + "a shift between sessions is part of the spread")
        }
        if let d = c.items.first(where: { $0.drift == .linear }), let note = d.note?.split(separator: ";").first(where: { $0.contains("drift-adjusted") }) {
            out.append("drift: \(c.items.filter { $0.drift == .linear }.count) metrics compared against a linear trend through both sides (interrupted time series, Freedman–Lane permutation), e.g. \(d.device) \(d.workload) \(d.metric): \(note.trimmingPrefixSpaces())")
        } else if c.drift == .linear, let n = c.items.compactMap({ $0.note }).first(where: { $0.contains("no drift model") }) {
            out.append("drift: \(n.split(separator: ";").first { $0.contains("no drift model") }.map { String($0).trimmingPrefixSpaces() } ?? n)")
        }
        let judgedRuns = c.items.filter { $0.verdict != .missing && $0.sampleUnit == .runs }
        let learned = judgedRuns.filter { $0.sessionShift != nil }
        if let first = learned.first, let shift = first.sessionShift {
            out.append("sessions: how far a whole session shifts on this machine was learned from \(shift.sessions) earlier sessions (e.g. \(first.device) \(first.workload) \(first.metric): SD \(formatFixed(shift.relativeSD * 100, digits: 1)) %) and is in the test of \(learned.count) metrics")
        } else if !judgedRuns.isEmpty, judgedRuns.allSatisfy({ $0.baselineGroups == 1 && $0.candidateGroups == 1 && $0.baselineRuns > 1 && $0.candidateRuns > 1 }) {
            out.append("sessions: each side is one group of runs made together, and no earlier sessions of this machine were found (--sessions), so a shift of the whole session (the host's load of those minutes) cannot be told from the change; two or more groups a side, or a store that holds earlier sessions, put it into the test")
        }
        out += configurationNotes(c)
        let boots = c.items.filter { $0.verdict != .missing }
        if !boots.isEmpty, boots.allSatisfy({ $0.baselineBoots == 1 && $0.candidateBoots == 1 && $0.bootsInCommon == 0 }) {
            out.append("boots: each side's runs come from one boot, and not the same one: a difference between two boots (page placement, interrupt routing) cannot be told from the change; for a verdict across boots, give each side runs from several boots (a history baseline, or several reboots a side)")
        }
        return out
    }

    /// The guest audit's costly configurations the runs were measured under (`report`'s ⚠):
    /// first where the sides differ (the change may be the configuration), then where both
    /// carry one.
    public static func configurationNotes(_ c: Comparison) -> [String] {
        let all = c.configurations ?? []
        func line(_ x: ConfigurationContrast) -> String {
            "\(x.device): \(x.label) in \(x.baselineRuns) of \(x.baselineOf) baseline and \(x.candidateRuns) of \(x.candidateOf) candidate runs (\(x.summary))"
        }
        var out: [String] = []
        let differing = all.filter(\.differs)
        if !differing.isEmpty {
            out.append("configuration differs: the sides were measured under different guest settings, so a change may be the setting and not what was changed; "
                       + differing.map(line).joined(separator: "; "))
        }
        let shared = all.filter { !$0.differs }
        if !shared.isEmpty {
            out.append("configuration: both sides were measured under a costly setting the guest audit warns of (`vbench probe`); " + shared.map(line).joined(separator: "; "))
        }
        return out
    }

    public static func verdict(_ c: Comparison) -> String {
        if c.baselineMissing { return "BASELINE MISSING" }
        if !c.regressions.isEmpty { return "REGRESSION" }
        if !c.inconclusive.isEmpty && c.inconclusive.count == c.items.filter({ $0.verdict != .missing }).count { return "INCONCLUSIVE (too few runs)" }
        if !c.inconclusive.isEmpty { return "no regression found, but inconclusive" }
        return "no regression"
    }

    /// A Markdown summary for CI logs: the verdict first, then regressions, then the full table.
    public static func markdown(_ c: Comparison, baseline: String, candidate: String) -> String {
        var s = "## vbench compare: \(verdict(c))\n\n"
        s += "Baseline `\(baseline)` (\(c.baselineRuns) runs) → candidate `\(candidate)` (\(c.candidateRuns) runs).\n\n"
        if !c.regressions.isEmpty {
            s += "Regressions:\n\n"
            for r in c.regressions {
                s += "- **\(r.device) \(r.workload) \(r.metric)**: \(r.baselineMean.map { ValueFormat.format($0, unit: r.unit) } ?? "-") → \(r.candidateMean.map { ValueFormat.format($0, unit: r.unit) } ?? "-") (\(r.change.map(ValueFormat.percentChange) ?? "-"), p = \(r.test.map { ValueFormat.pValue($0.pValue) } ?? "-"))\n"
            }
            s += "\n"
        }
        for note in configurationNotes(c) where note.hasPrefix("configuration differs") { s += "⚠ \(note)\n\n" }
        var t = table(c, baseline: baseline, candidate: candidate)
        t.title = ""
        return s + TableRenderer.markdown(t)
    }
}

extension StringProtocol {
    func trimmingPrefixSpaces() -> String { String(drop { $0 == " " }) }
}
