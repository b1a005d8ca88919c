#if canImport(Glibc)
import Glibc
#endif

/// What a mean, its 95 % interval, a coefficient of variation and a ratio of means need from a
/// set of samples: their number, mean and sample variance. A database computes these in one
/// grouped pass (`COUNT`, `AVG`, the variance), so a report over a fleet's history never holds
/// the samples themselves. Mergeable (Chan et al.), as partial aggregates are.
public struct SampleMoments: Sendable, Equatable, Codable {
    public var n: Int
    public var mean: Double
    /// Sample variance (n − 1); 0 below two samples.
    public var variance: Double

    public init(n: Int, mean: Double, variance: Double) {
        self.n = n
        self.mean = mean
        self.variance = n >= 2 ? Swift.max(0, variance) : 0
    }

    /// The moments of `samples`, computed as `Significance.mean` and `variance` do (so a
    /// ratio from these equals the one from the samples, bit for bit).
    /// Equal samples have variance 0 and their value as mean exactly (a sum divided back can
    /// be an ulp off, and a variance of that noise would make an interval's degrees of freedom
    /// up; a database's MIN = MAX says the same).
    public init(_ samples: [Double]) {
        if let first = samples.first, samples.allSatisfy({ $0 == first }) {
            self.init(n: samples.count, mean: first, variance: 0)
        } else {
            self.init(n: samples.count, mean: samples.isEmpty ? 0 : Significance.mean(samples), variance: Significance.variance(samples))
        }
    }

    /// From a count, a sum and a sum of squares (what SQL engines without a variance aggregate
    /// give). Equal samples should be given as `init(n:mean:variance:)` with variance 0: the
    /// subtraction would leave rounding noise instead.
    public init(n: Int, sum: Double, sumOfSquares: Double) {
        let mean = n > 0 ? sum / Double(n) : 0
        let variance = n >= 2 ? (sumOfSquares - sum * mean) / Double(n - 1) : 0
        self.init(n: n, mean: mean, variance: variance)
    }

    public var standardDeviation: Double { variance.squareRoot() }

    /// stddev / |mean|; 0 below two samples or at a zero mean.
    public var cov: Double { n < 2 || mean == 0 ? 0 : standardDeviation / Swift.abs(mean) }

    /// The 95 % interval of the mean (Student t); nil below two samples.
    public var ci95: (low: Double, high: Double)? {
        guard n >= 2 else { return nil }
        let half = StudentT.quantile(0.975, degreesOfFreedom: Double(n - 1)) * standardDeviation / Double(n).squareRoot()
        return (mean - half, mean + half)
    }

    /// As if all samples of both had been one set.
    public mutating func merge(_ other: SampleMoments) {
        guard other.n > 0 else { return }
        guard n > 0 else { self = other; return }
        let total = Double(n + other.n)
        let delta = other.mean - mean
        let m2 = variance * Double(Swift.max(n - 1, 0)) + other.variance * Double(Swift.max(other.n - 1, 0))
            + delta * delta * Double(n) * Double(other.n) / total
        mean += delta * Double(other.n) / total
        n += other.n
        variance = m2 / Double(n - 1)
    }
}

extension Significance {
    /// `ratioOfMeans` from the two sides' moments: mean a / mean b with the delta-method
    /// interval on the log ratio and Welch–Satterthwaite degrees of freedom.
    public static func ratioOfMeans(_ a: SampleMoments, _ b: SampleMoments, confidence: Double = 0.95) -> RatioInterval? {
        guard a.n > 0, b.n > 0 else { return nil }
        let ma = a.mean, mb = b.mean
        guard ma > 0, mb > 0 else { return nil }
        let ratio = ma / mb
        guard a.n >= 2, b.n >= 2 else { return RatioInterval(ratio: ratio, low: ratio, high: ratio, degreesOfFreedom: nil) }
        let va = a.variance / (Double(a.n) * ma * ma)
        let vb = b.variance / (Double(b.n) * mb * mb)
        let v = va + vb
        // No spread on either side: the ratio is exact (degrees of freedom as for pooled samples).
        guard v > 0 else { return RatioInterval(ratio: ratio, low: ratio, high: ratio, degreesOfFreedom: Double(a.n + b.n - 2)) }
        let df = v * v / (va * va / Double(a.n - 1) + vb * vb / Double(b.n - 1))
        let t = StudentT.quantile(0.5 + confidence / 2, degreesOfFreedom: Swift.max(df, 1))
        let half = t * v.squareRoot()
        return RatioInterval(ratio: ratio, low: ratio * exp(-half), high: ratio * exp(half), degreesOfFreedom: df)
    }
}
