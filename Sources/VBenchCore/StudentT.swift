import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Student's t distribution: CDF through the regularized incomplete beta function, quantiles by
/// bisection. Accurate to about 1e-10, more than the confidence intervals need.
public enum StudentT {
    /// P(T ≤ t) for `degreesOfFreedom` > 0.
    public static func cdf(_ t: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(nu > 0, "degrees of freedom must be positive")
        let x = nu / (nu + t * t)
        let tail = 0.5 * regularizedIncompleteBeta(x, a: nu / 2, b: 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// Quantiles already computed, by (p, ν): every summary of n samples asks for the same
    /// few, and each costs a bisection over the incomplete beta function.
    private static let known = Mutex<[QuantileKey: Double]>([:])
    private struct QuantileKey: Hashable { var p: UInt64, nu: UInt64 }

    /// The t with P(T ≤ t) = `p`, for 0 < p < 1.
    public static func quantile(_ p: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(p > 0 && p < 1, "p must be in (0, 1)")
        let key = QuantileKey(p: p.bitPattern, nu: nu.bitPattern)
        if let q = known.withLock({ $0[key] }) { return q }
        let q = bisectQuantile(p, degreesOfFreedom: nu)
        known.withLock { table in
            if table.count > 100_000 { table.removeAll() }  // bounded: fractional ν from Welch–Satterthwaite are many
            table[key] = q
        }
        return q
    }

    private static func bisectQuantile(_ p: Double, degreesOfFreedom nu: Double) -> Double {
        var lo = -1e6, hi = 1e6
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if cdf(mid, degreesOfFreedom: nu) < p { lo = mid } else { hi = mid }
            if hi - lo < 1e-12 * Swift.max(1, abs(mid)) { break }
        }
        return (lo + hi) / 2
    }

    /// I_x(a, b) by Lentz's continued fraction.
    static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let lnFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(1 - x)
        let front = exp(lnFront)
        if x < (a + 1) / (a + b + 2) {
            return front * betaContinuedFraction(x, a: a, b: b) / a
        }
        return 1 - front * betaContinuedFraction(1 - x, a: b, b: a) / b
    }

    private static func betaContinuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...300 {
            let m = Double(m)
            var num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + num * d; if abs(d) < tiny { d = tiny }
            c = 1 + num / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + num * d; if abs(d) < tiny { d = tiny }
            c = 1 + num / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return h
    }
}
