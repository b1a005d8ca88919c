import VBenchCore

#if canImport(Glibc)
import Glibc
#endif

/// A self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched): headlines,
/// per workload a bar chart of each device's headline metric against native (or against the
/// paravirtual device) with 95 % whiskers, latency percentile curves, the full table, warnings,
/// advice and the method.
public enum HTMLRender {
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func color(_ c: DeviceClass, role: RunRole) -> String {
        if role == .native { return "#6b7280" }
        switch c {
        case .paravirtual: return "#15803d"
        case .emulated: return "#c2410c"
        case .passthrough: return "#1d4ed8"
        default: return "#7c3aed"
        }
    }

    static func f(_ v: Double) -> String { formatFixed(v, digits: 1) }

    /// Horizontal bars: one per device, the value as a share of the reference (native, else the
    /// paravirtual device), whiskers at the interval, a line at 1.0.
    static func ratioChart(_ rows: [ReportRow], title: String) -> String? {
        let useNative = rows.contains { $0.toNative != nil }
        let items: [(ReportRow, RatioInterval)] = rows.compactMap { r in
            if r.role == .native { return useNative ? (r, RatioInterval(ratio: 1, low: 1, high: 1, degreesOfFreedom: nil)) : nil }
            if useNative { return r.toNative.map { (r, $0) } }
            if r.device == ReportBuilder.paravirtualDriver(family: r.family) { return (r, RatioInterval(ratio: 1, low: 1, high: 1, degreesOfFreedom: nil)) }
            return r.toParavirtual.map { (r, $0) }
        }
        guard items.count >= 2 || (useNative && !items.isEmpty) else { return nil }
        let label = 190.0, width = 720.0, barH = 22.0, gap = 8.0, top = 30.0
        let plot = width - label - 70
        let maxV = max(1.0, items.map { max($0.1.high, $0.1.ratio) }.max() ?? 1) * 1.05
        let height = top + Double(items.count) * (barH + gap) + 30
        func x(_ v: Double) -> Double { label + plot * min(v, maxV) / maxV }
        var s = "<figure class=\"chart\" data-kind=\"ratio-bars\"><figcaption>\(escape(title)) — share of \(useNative ? "native" : "the paravirtual device")</figcaption>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">\n"
        for (i, (r, iv)) in items.enumerated() {
            let y = top + Double(i) * (barH + gap)
            s += "<text class=\"label\" x=\"\(f(label - 8))\" y=\"\(f(y + barH * 0.7))\" text-anchor=\"end\">\(escape(r.role == .native ? "native" : r.device))</text>\n"
            s += "<rect class=\"bar\" x=\"\(f(label))\" y=\"\(f(y))\" width=\"\(f(max(1, x(iv.ratio) - label)))\" height=\"\(f(barH))\" fill=\"\(color(r.deviceClass, role: r.role))\"><title>\(escape("\(r.device): \(formatFixed(iv.ratio * 100, digits: 1)) % (\(ValueFormat.format(r.mean, unit: r.unit)))"))</title></rect>\n"
            if iv.degreesOfFreedom != nil {
                let (x1, x2, ym) = (x(iv.low), x(iv.high), y + barH / 2)
                s += "<line class=\"whisker\" x1=\"\(f(x1))\" x2=\"\(f(x2))\" y1=\"\(f(ym))\" y2=\"\(f(ym))\" stroke=\"#111\"/>"
                s += "<line class=\"whisker\" x1=\"\(f(x1))\" x2=\"\(f(x1))\" y1=\"\(f(ym - 5))\" y2=\"\(f(ym + 5))\" stroke=\"#111\"/>"
                s += "<line class=\"whisker\" x1=\"\(f(x2))\" x2=\"\(f(x2))\" y1=\"\(f(ym - 5))\" y2=\"\(f(ym + 5))\" stroke=\"#111\"/>\n"
            }
            s += "<text class=\"value\" x=\"\(f(x(max(iv.ratio, iv.high)) + 6))\" y=\"\(f(y + barH * 0.7))\">\(formatFixed(iv.ratio * 100, digits: 0)) %</text>\n"
        }
        s += "<line class=\"reference\" x1=\"\(f(x(1)))\" x2=\"\(f(x(1)))\" y1=\"\(f(top - 6))\" y2=\"\(f(height - 24))\" stroke=\"#111\" stroke-dasharray=\"4 3\"/>\n"
        s += "<text class=\"axis\" x=\"\(f(x(1)))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">1.0</text>\n"
        s += "</svg></figure>\n"
        return s
    }

