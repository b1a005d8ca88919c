/// Parsing and printing of byte counts with binary suffixes (`4k`, `1MiB`, `16m`, `2G`).
public enum ByteCount {
    /// Parses `512`, `4k`, `4K`, `4KiB`, `1m`, `1MiB`, `2g`, `1t` (all binary multiples).
    public static func parse(_ text: String) -> UInt64? {
        let s = text.trimmingSpaces().lowercased()
        guard !s.isEmpty else { return nil }
        let digits = s.prefix { $0.isNumber }
        guard let value = UInt64(digits) else { return nil }
        var suffix = s.dropFirst(digits.count)
        if suffix.hasSuffix("ib") { suffix = suffix.dropLast(2) } else if suffix.hasSuffix("b") { suffix = suffix.dropLast() }
        let shift: UInt64
        switch suffix {
        case "": shift = 0
        case "k": shift = 10
        case "m": shift = 20
        case "g": shift = 30
        case "t": shift = 40
        default: return nil
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : result
    }

    /// `4k`, `1m`, `512`: the shortest exact binary name.
    public static func shortName(_ bytes: UInt64) -> String {
        for (shift, unit) in [(40, "t"), (30, "g"), (20, "m"), (10, "k")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> UInt64(shift))\(unit)"
        }
        return "\(bytes)"
    }

    /// `1.5 GiB`, `512 B`: a human-readable size.
    public static func human(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes)
        var i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(bytes) B" : "\(formatFixed(v, digits: 1)) \(units[i])"
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}

/// Formats `value` with `digits` decimals without Foundation.
public func formatFixed(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let negative = value < 0
    let scaled = (abs(value) * scale).rounded()
    let integer = UInt64(scaled / scale)
    let fraction = UInt64(scaled - Double(integer) * scale)
    var text = "\(integer)"
    if digits > 0 {
        var f = "\(fraction)"
        while f.count < digits { f = "0" + f }
        text += "." + f
    }
    return negative && scaled != 0 ? "-" + text : text
}
