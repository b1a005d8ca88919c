#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of a two-sample permutation test on the difference of means.
public struct PermutationTest: Sendable, Equatable, Codable {
    /// Two-sided p-value: the share of relabelings whose |mean difference| reaches the observed one.
    public var pValue: Double
    /// The smallest p-value these sample sizes can produce (2 / C(n+m, n) when exact): when it
    /// is above α no outcome could be significant, and the honest answer is "more samples".
    public var smallestPossible: Double
    /// True when every relabeling was enumerated; false when they were sampled.
    public var exact: Bool
    /// Relabelings evaluated.
    public var rounds: Int
}

/// A ratio of two means with a confidence interval.
public struct RatioInterval: Sendable, Equatable, Codable {
    public var ratio: Double
    public var low: Double
    public var high: Double
    /// Welch–Satterthwaite degrees of freedom of the interval (nil: an interval was not possible).
    public var degreesOfFreedom: Double?

    public init(ratio: Double, low: Double, high: Double, degreesOfFreedom: Double?) {
        self.ratio = ratio
        self.low = low
        self.high = high
        self.degreesOfFreedom = degreesOfFreedom
    }
}

/// Tests and intervals the reporter and `compare` rest on. Deterministic: sampled permutations
/// come from a seeded generator, so the same data always gives the same verdict.
public enum Significance {
    /// Two-sided permutation test of "a and b come from one distribution" with the difference
    /// of means as statistic. Exact (every relabeling) when there are at most `exactLimit`,
    /// else `rounds` random relabelings, p = (hits + 1) / (rounds + 1).
    public static func permutationTest(_ a: [Double], _ b: [Double], rounds: Int = 20_000, exactLimit: Int = 200_000,
                                       seed: UInt64 = 0x5eed) -> PermutationTest? {
        guard !a.isEmpty, !b.isEmpty, (a + b).allSatisfy(\.isFinite) else { return nil }
        let all = a + b
        let n = a.count, total = all.count
        let sumAll = all.reduce(0, +)
        let observed = abs(mean(a) - mean(b))
        // A relabeling's statistic from the sum of the first group alone.
        func statistic(_ sumA: Double) -> Double { abs(sumA / Double(n) - (sumAll - sumA) / Double(total - n)) }
        // Ties in floating point: count "at least as extreme" with a relative tolerance.
        let tolerance = 1e-12 * max(1, abs(observed))
        let count = binomial(total, n)
        if let c = count, c <= Double(exactLimit) {
            var hits = 0, seen = 0
            var index = Array(0..<n)
            while true {
                let s = index.reduce(0.0) { $0 + all[$1] }
                if statistic(s) >= observed - tolerance { hits += 1 }
                seen += 1
                // Next combination in lexicographic order.
                var i = n - 1
                while i >= 0 && index[i] == total - n + i { i -= 1 }
                if i < 0 { break }
                index[i] += 1
                for j in (i + 1)..<n { index[j] = index[j - 1] + 1 }
            }
            return PermutationTest(pValue: Double(hits) / Double(seen), smallestPossible: 1 / c * (observedIsSymmetric(n, total) ? 2 : 1),
                                   exact: true, rounds: seen)
        }
        var rng = SplitMix64(seed: seed)
        var pool = all
        var hits = 0
        for _ in 0..<rounds {
            // A partial Fisher–Yates shuffle puts a random first group in pool[0..<n].
            var s = 0.0
            for i in 0..<n {
                let j = i + Int(rng.next() % UInt64(total - i))
                pool.swapAt(i, j)
                s += pool[i]
            }
            if statistic(s) >= observed - tolerance { hits += 1 }
        }
        return PermutationTest(pValue: Double(hits + 1) / Double(rounds + 1), smallestPossible: 1 / Double(rounds + 1),
                               exact: false, rounds: rounds)
    }

    /// With equal group sizes every relabeling has a mirror with the same |difference|: the
    /// observed one and its mirror are always both counted.
    static func observedIsSymmetric(_ n: Int, _ total: Int) -> Bool { 2 * n == total }

    /// The ratio mean(a) / mean(b) with a `confidence` interval by the delta method on the log
    /// scale: var(log x̄) ≈ s² / (n x̄²), Welch–Satterthwaite degrees of freedom, Student t.
    /// One sample on a side gives the ratio without an interval.
    public static func ratioOfMeans(_ a: [Double], _ b: [Double], confidence: Double = 0.95) -> RatioInterval? {
        guard !a.isEmpty, !b.isEmpty else { return nil }
        let ma = mean(a), mb = mean(b)
        guard ma > 0, mb > 0 else { return nil }
        let ratio = ma / mb
        guard a.count >= 2, b.count >= 2 else { return RatioInterval(ratio: ratio, low: ratio, high: ratio, degreesOfFreedom: nil) }
        let va = variance(a) / (Double(a.count) * ma * ma)
        let vb = variance(b) / (Double(b.count) * mb * mb)
        let v = va + vb
        // No spread on either side: the ratio is exact (degrees of freedom as for pooled samples).
        guard v > 0 else { return RatioInterval(ratio: ratio, low: ratio, high: ratio, degreesOfFreedom: Double(a.count + b.count - 2)) }
        let df = v * v / (va * va / Double(a.count - 1) + vb * vb / Double(b.count - 1))
        let t = StudentT.quantile(0.5 + confidence / 2, degreesOfFreedom: max(df, 1))
        let half = t * v.squareRoot()
        return RatioInterval(ratio: ratio, low: ratio * exp(-half), high: ratio * exp(half), degreesOfFreedom: df)
    }

    public static func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(x.count) }

    /// Sample variance (n − 1).
    public static func variance(_ x: [Double]) -> Double {
        guard x.count >= 2 else { return 0 }
        let m = mean(x)
        return x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)
    }

    /// C(n, k) as a Double, nil when it exceeds 1e15.
    static func binomial(_ n: Int, _ k: Int) -> Double? {
        let k = min(k, n - k)
        var c = 1.0
        for i in 0..<max(k, 0) {
            c = c * Double(n - i) / Double(i + 1)
            if c > 1e15 { return nil }
        }
        return c.rounded()
    }
}

/// splitmix64: a small, seedable generator with good statistical quality (Steele et al. 2014).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
