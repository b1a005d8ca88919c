import VBenchCore

/// The one table model every renderer reads: a title, a header, rows of cells already
/// formatted for people, the raw numbers behind them for machines, and notes.
public struct ReportTable: Sendable, Equatable {
    public var title: String
    public var header: [String]
    /// Columns whose cells are numbers (right-aligned in text, bare numbers in CSV).
    public var numeric: Set<Int>
    public var rows: [[String]] = []
    /// Per row, the unformatted value behind each numeric cell (nil where there is none).
    public var raw: [[Double?]] = []
    public var notes: [String] = []

    public init(title: String, header: [String], numeric: Set<Int> = []) {
        self.title = title
        self.header = header
        self.numeric = numeric
    }

    public mutating func append(_ cells: [String], raw values: [Double?]? = nil) {
        precondition(cells.count == header.count, "a row needs one cell per column")
        rows.append(cells)
        raw.append(values ?? Array(repeating: nil, count: cells.count))
    }
}

/// Renders a table as aligned text, GitHub Markdown or CSV (RFC 4180).
public enum TableRenderer {
    public static func text(_ t: ReportTable) -> String {
        let widths = t.header.indices.map { i in ([t.header] + t.rows).map { $0[i].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            var s = cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: max(0, widths[i] - c.count))
                return t.numeric.contains(i) ? pad + c : c + pad
            }.joined(separator: "  ")
            while s.last == " " { s.removeLast() }
            return s
        }
        var out = t.title.isEmpty ? "" : t.title + "\n"
        out += ([line(t.header)] + t.rows.map(line)).joined(separator: "\n")
        for n in t.notes { out += "\n" + n }
        return out
    }

    public static func markdown(_ t: ReportTable) -> String {
        func escape(_ s: String) -> String { s.replacing("|", with: "\\|") }
        var out = t.title.isEmpty ? "" : "### \(escape(t.title))\n\n"
        out += "| " + t.header.map(escape).joined(separator: " | ") + " |\n"
        out += "|" + t.header.indices.map { t.numeric.contains($0) ? "---:" : "---" }.joined(separator: "|") + "|\n"
        for r in t.rows { out += "| " + r.map(escape).joined(separator: " | ") + " |\n" }
        if !t.notes.isEmpty { out += "\n" + t.notes.map { "- \($0)" }.joined(separator: "\n") + "\n" }
        return out
    }

    /// CSV with the raw number where a numeric cell has one (machines want 22050.3, not 22.1k).
    public static func csv(_ t: ReportTable) -> String {
        let field = csvField
        var out = t.header.map(field).joined(separator: ",") + "\r\n"
        for (i, r) in t.rows.enumerated() {
            let cells = r.indices.map { j -> String in
                if let v = t.raw[i][j] { return formatNumber(v) }
                return field(r[j])
            }
            out += cells.joined(separator: ",") + "\r\n"
        }
        return out
    }

    /// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
    public static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacing("\"", with: "\"\"") + "\"" : s
    }

    /// Shortest exact-enough decimal: integers bare, others to 6 significant digits.
    static func formatNumber(_ v: Double) -> String {
        guard v.isFinite else { return "" }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        if abs(v) < 1e-9 { return "0" }
        let magnitude = Int(log10(abs(v)).rounded(.down))
        var s = formatFixed(v, digits: min(12, max(0, 5 - magnitude)))
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }
}

#if canImport(Glibc)
import Glibc
#endif
