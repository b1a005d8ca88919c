import VBenchCore

/// Values for people, by unit: `22.1k ops/s`, `2.80 Gbit/s`, `312.6 MB/s`, `1.64 ms`.
public enum ValueFormat {
    public static func format(_ v: Double, unit: String) -> String {
        switch unit {
        case "bit/s":
            if v >= 1e9 { return formatFixed(v / 1e9, digits: 2) + " Gbit/s" }
            return formatFixed(v / 1e6, digits: 1) + " Mbit/s"
        case "B/s":
            if v >= 1e9 { return formatFixed(v / 1e9, digits: 2) + " GB/s" }
            return formatFixed(v / 1e6, digits: 1) + " MB/s"
        case "ns": return duration(v)
        default: return count(v) + (unit.isEmpty ? "" : " " + unit)
        }
    }

    /// `1.25M`, `22.1k`, `950`, `3.25`.
    public static func count(_ v: Double) -> String {
        if abs(v) >= 1e6 { return formatFixed(v / 1e6, digits: 2) + "M" }
        if abs(v) >= 1e4 { return formatFixed(v / 1e3, digits: 1) + "k" }
        if abs(v) >= 100 { return formatFixed(v, digits: 0) }
        return formatFixed(v, digits: 2)
    }

    /// `85.0 µs`, `1.25 ms`, `950 ns`.
    public static func duration(_ ns: Double) -> String {
        if ns >= 1e9 { return formatFixed(ns / 1e9, digits: 2) + " s" }
        if ns >= 1e6 { return formatFixed(ns / 1e6, digits: 2) + " ms" }
        if ns >= 1e3 { return formatFixed(ns / 1e3, digits: 1) + " µs" }
        return formatFixed(ns, digits: 0) + " ns"
    }

    /// Terminal tables' compact count: `1.20M`, `12.3k`, `850`.
    public static func compactCount(_ v: Double) -> String {
        if v >= 1e6 { return formatFixed(v / 1e6, digits: 2) + "M" }
        if v >= 1e4 { return formatFixed(v / 1e3, digits: 1) + "k" }
        return formatFixed(v, digits: 0)
    }

    /// Terminal tables' compact latency: `85.0µs`, `1.25ms`, `950ns`.
    public static func compactDuration(_ ns: UInt64) -> String {
        let v = Double(ns)
        if v >= 1e9 { return formatFixed(v / 1e9, digits: 2) + "s" }
        if v >= 1e6 { return formatFixed(v / 1e6, digits: 2) + "ms" }
        if v >= 1e3 { return formatFixed(v / 1e3, digits: 1) + "µs" }
        return "\(ns)ns"
    }

    /// `+12.3%`, `-4.0%`.
    public static func percentChange(_ c: Double) -> String { (c >= 0 ? "+" : "") + formatFixed(c * 100, digits: 1) + "%" }

    /// `0.0079`, `0.12`, `<0.0001`.
    public static func pValue(_ p: Double) -> String {
        if p < 0.0001 { return "<0.0001" }
        if p < 0.01 { return formatFixed(p, digits: 4) }
        return formatFixed(p, digits: 3)
    }
}