    /// Memory bandwidth: per STREAM workload (each kernel, and triad per CPU node and memory
    /// node pair), one bar per device (guest) and native, in bytes per second, with 95 % whiskers.
    static func memoryBandwidthChart(_ rows: [ReportRow]) -> String? {
        let bw = rows.filter { $0.family == "mem" && $0.metric == Metric.bandwidth.key && $0.workload.hasPrefix("stream-") }
        guard !bw.isEmpty else { return nil }
        var workloads: [String] = []
        for r in bw where !workloads.contains(r.workload) { workloads.append(r.workload) }
        let label = 210.0, width = 860.0, barH = 16.0, gap = 3.0, groupGap = 12.0, top = 30.0
        let plot = width - label - 230
        let maxV = (bw.map { max($0.mean, $0.ci95High ?? $0.mean) }.max() ?? 1) * 1.05
        func x(_ v: Double) -> Double { label + plot * max(0, v) / maxV }
        var y = top
        var body = ""
        for w in workloads {
            let bars = bw.filter { $0.workload == w }.sorted { ($0.role == .native ? 1 : 0, $0.device) < ($1.role == .native ? 1 : 0, $1.device) }
            let name = w.replacing("stream-", with: "").replacing("-cpu", with: " cpu").replacing("-mem", with: " → mem")
            body += "<text class=\"label\" x=\"\(f(label - 8))\" y=\"\(f(y + barH * 0.8))\" text-anchor=\"end\">\(escape(name))</text>\n"
            for r in bars {
                body += "<rect class=\"bar\" x=\"\(f(label))\" y=\"\(f(y))\" width=\"\(f(max(1, x(r.mean) - label)))\" height=\"\(f(barH))\" fill=\"\(color(r.deviceClass, role: r.role))\"><title>\(escape("\(r.role == .native ? "native" : r.device) \(w): \(ValueFormat.format(r.mean, unit: r.unit))"))</title></rect>\n"
                if let lo = r.ci95Low, let hi = r.ci95High {
                    let ym = y + barH / 2
                    body += "<line class=\"whisker\" x1=\"\(f(x(lo)))\" x2=\"\(f(x(hi)))\" y1=\"\(f(ym))\" y2=\"\(f(ym))\" stroke=\"#111\"/>\n"
                }
                let ratio = r.toNative.map { " (\(formatFixed($0.ratio * 100, digits: 0)) % of native)" } ?? ""
                body += "<text class=\"value\" x=\"\(f(x(max(r.mean, r.ci95High ?? r.mean)) + 6))\" y=\"\(f(y + barH * 0.8))\">\(escape((r.role == .native ? "native " : "") + ValueFormat.format(r.mean, unit: r.unit) + ratio))</text>\n"
                y += barH + gap
            }
            y += groupGap
        }
        let height = y + 10
        var s = "<figure class=\"chart\" data-kind=\"memory-bandwidth\"><figcaption>Memory bandwidth per STREAM kernel and NUMA node pair — guest against native</figcaption>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">\n"
        s += body + "</svg></figure>\n"
        return s
    }

