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
            return "\(a.need.text) on \(a.device): \(n) guest\(n == 1 ? "" : "s"); \(b.resource) binds first (\(b.explanation))" + (others.isEmpty ? "" : "; then " + others.joined(separator: ", "))
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
