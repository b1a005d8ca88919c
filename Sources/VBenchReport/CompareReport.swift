import VBenchCore

/// `vbench compare` for people and machines.
public enum CompareReport {
    /// The table of every compared metric, worst verdicts first.
    public static func table(_ c: Comparison, baseline: String, candidate: String) -> ReportTable {
        var t = ReportTable(title: "compare: baseline \(baseline) (\(c.baselineRuns) runs) → candidate \(candidate) (\(c.candidateRuns) runs)",
                            header: ["DEVICE", "WORKLOAD", "METRIC", "BASELINE", "CANDIDATE", "CHANGE", "95% CI", "P", "N", "VERDICT"],
                            numeric: [3, 4, 5, 7])
        let items = c.items.sorted { ($0.verdict, $0.device, $0.workload, $0.metric) < ($1.verdict, $1.device, $1.workload, $1.metric) }
        for i in items {
            let ci = i.changeLow.flatMap { lo in i.changeHigh.map { "[\(ValueFormat.percentChange(lo)), \(ValueFormat.percentChange($0))]" } } ?? "-"
            let n = "\(i.baseline.count)/\(i.candidate.count) \(i.sampleUnit == "records" ? "rec" : "rep")"
            t.append([i.device, i.workload, i.metric,
                      i.baselineMean.map { ValueFormat.format($0, unit: i.unit) } ?? "-",
                      i.candidateMean.map { ValueFormat.format($0, unit: i.unit) } ?? "-",
                      i.change.map(ValueFormat.percentChange) ?? "-", ci,
                      i.test.map { ValueFormat.pValue($0.pValue) } ?? "-", n, verdictText(i)],
                     raw: [nil, nil, nil, i.baselineMean, i.candidateMean, i.change, nil, i.test?.pValue, nil, nil])
        }
        t.notes = notes(c)
        return t
    }

    static func verdictText(_ i: MetricComparison) -> String {
        switch i.verdict {
        case .regression: "REGRESSION"
        case .improvement: "improvement"
        case .unchanged: "unchanged"
        case .tooFewSamples: "too few samples"
        case .missing: "missing (\(i.note ?? "one side"))"
        }
    }

    /// The verdict in one line, then what to do about inconclusive items.
    public static func notes(_ c: Comparison) -> [String] {
        let count = { (v: Verdict) in c.items.filter { $0.verdict == v }.count }
        var out = ["verdict: \(verdict(c)) — \(count(.regression)) regressions, \(count(.improvement)) improvements, \(count(.unchanged)) unchanged, \(count(.tooFewSamples)) with too few samples, \(count(.missing)) on one side only; regression = p < \(ValueFormat.pValue(c.thresholds.alpha)) (two-sided permutation test) and a change beyond the threshold (\(formatFixed(c.thresholds.minChange * 100, digits: 1))% unless set per metric) in the metric's bad direction"]
        if let first = c.inconclusive.first, let note = first.note { out.append("too few samples: \(note)") }
        if c.items.contains(where: { $0.sampleUnit == "repetitions" && $0.verdict != .missing }) {
            out.append("samples marked rep are repetitions inside runs: they carry no boot-to-boot drift; interleave several boots a side (lab --rounds) for a verdict that holds across boots")
        }
        return out
    }

    public static func verdict(_ c: Comparison) -> String {
        if c.baselineMissing { return "BASELINE MISSING" }
        if !c.regressions.isEmpty { return "REGRESSION" }
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
        var t = table(c, baseline: baseline, candidate: candidate)
        t.title = ""
        return s + TableRenderer.markdown(t)
    }
}