    /// Pointer-chase load latency against the chased range (both axes logarithmic), one line per
    /// device and native: where it steps up, a cache level ends.
    static func chaseChart(_ rows: [ReportRow]) -> String? {
        let chase = rows.filter { $0.family == "mem" && $0.metric == Metric.loadLatency.key && $0.workload.hasPrefix("chase-") }
            .compactMap { r -> (ReportRow, Double)? in ByteCount.parse(String(r.workload.dropFirst(6))).map { (r, Double($0)) } }
        var series: [String: [(Double, Double)]] = [:]
        var classes: [String: (DeviceClass, RunRole)] = [:]
        for (r, size) in chase where r.mean > 0 {
            let name = r.role == .native ? "native" : r.device
            series[name, default: []].append((size, r.mean))
            classes[name] = (r.deviceClass, r.role)
        }
        guard series.values.contains(where: { $0.count >= 2 }) else { return nil }
        let all = series.values.flatMap { $0 }
        let (minX, maxX) = (log2(all.map(\.0).min()!), log2(all.map(\.0).max()!))
        let (minY, maxY) = (log10(all.map(\.1).min()! * 0.8), log10(all.map(\.1).max()! * 1.25))
        let (left, width, height, top, bottom) = (70.0, 720.0, 300.0, 20.0, 40.0)
        func px(_ v: Double) -> Double { left + (width - left - 20) * (log2(v) - minX) / max(maxX - minX, 1e-9) }
        func py(_ v: Double) -> Double { top + (height - top - bottom) * (1 - (log10(v) - minY) / max(maxY - minY, 1e-9)) }
        var s = "<figure class=\"chart\" data-kind=\"chase-latency\"><figcaption>Pointer-chase load latency by range (log–log)</figcaption>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">\n"
        s += "<line x1=\"\(f(left))\" x2=\"\(f(width - 20))\" y1=\"\(f(height - bottom))\" y2=\"\(f(height - bottom))\" stroke=\"#111\"/>\n"
        s += "<line x1=\"\(f(left))\" x2=\"\(f(left))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" stroke=\"#111\"/>\n"
        let sizes = Array(Set(all.map(\.0))).sorted()
        for v in sizes {
            s += "<text class=\"axis\" x=\"\(f(px(v)))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"middle\">\(escape(ByteCount.shortName(UInt64(v))))</text>\n"
        }
        var tick = pow(10, floor(minY))
        while log10(tick) <= maxY {
            if log10(tick) >= minY {
                s += "<text class=\"axis\" x=\"\(f(left - 6))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\">\(escape(ValueFormat.format(tick, unit: Metric.loadLatency.unit)))</text>\n"
            }
            tick *= 10
        }
        for (name, points) in series.sorted(by: { ($0.key == "native" ? 1 : 0, $0.key) < ($1.key == "native" ? 1 : 0, $1.key) }) where points.count >= 2 {
            let (cls, role) = classes[name]!
            let pts = points.sorted { $0.0 < $1.0 }.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
            s += "<polyline class=\"curve\" fill=\"none\" stroke=\"\(color(cls, role: role))\" stroke-width=\"2\" points=\"\(pts)\"><title>\(escape(name))</title></polyline>\n"
        }
        s += "</svg></figure>\n"
        return s
    }

