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
    /// Relabelings evaluated (0 with the normal approximation).
    public var rounds: Int
    /// Set when p comes from the permutation distribution's normal approximation (both
    /// sides of `Significance.normalApproximationSize` samples or more) instead of relabelings.
    public var approximation: String?

    public init(pValue: Double, smallestPossible: Double, exact: Bool, rounds: Int, approximation: String? = nil) {
        self.pValue = pValue
        self.smallestPossible = smallestPossible
        self.exact = exact
        self.rounds = rounds
        self.approximation = approximation
    }
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
    /// else `rounds` random relabelings, p = (hits + 1) / (rounds + 1) (or h / draws when
    /// `stopAfterHits` are reached first, Besag–Clifford); with `approximateFrom`
    /// samples a side or more, the distribution's normal approximation.
    public static func permutationTest(_ a: [Double], _ b: [Double], rounds: Int = 20_000, exactLimit: Int = 200_000,
                                       seed: UInt64 = 0x5eed, approximateFrom: Int = normalApproximationSize,
                                       stopAfterHits: Int? = sequentialHits) -> PermutationTest? {
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
        if min(n, total - n) >= approximateFrom {
            return normalApproximation(all: all, n: n, observed: observed)
        }
        var rng = SplitMix64(seed: seed)
        var pool = all
        var hits = 0
        for round in stride(from: 1, through: rounds, by: 1) {
            // A partial Fisher–Yates shuffle puts a random first group in pool[0..<n].
            var s = 0.0
            for i in 0..<n {
                let j = i + Int(rng.next() % UInt64(total - i))
                pool.swapAt(i, j)
                s += pool[i]
            }
            if statistic(s) >= observed - tolerance {
                hits += 1
                // Besag–Clifford: stopped at the h-th relabeling as extreme, p = h / draws is a
                // valid p-value; a large p is known after a few dozen draws, not 20,000.
                if let h = stopAfterHits, hits == h, round < rounds {
                    return PermutationTest(pValue: Double(h) / Double(round), smallestPossible: 1 / Double(rounds + 1),
                                           exact: false, rounds: round)
                }
            }
        }
        return PermutationTest(pValue: Double(hits + 1) / Double(rounds + 1), smallestPossible: 1 / Double(rounds + 1),
                               exact: false, rounds: rounds)
    }

    /// From this many samples a side, the permutation test uses the normal approximation of
    /// its distribution instead of sampling relabelings (which cost rounds × n: at a fleet's
    /// thousands of runs a side, minutes per metric).
    public static let normalApproximationSize = 200

    /// Sampled relabelings stop at this many as extreme as the observed (Besag & Clifford,
    /// "Sequential Monte Carlo p-values", Biometrika 1991): p = h / draws, valid as it stands,
    /// and only p below h / rounds (0.001 at 20,000 rounds) needs every round.
    public static let sequentialHits = 20

    /// The permutation distribution of the difference of means has mean 0 and variance
    /// σ² · N/(N−1) · (1/n + 1/m) exactly (σ² the pooled values' variance over N); by the
    /// combinatorial central limit theorem (Wald–Wolfowitz, Hoeffding, Hájek) it is normal as
    /// n and m grow. Two-sided p = erfc(z/√2).
    static func normalApproximation(all: [Double], n: Int, observed: Double) -> PermutationTest {
        let total = all.count
        let m = total - n
        let mean = all.reduce(0, +) / Double(total)
        let populationVariance = all.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(total)
        let variance = populationVariance * Double(total) / Double(total - 1) * (1 / Double(n) + 1 / Double(m))
        let p: Double
        if variance > 0 {
            p = min(1, erfc(observed / variance.squareRoot() / 2.0.squareRoot()))
        } else {
            p = observed > 0 ? 0 : 1
        }
        let smallest = binomial(total, n).map { (observedIsSymmetric(n, total) ? 2 : 1) / $0 } ?? 0
        return PermutationTest(pValue: p, smallestPossible: smallest, exact: false, rounds: 0,
                               approximation: "normal (combinatorial CLT; \(n) and \(m) samples)")
    }

    /// With equal group sizes every relabeling has a mirror with the same |difference|: the
    /// observed one and its mirror are always both counted.
    static func observedIsSymmetric(_ n: Int, _ total: Int) -> Bool { 2 * n == total }

    /// The ratio mean(a) / mean(b) with a `confidence` interval by the delta method on the log
    /// scale: var(log x̄) ≈ s² / (n x̄²), Welch–Satterthwaite degrees of freedom, Student t.
    /// One sample on a side gives the ratio without an interval.
    public static func ratioOfMeans(_ a: [Double], _ b: [Double], confidence: Double = 0.95) -> RatioInterval? {
        ratioOfMeans(SampleMoments(a), SampleMoments(b), confidence: confidence)
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
