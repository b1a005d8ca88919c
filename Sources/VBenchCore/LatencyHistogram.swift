/// A mergeable log-linear histogram of non-negative integer values (nanoseconds).
///
/// Values below `2^precisionBits` are kept exactly. Every octave `[2^m, 2^(m+1))` above that is
/// split into `2^precisionBits` equal buckets of width `2^(m - precisionBits)`. A value is
/// reported as the midpoint of its bucket, so the relative error of any reported value (and so
/// of any percentile) is at most `2^-(precisionBits+1)`: 0.049 % at the default 10 bits. The
/// bound is tested in `LatencyHistogramTests`.
///
/// Two histograms with the same precision merge by adding counts, so percentiles of several
/// jobs, repetitions or runs can be computed from their merged histogram.
public struct LatencyHistogram: Sendable, Equatable {
    /// Bits of sub-bucket resolution per octave.
    public let precisionBits: Int
    /// Dense counts indexed by bucket; grows on demand.
    public private(set) var counts: [UInt64]
    /// Number of recorded values.
    public internal(set) var totalCount: UInt64 = 0
    /// Exact smallest recorded value (UInt64.max when empty).
    public internal(set) var minValue: UInt64 = .max
    /// Exact largest recorded value (0 when empty).
    public internal(set) var maxValue: UInt64 = 0
    /// Exact sum of recorded values (wrapping is not expected: 2^64 ns is 584 years).
    public internal(set) var sum: UInt64 = 0

    /// The default precision: relative error ≤ 0.049 %.
    public static let defaultPrecisionBits = 10

    /// The relative error bound of reported values for a given precision.
    public static func relativeErrorBound(precisionBits: Int) -> Double {
        1.0 / Double(1 << (precisionBits + 1))
    }

    /// Creates an empty histogram; `precisionBits` must be 1…16.
    public init(precisionBits: Int = LatencyHistogram.defaultPrecisionBits) {
        precondition((1...16).contains(precisionBits), "precisionBits must be 1…16")
        self.precisionBits = precisionBits
        self.counts = [UInt64](repeating: 0, count: 2 << precisionBits)
    }

    /// The bucket index of `value`.
    @inlinable
    public static func bucketIndex(of value: UInt64, precisionBits p: Int) -> Int {
        let sub = UInt64(1) << UInt64(p)
        if value < sub { return Int(value) }
        let m = 63 - value.leadingZeroBitCount            // octave: 2^m <= value < 2^(m+1)
        let shift = m - p
        let offset = Int((value >> UInt64(shift)) - sub)  // 0 ..< 2^p
        return (m - p + 1) << p + offset
    }

    /// The half-open value range `[lower, upper)` of bucket `index`. The very last bucket ends at
    /// 2^64, which UInt64 cannot hold: its `upper` is UInt64.max (that value then falls inside).
    public static func bucketRange(of index: Int, precisionBits p: Int) -> (lower: UInt64, upper: UInt64) {
        let sub = 1 << p
        if index < sub { return (UInt64(index), UInt64(index) + 1) }
        let octaveStep = index >> p                        // = m - p + 1
        let offset = UInt64(index & (sub - 1))
        let shift = UInt64(octaveStep - 1)
        let lower = (UInt64(sub) + offset) << shift
        let (upper, overflow) = lower.addingReportingOverflow(UInt64(1) << shift)
        return (lower, overflow ? .max : upper)
    }

    /// The value a percentile reports for `value`: its bucket's midpoint (exact below 2^p).
    public static func reportedValue(of value: UInt64, precisionBits p: Int) -> UInt64 {
        let (lower, upper) = bucketRange(of: bucketIndex(of: value, precisionBits: p), precisionBits: p)
        return upper - lower == 1 ? lower : lower + (upper - lower) / 2
    }

    /// Records one value.
    @inlinable
    public mutating func record(_ value: UInt64) {
        record(value, count: 1)
    }