    /// Latency by percentile, one line per device, logarithmic time axis.
    static func latencyChart(_ curves: [LatencyCurve], title: String) -> String? {
        func rank(_ c: LatencyCurve) -> Int {
            if c.role == .native { return 0 }
            switch c.deviceClass { case .paravirtual: return 1; case .passthrough: return 2; case .emulated: return 3; default: return 4 }
        }
        let usable = curves.filter { $0.points.count >= 2 }.sorted { (rank($0), $0.device) < (rank($1), $1.device) }
        guard !usable.isEmpty else { return nil }
        let width = 720.0, height = 300.0, left = 70.0, right = 160.0, top = 20.0, bottom = 40.0
        let all = usable.flatMap { $0.points.map(\.ns) }.filter { $0 > 0 }
        guard let lo = all.min(), let hi = all.max() else { return nil }
        let l0 = log10(lo) - 0.1, l1 = max(log10(hi) + 0.1, log10(lo) + 0.5)
        let labels = ["p50", "p90", "p99", "p99.9", "p99.99"], pcts = [50.0, 90, 99, 99.9, 99.99]
        func x(_ p: Double) -> Double {
            let i = Double(pcts.firstIndex(of: p) ?? 0)
            return left + (width - left - right) * i / Double(pcts.count - 1)
        }
        func y(_ ns: Double) -> Double { top + (height - top - bottom) * (1 - (log10(max(ns, 1)) - l0) / (l1 - l0)) }
        var s = "<figure class=\"chart\" data-kind=\"latency-curves\"><figcaption>\(escape(title)) — latency by percentile (log scale)</figcaption>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">\n"
        // Gridlines at 1, 2 and 5 times powers of ten (only the powers when the range is wide).
        let steps: [Double] = l1 - l0 > 2.5 ? [1] : [1, 2, 5]
        var decade = floor(l0)
        while decade <= ceil(l1) {
            for m in steps {
                let v = m * pow(10, decade)
                guard log10(v) >= l0 && log10(v) <= l1 else { continue }
                let yy = y(v)
                s += "<line class=\"grid\" x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(yy))\" y2=\"\(f(yy))\" stroke=\"#ddd\"/>"
                s += "<text class=\"axis\" x=\"\(f(left - 6))\" y=\"\(f(yy + 4))\" text-anchor=\"end\">\(escape(ValueFormat.duration(v)))</text>\n"
            }
            decade += 1
        }
        for (i, p) in pcts.enumerated() {
            s += "<text class=\"axis\" x=\"\(f(x(p)))\" y=\"\(f(height - bottom + 18))\" text-anchor=\"middle\">\(labels[i])</text>\n"
        }
        let palette = ["#15803d", "#c2410c", "#1d4ed8", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#6b7280"]
        var next = 0
        for (i, c) in usable.enumerated() {
            let colour = c.role == .native ? "#6b7280" : palette[next % palette.count]
            if c.role != .native { next += 1 }
            let pts = c.points.map { "\(f(x($0.percentile))),\(f(y($0.ns)))" }.joined(separator: " ")
            s += "<polyline class=\"curve\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(pts)\"><title>\(escape(c.device))</title></polyline>\n"
            for p in c.points { s += "<circle cx=\"\(f(x(p.percentile)))\" cy=\"\(f(y(p.ns)))\" r=\"3\" fill=\"\(colour)\"/>" }
            let ly = top + 16 * Double(i) + 8
            s += "\n<line x1=\"\(f(width - right + 12))\" x2=\"\(f(width - right + 32))\" y1=\"\(f(ly))\" y2=\"\(f(ly))\" stroke=\"\(colour)\" stroke-width=\"3\"/>"
            s += "<text class=\"legend\" x=\"\(f(width - right + 36))\" y=\"\(f(ly + 4))\">\(escape(c.device))</text>\n"
        }
        s += "</svg></figure>\n"
        return s
    }

    /// The warning box beside a workload's numbers: each device's costly configurations, with
    /// how many runs carried each, linked to the note the table's ⚠ marks point at.
    static func configurationBox(_ notes: [ConfigurationNote]) -> String {
        guard !notes.isEmpty else { return "" }
        var s = "<div class=\"costly\" role=\"note\"><strong>⚠ Measured under a costly configuration</strong><ul>"
        for n in notes {
            s += "<li><a href=\"#costly-\(n.number)\">\(escape(n.marker))</a> <b>\(escape(n.device))</b>: "
                + n.warnings.map { "<span title=\"\(escape($0.summary))\">\(escape($0.short))</span>" }.joined(separator: "; ") + "</li>"
        }
        return s + "</ul></div>\n"
    }

    public static func page(_ r: Report) -> String {
        let notes = ReportRender.configurationNotes(r)
        var s = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>vbench report</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#111}
            h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px}
            table{border-collapse:collapse;font-size:12px}th,td{padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:left}
            td.n{text-align:right;font-variant-numeric:tabular-nums}.noisy{color:#b91c1c;font-weight:600}
            figure{margin:16px 0}figcaption{font-weight:600;margin-bottom:4px}
            svg text{font:12px system-ui,sans-serif}.legend-box span{display:inline-block;width:12px;height:12px;margin:0 4px 0 14px;vertical-align:middle}
            ul.headlines li{font-size:15px}
            .costly{background:#fef3c7;border-left:4px solid #d97706;color:#78350f;padding:6px 10px;margin:8px 0}
            .costly ul{margin:4px 0;padding-left:18px}td.costly-mark{color:#b45309;font-weight:600}
            </style></head><body>
            <h1>vbench report</h1>
            <p>\(r.runs) runs; selection <code>\(escape(r.selection))</code>.</p>

            """
        if !r.headlines.isEmpty { s += "<ul class=\"headlines\">" + r.headlines.map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n" }
        s += "<p class=\"legend-box\">Device class:<span style=\"background:#15803d\"></span>paravirtual<span style=\"background:#c2410c\"></span>emulated<span style=\"background:#1d4ed8\"></span>passthrough<span style=\"background:#7c3aed\"></span>virtual<span style=\"background:#6b7280\"></span>native</p>\n"
        var families: [String] = []
        for row in r.rows where !families.contains(row.family) { families.append(row.family) }
        for family in families {
            s += "<h2>\(escape(family == "blk" ? "Disks" : family == "net" ? "Network" : family == "mem" ? "Memory" : family))</h2>\n"
            if family == "mem" {
                // One chart for every STREAM kernel and node pair, one curve for the chase sizes.
                if let chart = memoryBandwidthChart(r.rows) { s += chart }
                if let chart = chaseChart(r.rows) { s += chart }
                s += configurationBox(notes.filter { $0.family == family })
                continue
            }
            var workloads: [String] = []
            for row in r.rows where row.family == family && !workloads.contains(row.workload) { workloads.append(row.workload) }
            for w in workloads {
                s += "<h3>\(escape(w))</h3>\n"
                let headline = ReportBuilder.metrics(family: family).first { m in r.rows.contains { $0.family == family && $0.workload == w && $0.metric == m.key } }
                if let m = headline, let chart = ratioChart(r.rows.filter { $0.family == family && $0.workload == w && $0.metric == m.key }, title: "\(w) \(m.displayName)") {
                    s += chart
                }
                if let chart = latencyChart(r.curves.filter { $0.family == family && $0.workload == w }, title: w) { s += chart }
                s += configurationBox(notes.filter { $0.family == family && $0.workload == w })
            }
        }
        let t = ReportRender.table(r)
        s += "<h2>All values</h2>\n<table><thead><tr>" + t.header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in t.rows {
            s += "<tr>" + row.enumerated().map { i, c in
                if i == row.count - 1, let mark = c.split(separator: " ").first(where: { $0.hasPrefix("⚠") }) {
                    let noisy = c.hasPrefix("NOISY") ? "<span class=\"noisy\">NOISY</span> " : ""
                    return "<td class=\"costly-mark\">\(noisy)<a href=\"#costly-\(mark.dropFirst())\">\(escape(String(mark)))</a></td>"
                }
                let cls = t.numeric.contains(i) ? " class=\"n\"" : (c == "NOISY" ? " class=\"noisy\"" : "")
                return "<td\(cls)>\(escape(c))</td>"
            }.joined() + "</tr>\n"
        }
        s += "</tbody></table>\n"
        if !notes.isEmpty {
            s += "<h2>Costly configurations</h2><div class=\"costly\" role=\"note\"><p>\(escape(ReportRender.configurationHeading)).</p><ol class=\"configurations\">"
            for n in notes {
                s += "<li id=\"costly-\(n.number)\" value=\"\(n.number)\"><b>\(escape(n.marker)) \(escape(n.title))</b><ul>"
                    + n.lines.map { "<li>warning: \(escape($0))</li>" }.joined() + "</ul></li>"
            }
            s += "</ol></div>\n"
        }
        if !r.warnings.isEmpty { s += "<h2>Warnings</h2><ul class=\"warnings\">" + r.warnings.map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n" }
        if !r.advice.isEmpty { s += "<h2>Advice</h2><ul class=\"advice\">" + r.advice.map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n" }
        s += "<h2>Method</h2><ul>" + r.method.map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n</body></html>\n"
        return s
    }
}
