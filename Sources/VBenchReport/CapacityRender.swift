import VBenchCore

/// `vbench capacity` for people.
public enum CapacityRender {
    public static func table(_ p: CapacityPlan) -> ReportTable {
        var t = ReportTable(title: "", header: ["NEED", "DEVICE", "CLASS", "WORKLOAD", "ONE GUEST", "NATIVE", "GUESTS", "BINDS", "DEVICE USE", "CPU USE"],
                            numeric: [4, 5, 6, 8, 9])
        for a in p.answers {
            let unit = Metric.named(a.need.metric)?.unit ?? ""
            t.append([a.need.text, a.device, a.deviceClass.rawValue, a.workload, ValueFormat.format(a.guestValue, unit: unit),
                      a.nativeValue.map { ValueFormat.format($0, unit: unit) } ?? "-", a.guests.map(String.init) ?? "?",
                      a.binding ?? "-", a.utilization["device"].map { formatFixed($0 * 100, digits: 0) + "%" } ?? "-",
                      a.utilization["cpu"].map { formatFixed($0 * 100, digits: 0) + "%" } ?? "-"],
                     raw: [nil, nil, nil, nil, a.guestValue, a.nativeValue, a.guests.map(Double.init), nil, a.utilization["device"], a.utilization["cpu"]])
        }
        return t
    }

    static func lines(_ p: CapacityPlan) -> [String] {
        p.answers.map { a in
            guard let n = a.guests, let b = a.bounds.first(where: { $0.resource == a.binding }) else {
                return "\(a.need.text) on \(a.device): unknown (nothing measured bounds it)"
            }
            let others = a.bounds.filter { $0.resource != a.binding && $0.guests != nil }.map { "\($0.resource) \($0.guests!)" }
            let use = ["device", "cpu", "sweep"].compactMap { k in a.utilization[k].map { "\(k) \(formatFixed($0 * 100, digits: 0)) %" } }
            return "\(a.need.text) on \(a.device): \(n) guest\(n == 1 ? "" : "s"); \(b.resource) binds first (\(b.explanation))"
                + (others.isEmpty ? "" : "; then " + others.joined(separator: ", "))
                + (use.isEmpty ? "" : "; at \(n) guests: " + use.joined(separator: ", ") + " used (the rest is headroom)")
        }
    }

    public static func text(_ p: CapacityPlan) -> String {
        var s = "vbench capacity: \(p.hostCores) host cores" + (p.p99MaxNs.map { ", p99 at most \(ValueFormat.duration($0))" } ?? "") + "\n\n"
        s += lines(p).map { "  " + $0 }.joined(separator: "\n") + "\n\n"
        s += TableRenderer.text(table(p)) + "\n"
        if !p.warnings.isEmpty { s += "\nWarnings:\n" + p.warnings.map { "  - " + $0 }.joined(separator: "\n") + "\n" }
        s += "\nModel and assumptions:\n" + p.model.map { "  - " + $0 }.joined(separator: "\n") + "\n"
        return s
    }

    public static func markdown(_ p: CapacityPlan) -> String {
        var s = "# vbench capacity\n\n\(p.hostCores) host cores" + (p.p99MaxNs.map { ", p99 at most \(ValueFormat.duration($0))" } ?? "") + ".\n\n"
        s += lines(p).map { "- \($0)" }.joined(separator: "\n") + "\n\n" + TableRenderer.markdown(table(p))
        if !p.warnings.isEmpty { s += "\n## Warnings\n\n" + p.warnings.map { "- \($0)" }.joined(separator: "\n") + "\n" }
        s += "\n## Model and assumptions\n\n" + p.model.map { "- \($0)" }.joined(separator: "\n") + "\n"
        return s
    }
}

