#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A step between the baseline and the candidate runs of a time series that may drift: the
/// segmented regression of an interrupted time series, y = β₀ + β₁·t + δ·[candidate] + e,
/// with the upgrade as the interruption (Wagner, Soumerai, Zhang & Ross-Degnan 2002,
/// "Segmented regression analysis of interrupted time series studies", J Clin Pharm Ther
/// 27:299–309). The trend β₁ is fitted through both sides; δ is the level change the upgrade
/// brought beyond it. δ is tested by the Freedman–Lane permutation (Freedman & Lane 1983,
/// J Bus Econ Stat 1:292–298; recommended by Winkler et al. 2014, NeuroImage 92:381–397):
/// residuals of the model without δ are permuted and δ's t statistic is recomputed, so the
/// test keeps compare's distribution-free footing while the trend is a nuisance parameter.
public struct LevelChange: Sendable, Equatable, Codable {
    /// δ, in the unit of the values, and its standard error (OLS).
    public var delta: Double
    public var standardError: Double
    /// Residual degrees of freedom (n − 3).
    public var degreesOfFreedom: Int
    /// The baseline's fitted level at the candidate runs' mean time (what the candidate would
    /// have shown without a change): the denominator of the relative change.
    public var expectedLevel: Double
    /// The fitted drift, in the unit of the values per day.
    public var slopePerDay: Double
    /// Variance inflation of δ by the trend: 1 / (1 − R²) of [candidate] on time. Large when
    /// the two sides are two bursts far apart, where a trend and a step cannot be told apart.
    public var varianceInflation: Double
    public var test: PermutationTest

    /// Above this inflation the step is not identifiable apart from a trend.
    public static let identifiableInflation = 10.0

    /// `times` in seconds, one per run; `candidate[i]` marks the candidate's runs. nil unless
    /// both sides have a run, there are at least 4 runs and the times vary.
    public static func test(times: [Double], values: [Double], candidate: [Bool], rounds: Int = 20_000,
                            seed: UInt64 = 0x5eed) -> LevelChange? {
        let n = values.count
        guard n >= 4, times.count == n, candidate.count == n, values.allSatisfy(\.isFinite), times.allSatisfy(\.isFinite),
              candidate.contains(true), candidate.contains(false) else { return nil }
        // Days from the mean time: well-conditioned columns.
        let mt = Significance.mean(times)
        let t = times.map { ($0 - mt) / 86_400 }
        let d = candidate.map { $0 ? 1.0 : 0.0 }
        let x: [[Double]] = (0..<n).map { [1, t[$0], d[$0]] }
        guard let xtxInverse = invert3(gram(x)) else { return nil }
        // The reduced model (intercept and trend): fitted values and residuals.
        let z = x.map { [$0[0], $0[1]] }
        guard let reduced = leastSquares2(z, values) else { return nil }
        let fitted = z.map { reduced.0 * $0[0] + reduced.1 * $0[1] }
        let residuals = zip(values, fitted).map { $0 - $1 }
        let df = n - 3
        func tStatistic(_ y: [Double]) -> (delta: Double, se: Double, t: Double) {
            var xty = [0.0, 0.0, 0.0]
            for i in 0..<n { for j in 0..<3 { xty[j] += x[i][j] * y[i] } }
            let beta = (0..<3).map { r in (0..<3).reduce(0.0) { $0 + xtxInverse[r][$1] * xty[$1] } }
            let yy = y.reduce(0) { $0 + $1 * $1 }
            let explained = (0..<3).reduce(0.0) { $0 + beta[$1] * xty[$1] }
            let rss = max(0, yy - explained)
            let se = (rss / Double(df) * xtxInverse[2][2]).squareRoot()
            return (beta[2], se, se > 0 ? beta[2] / se : (beta[2] == 0 ? 0 : .infinity))
        }
        // Observed: the full model on y (= fitted + residuals).
        let observed = tStatistic(values)
        // Permuted: δ's statistic on fitted + permuted residuals; the fitted part lies in the
        // reduced model's span and only shifts β₀, β₁.
        var rng = SplitMix64(seed: seed)
        var pool = residuals
        var hits = 0
        let tolerance = 1e-12 * max(1, abs(observed.t))
        var y = values
        for _ in 0..<rounds {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                pool.swapAt(i, j)
            }
            for i in 0..<n { y[i] = fitted[i] + pool[i] }
            if abs(tStatistic(y).t) >= abs(observed.t) - tolerance { hits += 1 }
        }
        // n! orderings exist: with few runs that, not the rounds, bounds how small p can get.
        let orderings = (1...n).reduce(1.0) { $0 * Double($1) }
        let test = PermutationTest(pValue: Double(hits + 1) / Double(rounds + 1), smallestPossible: max(1 / Double(rounds + 1), 1 / orderings),
                                   exact: false, rounds: rounds)
        // R² of the candidate indicator on time (with intercept).
        let dOnTime = leastSquares2(z, d)
        let dMean = Significance.mean(d)
        let ssTotal = d.reduce(0) { $0 + ($1 - dMean) * ($1 - dMean) }
        var ssResidual = 0.0
        if let (a, b) = dOnTime { for i in 0..<n { let e = d[i] - a - b * t[i]; ssResidual += e * e } }
        let inflation = ssResidual > 0 ? ssTotal / ssResidual : .infinity
        // The baseline's level at the candidate's mean time, from the full model without δ.
        var xty = [0.0, 0.0, 0.0]
        for i in 0..<n { for j in 0..<3 { xty[j] += x[i][j] * values[i] } }
        let beta = (0..<3).map { r in (0..<3).reduce(0.0) { $0 + xtxInverse[r][$1] * xty[$1] } }
        let candidateTimes = (0..<n).filter { candidate[$0] }.map { t[$0] }
        let tc = Significance.mean(candidateTimes)
        return LevelChange(delta: observed.delta, standardError: observed.se, degreesOfFreedom: df,
                           expectedLevel: beta[0] + beta[1] * tc, slopePerDay: beta[1], varianceInflation: inflation, test: test)
    }

    static func gram(_ x: [[Double]]) -> [[Double]] {
        let p = x.first?.count ?? 0
        var g = Array(repeating: Array(repeating: 0.0, count: p), count: p)
        for row in x { for i in 0..<p { for j in 0..<p { g[i][j] += row[i] * row[j] } } }
        return g
    }

    /// The inverse of a 3×3 matrix, nil when (nearly) singular.
    static func invert3(_ m: [[Double]]) -> [[Double]]? {
        let a = m[0][0], b = m[0][1], c = m[0][2], d = m[1][0], e = m[1][1], f = m[1][2], g = m[2][0], h = m[2][1], i = m[2][2]
        let co = [[e * i - f * h, -(d * i - f * g), d * h - e * g],
                  [-(b * i - c * h), a * i - c * g, -(a * h - b * g)],
                  [b * f - c * e, -(a * f - c * d), a * e - b * d]]
        let det = a * co[0][0] + b * co[0][1] + c * co[0][2]
        let scale = m.flatMap { $0 }.map(abs).max() ?? 1
        guard abs(det) > 1e-12 * scale * scale * scale else { return nil }
        // The inverse is the transposed cofactor matrix over the determinant.
        return (0..<3).map { r in (0..<3).map { s in co[s][r] / det } }
    }

    /// Least squares of y on two columns; nil when they are collinear.
    static func leastSquares2(_ z: [[Double]], _ y: [Double]) -> (Double, Double)? {
        var s00 = 0.0, s01 = 0.0, s11 = 0.0, r0 = 0.0, r1 = 0.0
        for (row, v) in zip(z, y) {
            s00 += row[0] * row[0]; s01 += row[0] * row[1]; s11 += row[1] * row[1]
            r0 += row[0] * v; r1 += row[1] * v
        }
        let det = s00 * s11 - s01 * s01
        guard abs(det) > 1e-12 * max(1, s00 * s11) else { return nil }
        return ((s11 * r0 - s01 * r1) / det, (s00 * r1 - s01 * r0) / det)
    }
}