    /// Fills an empty histogram from ascending (bucket index, count) pairs in one allocation;
    /// `totalCount`, `sum` and the extremes are the caller's to set (the compact reader has them).
    mutating func setCounts(_ buckets: [(index: Int, count: UInt64)]) {
        if let last = buckets.last?.index, last >= counts.count {
            counts.append(contentsOf: repeatElement(0, count: last + 1 - counts.count))
        }
        for b in buckets { counts[b.index] = b.count }
        totalCount = buckets.reduce(0) { $0 &+ $1.count }
        if let first = buckets.first { minValue = Self.bucketRange(of: first.index, precisionBits: precisionBits).lower }
        if let last = buckets.last { maxValue = Self.bucketRange(of: last.index, precisionBits: precisionBits).lower }
    }

    /// Records `count` occurrences of `value`.
    public mutating func record(_ value: UInt64, count: UInt64) {
        guard count > 0 else { return }
        let index = Self.bucketIndex(of: value, precisionBits: precisionBits)
        if index >= counts.count {
            counts.append(contentsOf: repeatElement(0, count: index + 1 - counts.count + (1 << precisionBits)))
        }
        counts[index] &+= count
        totalCount &+= count
        sum &+= value &* count
        if value < minValue { minValue = value }
        if value > maxValue { maxValue = value }
    }

    /// Adds every count of `other`; both must have the same precision.
    public mutating func merge(_ other: LatencyHistogram) throws(HistogramError) {
        guard other.precisionBits == precisionBits else {
            throw .precisionMismatch(precisionBits, other.precisionBits)
        }
        add(other)
    }

    /// Adds the counts of `other`, of the same precision.
    private mutating func add(_ other: LatencyHistogram) {
        guard other.totalCount > 0 else { return }
        if other.counts.count > counts.count {
            counts.append(contentsOf: repeatElement(0, count: other.counts.count - counts.count))
        }
        for (index, count) in other.counts.enumerated() where count > 0 {
            counts[index] &+= count
        }
        totalCount &+= other.totalCount
        sum &+= other.sum
        minValue = min(minValue, other.minValue)
        maxValue = max(maxValue, other.maxValue)
    }

    /// The same values at a coarser precision `p` (≤ this one's). Exact: every bucket of a finer
    /// precision lies inside one bucket of a coarser one (an octave's 2^(p+1) buckets pair up into
    /// its 2^p), so each count moves whole; count, sum, min and max are unchanged.
    public func reduced(toPrecision p: Int) -> LatencyHistogram {
        precondition(p <= precisionBits && (1...16).contains(p), "reduced(toPrecision:) goes to a coarser precision, 1…16")
        guard p < precisionBits else { return self }
        var out = LatencyHistogram(precisionBits: p)
        for (index, count) in counts.enumerated() where count > 0 {
            let target = Self.bucketIndex(of: Self.bucketRange(of: index, precisionBits: precisionBits).lower, precisionBits: p)
            if target >= out.counts.count { out.counts.append(contentsOf: repeatElement(0, count: target + 1 - out.counts.count)) }
            out.counts[target] &+= count
        }
        out.totalCount = totalCount
        out.sum = sum
        out.minValue = minValue
        out.maxValue = maxValue
        return out
    }

    /// Adds every count of `other`, whatever its precision: at the coarser of the two (this
    /// histogram becomes coarser when `other` is). Never drops a count, where `merge` refuses.
    public mutating func absorb(_ other: LatencyHistogram) {
        let p = min(precisionBits, other.precisionBits)
        if p < precisionBits { self = reduced(toPrecision: p) }
        add(other.reduced(toPrecision: p))
    }

    /// Arithmetic mean of the recorded values (exact), or nil when empty.
    public var mean: Double? {
        totalCount == 0 ? nil : Double(sum) / Double(totalCount)
    }

