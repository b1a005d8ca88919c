import VBenchCore

/// The costly configurations one row group (family, workload, device) was measured under,
/// numbered in the report's row order: the footnote its rows' ⚠ marks point at.
public struct ConfigurationNote: Sendable, Equatable {
    public var number: Int
    public var family: String, workload: String, device: String, role: RunRole
    public var warnings: [ConfigurationWarning]

    /// `⚠1`.
    public var marker: String { "⚠\(number)" }
    /// `virtio_blk randread-4k-qd32`.
    public var title: String { "\(device) \(workload)" }
    /// One line per warning: `scheduler vda — 12 of 12 runs: vda (virtio_blk) uses mq-deadline: …`.
    public var lines: [String] { warnings.map { "\($0.short): \($0.summary)" } }

    static func key(_ row: ReportRow) -> String { "\(row.family)|\(row.workload)|\(row.device)|\(row.role.rawValue)" }
    var key: String { "\(family)|\(workload)|\(device)|\(role.rawValue)" }
}

/// `vbench report` as text, Markdown, CSV (through the table model) and JSON (the Report).
public enum ReportRender {
    /// The report's configuration notes, one per row group whose runs carried a costly
    /// configuration, numbered from 1 in row order.
    public static func configurationNotes(_ r: Report) -> [ConfigurationNote] {
        var out: [ConfigurationNote] = []
        var seen = Set<String>()
        for row in r.rows {
            guard let warnings = row.warnings, !warnings.isEmpty, seen.insert(ConfigurationNote.key(row)).inserted else { continue }
            out.append(ConfigurationNote(number: out.count + 1, family: row.family, workload: row.workload, device: row.device, role: row.role,
                                         warnings: warnings))
        }
        return out
    }

    /// The table every format shows. Its last column flags a row NOISY and marks it ⚠N when it
    /// was measured under a costly configuration (note N); with `warningsColumn` (CSV) the
    /// warnings are a column of their own instead of a mark.
    public static func table(_ r: Report, warningsColumn: Bool = false) -> ReportTable {
        var header = ["FAMILY", "WORKLOAD", "DEVICE", "CLASS", "METRIC", "VALUE", "NATIVE", "×NATIVE", "95% CI", "×PV", "N", "COV", ""]
        if warningsColumn { header.append("WARNINGS") }
        var t = ReportTable(title: "", header: header, numeric: [5, 6, 7, 9, 11])
        var markers: [String: String] = [:]
        for note in configurationNotes(r) { markers[note.key] = note.marker }
        for row in r.rows {
            var flag = row.noisy ? "NOISY" : ""
            if !warningsColumn, row.warnings != nil, let marker = markers[ConfigurationNote.key(row)] {
                flag += flag.isEmpty ? marker : " " + marker
            }
            let ci = row.toNative.flatMap { i in i.degreesOfFreedom == nil ? nil : "\(formatFixed(i.low, digits: 2))–\(formatFixed(i.high, digits: 2))" } ?? "-"
            t.append([row.family, row.workload, row.device, row.deviceClass.rawValue, Metric.named(row.metric)?.displayName ?? row.metric,
                      ValueFormat.format(row.mean, unit: row.unit),
                      row.role == .native ? "(this)" : row.nativeMean.map { ValueFormat.format($0, unit: row.unit) } ?? "-",
                      row.toNative.map { formatFixed($0.ratio, digits: 2) } ?? (row.role == .native ? "1.00" : "-"), ci,
                      row.toParavirtual.map { formatFixed($0.ratio, digits: 2) } ?? (row.device == ReportBuilder.paravirtualDriver(family: row.family) ? "1.00" : "-"),
                      "\(row.n) \(row.sampleUnit == "records" ? "rec" : "rep")", formatFixed(row.cov * 100, digits: 1) + "%", flag]
                        + (warningsColumn ? [(row.warnings ?? []).map(\.short).joined(separator: "; ")] : []),
                     raw: [nil, nil, nil, nil, nil, row.mean, row.nativeMean, row.toNative?.ratio, nil, row.toParavirtual?.ratio, Double(row.n), row.cov, nil]
                        + (warningsColumn ? [nil] : []))
        }
        return t
    }

    /// The heading of the configuration notes.
    static let configurationHeading = "Measured under costly configurations (the guest audit's warnings; ⚠N in the table)"

    public static func text(_ r: Report) -> String {
        var s = "vbench report: \(r.runs) runs (\(r.selection))\n"
        if !r.headlines.isEmpty { s += "\n" + r.headlines.map { "  " + $0 }.joined(separator: "\n") + "\n" }
        s += "\n" + TableRenderer.text(table(r)) + "\n"
        let notes = configurationNotes(r)
        if !notes.isEmpty {
            s += "\n\(configurationHeading):\n"
            for n in notes { s += "  \(n.marker) \(n.title):\n" + n.lines.map { "      " + $0 }.joined(separator: "\n") + "\n" }
        }
        if !r.warnings.isEmpty { s += "\nWarnings:\n" + r.warnings.map { "  - " + $0 }.joined(separator: "\n") + "\n" }
        if !r.advice.isEmpty { s += "\nAdvice:\n" + r.advice.map { "  - " + $0 }.joined(separator: "\n") + "\n" }
        s += "\n" + r.method.joined(separator: "\n") + "\n"
        return s
    }

    public static func markdown(_ r: Report) -> String {
        var s = "# vbench report\n\n\(r.runs) runs (`\(r.selection)`).\n\n"
        if !r.headlines.isEmpty { s += r.headlines.map { "- **\($0)**" }.joined(separator: "\n") + "\n\n" }
        s += TableRenderer.markdown(table(r)) + "\n"
        let notes = configurationNotes(r)
        if !notes.isEmpty {
            s += "## ⚠ Costly configurations\n\n\(configurationHeading).\n\n"
            for n in notes {
                s += "- \(n.marker) **\(n.title)**:\n" + n.lines.map { "  - warning: \($0)" }.joined(separator: "\n") + "\n"
            }
            s += "\n"
        }
        if !r.warnings.isEmpty { s += "## Warnings\n\n" + r.warnings.map { "- \($0)" }.joined(separator: "\n") + "\n\n" }
        if !r.advice.isEmpty { s += "## Advice\n\n" + r.advice.map { "- \($0)" }.joined(separator: "\n") + "\n\n" }
        s += "## Method\n\n" + r.method.map { "- \($0)" }.joined(separator: "\n") + "\n"
        return s
    }

    /// CSV with a WARNINGS column (`scheduler vda — 12 of 12 runs; …`).
    public static func csv(_ r: Report) -> String { TableRenderer.csv(table(r, warningsColumn: true)) }
}