/// What a test can see at the sizes given: the smallest true change it catches with a given
/// power, the usual "minimum detectable effect" of a two-sided test at α (Cohen 1988, ch. 2)
/// extended by compare's threshold: a change must be significant and beyond the threshold, so
/// the observed change must pass max(t₁₋α/₂·SE, threshold) and the true change must sit
/// t_power·SE above that.
public enum Detectability {
    /// The power at which detectable changes are stated.
    public static let power = 0.8

    /// The relative change caught with `power`, given the relative standard error of the change.
    public static func minimumChange(relativeSE se: Double, degreesOfFreedom df: Double, alpha: Double,
                                     threshold: Double, power: Double = Detectability.power) -> Double? {
        guard se.isFinite, se >= 0, df >= 1 else { return nil }
        let tAlpha = StudentT.quantile(1 - alpha / 2, degreesOfFreedom: df)
        let tPower = StudentT.quantile(power, degreesOfFreedom: df)
        return max(tAlpha * se, threshold) + tPower * se
    }

    /// Runs a side (equal sides) at which the test's own limit, (t₁₋α/₂ + t_power)·CoV·√(2/n),
    /// reaches `change`, and the permutation test can reach α at all; nil beyond `limit`.
    public static func runsNeeded(runCoV cov: Double, change: Double, alpha: Double, power: Double = Detectability.power,
                                  limit: Int = 1000) -> Int? {
        guard cov.isFinite, cov >= 0, change > 0 else { return nil }
        let floor = Comparator.minimumPerSide(alpha: alpha)
        for n in max(2, floor)...max(limit, floor) {
            let df = Double(2 * n - 2)
            let limitChange = (StudentT.quantile(1 - alpha / 2, degreesOfFreedom: df) + StudentT.quantile(power, degreesOfFreedom: df))
                * cov * (2 / Double(n)).squareRoot()
            if limitChange <= change { return n }
        }
        return nil
    }
}