    /// The value at percentile `p` (0…100) by nearest rank, as the midpoint of its bucket
    /// clamped to the exact min and max; nil when empty.
    public func value(atPercentile p: Double) -> UInt64? {
        guard totalCount > 0 else { return nil }
        let clamped = min(max(p, 0), 100)
        // Nearest rank: the smallest value with at least ceil(p/100 * n) values at or below it.
        var rank = UInt64((clamped / 100 * Double(totalCount)).rounded(.up))
        if rank == 0 { rank = 1 }
        // The extremes are known exactly.
        if rank == 1 { return minValue }
        if rank == totalCount { return maxValue }
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            seen += count
            if seen >= rank {
                let lower = Self.bucketRange(of: index, precisionBits: precisionBits).lower
                let mid = Self.reportedValue(of: lower, precisionBits: precisionBits)
                return min(max(mid, minValue), maxValue)
            }
        }
        return maxValue
    }

    /// The standard percentile set of a record: p50, p90, p99, p99.9, p99.99.
    /// One pass over the buckets for all five (each as `value(atPercentile:)` gives it).
    public func standardPercentiles() -> [String: UInt64] {
        guard totalCount > 0 else { return [:] }
        var out: [String: UInt64] = [:]
        // Ranks ascend with the points; the extremes are exact.
        var pending: [(name: String, rank: UInt64)] = []
        for (name, p) in Self.standardPercentilePoints {
            var rank = UInt64((min(max(p, 0), 100) / 100 * Double(totalCount)).rounded(.up))
            if rank == 0 { rank = 1 }
            if rank == 1 { out[name] = minValue } else if rank == totalCount { out[name] = maxValue } else { pending.append((name, rank)) }
        }
        var next = 0
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() where count > 0 && next < pending.count {
            seen += count
            while next < pending.count && seen >= pending[next].rank {
                let lower = Self.bucketRange(of: index, precisionBits: precisionBits).lower
                out[pending[next].name] = min(max(Self.reportedValue(of: lower, precisionBits: precisionBits), minValue), maxValue)
                next += 1
            }
        }
        for (name, _) in pending[next...] { out[name] = maxValue }
        return out
    }

    /// Names and values of the standard percentiles.
    public static let standardPercentilePoints: [(String, Double)] = [
        ("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9), ("p99.99", 99.99),
    ]

    /// Non-empty buckets as `(lowerBound, count)` pairs, ascending.
    public var nonEmptyBuckets: [(lower: UInt64, count: UInt64)] {
        counts.enumerated().compactMap { index, count in
            count == 0 ? nil : (Self.bucketRange(of: index, precisionBits: precisionBits).lower, count)
        }
    }
}

/// Why a histogram operation failed.
public enum HistogramError: Error, Equatable, CustomStringConvertible {
    case precisionMismatch(Int, Int)
    case bucketNotOnBoundary(UInt64)

    public var description: String {
        switch self {
        case let .precisionMismatch(a, b):
            "cannot merge histograms of different precision (\(a) and \(b) bits); recompute one from raw samples"
        case let .bucketNotOnBoundary(v):
            "histogram bucket lower bound \(v) is not a bucket boundary at this precision; the record is corrupt"
        }
    }
}

extension LatencyHistogram {
    /// Equal when they hold the same values: precision, count, extremes, sum and every bucket's
    /// count (the dense array's spare zero tail, which depends on how it grew, does not count).
    public static func == (a: LatencyHistogram, b: LatencyHistogram) -> Bool {
        guard a.precisionBits == b.precisionBits, a.totalCount == b.totalCount, a.minValue == b.minValue,
              a.maxValue == b.maxValue, a.sum == b.sum else { return false }
        let (short, long) = a.counts.count <= b.counts.count ? (a.counts, b.counts) : (b.counts, a.counts)
        for i in short.indices where short[i] != long[i] { return false }
        for i in short.count..<long.count where long[i] != 0 { return false }
        return true
    }
}