extension CapacityRender {
    /// Aggregate throughput against concurrent guests: measured points, the USL curve, its knee,
    /// and the line of what N guests need (N × need): guests fit while the curve is above it.
    static func sweepChart(_ a: CapacityAnswer) -> String? {
        guard a.sweep.count >= 2 else { return nil }
        let unit = Metric.named(a.need.metric)?.unit ?? ""
        let maxN = Double(max(a.sweep.map(\.guests).max() ?? 1, Int((a.usl?.knee ?? 0).rounded(.up)), a.guests ?? 0, 2)) * 1.25
        let fitted = a.usl.map { f in stride(from: 1.0, through: maxN, by: maxN / 60).map { ($0, f.throughput($0)) } } ?? []
        let maxX = max((a.sweep.map(\.aggregate) + fitted.map(\.1)).max() ?? 1, a.need.value * 2) * 1.1
        let width = 640.0, height = 300.0, left = 90.0, right = 20.0, top = 20.0, bottom = 40.0
        func x(_ n: Double) -> Double { left + (width - left - right) * (n - 1) / max(maxN - 1, 1) }
        func y(_ v: Double) -> Double { top + (height - top - bottom) * (1 - min(v, maxX) / maxX) }
        func f(_ v: Double) -> String { formatFixed(v, digits: 1) }
        var s = "<figure class=\"chart\" data-kind=\"usl-sweep\"><figcaption>\(HTMLRender.escape("\(a.need.text) on \(a.device): aggregate \(a.workload) against concurrent guests"))</figcaption>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">\n"
        s += "<line x1=\"\(f(left))\" x2=\"\(f(left))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" stroke=\"#999\"/><line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(height - bottom))\" y2=\"\(f(height - bottom))\" stroke=\"#999\"/>\n"
        for n in stride(from: 1, through: Int(maxN), by: max(1, Int(maxN) / 8)) {
            s += "<text class=\"axis\" x=\"\(f(x(Double(n))))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"middle\">\(n)</text>"
        }
        s += "<text class=\"axis\" x=\"\(f(left - 6))\" y=\"\(f(y(maxX / 1.1) + 4))\" text-anchor=\"end\">\(HTMLRender.escape(ValueFormat.format(maxX / 1.1, unit: unit)))</text>\n"
        let need = [(1.0, a.need.value), (maxN, a.need.value * maxN)].map { "\(f(x($0.0))),\(f(y($0.1)))" }.joined(separator: " ")
        s += "<polyline class=\"need\" fill=\"none\" stroke=\"#b91c1c\" stroke-dasharray=\"5 4\" points=\"\(need)\"><title>N × need</title></polyline>\n"
        if !fitted.isEmpty {
            s += "<polyline class=\"usl\" fill=\"none\" stroke=\"#1d4ed8\" stroke-width=\"2\" points=\"\(fitted.map { "\(f(x($0.0))),\(f(y($0.1)))" }.joined(separator: " "))\"><title>USL fit</title></polyline>\n"
        }
        if let k = a.usl?.knee, k <= maxN, let fit = a.usl {
            s += "<line class=\"knee\" x1=\"\(f(x(k)))\" x2=\"\(f(x(k)))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" stroke=\"#1d4ed8\" stroke-dasharray=\"2 3\"/>"
            s += "<text class=\"axis\" x=\"\(f(x(k) + 4))\" y=\"\(f(top + 12))\">knee \(formatFixed(k, digits: 1)) (\(HTMLRender.escape(ValueFormat.format(fit.throughput(k), unit: unit))))</text>\n"
        }
        for p in a.sweep {
            s += "<circle class=\"measured\" cx=\"\(f(x(Double(p.guests))))\" cy=\"\(f(y(p.aggregate)))\" r=\"4\" fill=\"#15803d\"><title>\(p.guests) guests: \(HTMLRender.escape(ValueFormat.format(p.aggregate, unit: unit)))</title></circle>"
        }
        s += "\n<text class=\"axis\" x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\">concurrent guests</text>\n</svg></figure>\n"
        return s
    }

    /// The plan as a self-contained page: the answers, a sweep chart per answer that has one,
    /// the table, warnings, and the model.
    public static func html(_ p: CapacityPlan) -> String {
        var s = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>vbench capacity</title>
            <style>body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#111}
            table{border-collapse:collapse;font-size:12px}th,td{padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:left}
            svg text{font:12px system-ui,sans-serif}figcaption{font-weight:600}</style></head><body>
            <h1>vbench capacity</h1>
            <p>\(p.hostCores) host cores\(p.p99MaxNs.map { ", p99 at most \(HTMLRender.escape(ValueFormat.duration($0)))" } ?? "").</p>

            """
        s += "<ul>" + lines(p).map { "<li>\(HTMLRender.escape($0))</li>" }.joined() + "</ul>\n"
        for a in p.answers { if let c = sweepChart(a) { s += c } }
        let t = table(p)
        s += "<table><thead><tr>" + t.header.map { "<th>\(HTMLRender.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for r in t.rows { s += "<tr>" + r.map { "<td>\(HTMLRender.escape($0))</td>" }.joined() + "</tr>" }
        s += "</tbody></table>\n"
        if !p.warnings.isEmpty { s += "<h2>Warnings</h2><ul>" + p.warnings.map { "<li>\(HTMLRender.escape($0))</li>" }.joined() + "</ul>\n" }
        s += "<h2>Model and assumptions</h2><ul>" + p.model.map { "<li>\(HTMLRender.escape($0))</li>" }.joined() + "</ul>\n</body></html>\n"
        return s
    }
}
