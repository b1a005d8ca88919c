import VBenchCore

/// `vbench report` as text, Markdown, CSV (through the table model) and JSON (the Report).
public enum ReportRender {
    public static func table(_ r: Report) -> ReportTable {
        var t = ReportTable(title: "", header: ["FAMILY", "WORKLOAD", "DEVICE", "CLASS", "METRIC", "VALUE", "NATIVE", "×NATIVE", "95% CI", "×PV", "N", "COV", ""],
                            numeric: [5, 6, 7, 9, 11])
        for row in r.rows {
            let ci = row.toNative.flatMap { i in i.degreesOfFreedom == nil ? nil : "\(formatFixed(i.low, digits: 2))–\(formatFixed(i.high, digits: 2))" } ?? "-"
            t.append([row.family, row.workload, row.device, row.deviceClass.rawValue, Metric.named(row.metric)?.displayName ?? row.metric,
                      ValueFormat.format(row.mean, unit: row.unit),
                      row.role == .native ? "(this)" : row.nativeMean.map { ValueFormat.format($0, unit: row.unit) } ?? "-",
                      row.toNative.map { formatFixed($0.ratio, digits: 2) } ?? (row.role == .native ? "1.00" : "-"), ci,
                      row.toParavirtual.map { formatFixed($0.ratio, digits: 2) } ?? (row.device == ReportBuilder.paravirtualDriver(family: row.family) ? "1.00" : "-"),
                      "\(row.n) \(row.sampleUnit == "records" ? "rec" : "rep")", formatFixed(row.cov * 100, digits: 1) + "%", row.noisy ? "NOISY" : ""],
                     raw: [nil, nil, nil, nil, nil, row.mean, row.nativeMean, row.toNative?.ratio, nil, row.toParavirtual?.ratio, Double(row.n), row.cov, nil])
        }
        return t
    }

    public static func text(_ r: Report) -> String {
        var s = "vbench report: \(r.runs) runs (\(r.selection))\n"
        if !r.headlines.isEmpty { s += "\n" + r.headlines.map { "  " + $0 }.joined(separator: "\n") + "\n" }
        s += "\n" + TableRenderer.text(table(r)) + "\n"
        if !r.warnings.isEmpty { s += "\nWarnings:\n" + r.warnings.map { "  - " + $0 }.joined(separator: "\n") + "\n" }
        if !r.advice.isEmpty { s += "\nAdvice:\n" + r.advice.map { "  - " + $0 }.joined(separator: "\n") + "\n" }
        s += "\n" + r.method.joined(separator: "\n") + "\n"
        return s
    }

    public static func markdown(_ r: Report) -> String {
        var s = "# vbench report\n\n\(r.runs) runs (`\(r.selection)`).\n\n"
        if !r.headlines.isEmpty { s += r.headlines.map { "- **\($0)**" }.joined(separator: "\n") + "\n\n" }
        s += TableRenderer.markdown(table(r)) + "\n"
        if !r.warnings.isEmpty { s += "## Warnings\n\n" + r.warnings.map { "- \($0)" }.joined(separator: "\n") + "\n\n" }
        if !r.advice.isEmpty { s += "## Advice\n\n" + r.advice.map { "- \($0)" }.joined(separator: "\n") + "\n\n" }
        s += "## Method\n\n" + r.method.map { "- \($0)" }.joined(separator: "\n") + "\n"
        return s
    }

    public static func csv(_ r: Report) -> String { TableRenderer.csv(table(r)) }
}
