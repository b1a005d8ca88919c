#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fisher's F distribution: CDF through the regularized incomplete beta function, quantiles by
/// bisection (as `StudentT`).
public enum FDistribution {
    /// P(F ≤ f) with `d1` and `d2` degrees of freedom (both > 0).
    public static func cdf(_ f: Double, d1: Double, d2: Double) -> Double {
        precondition(d1 > 0 && d2 > 0, "degrees of freedom must be positive")
        guard f > 0 else { return 0 }
        guard f.isFinite else { return 1 }
        return StudentT.regularizedIncompleteBeta(d1 * f / (d1 * f + d2), a: d1 / 2, b: d2 / 2)
    }

    /// The f with P(F ≤ f) = `p`, for 0 < p < 1.
    public static func quantile(_ p: Double, d1: Double, d2: Double) -> Double {
        precondition(p > 0 && p < 1, "p must be in (0, 1)")
        var lo = 0.0, hi = 1.0
        while cdf(hi, d1: d1, d2: d2) < p && hi < 1e12 { hi *= 2 }
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if cdf(mid, d1: d1, d2: d2) < p { lo = mid } else { hi = mid }
            if hi - lo < 1e-12 * Swift.max(1e-6, mid) { break }
        }
        return (lo + hi) / 2
    }
}
