#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the spread of a metric splits between runs and the repetitions inside them: a one-way
/// random-effects analysis of variance with runs nested in the sides of a comparison (each
/// side's own mean is taken out first, so a real change between the sides is not counted as
/// run-to-run spread). Computed on the log of the values, so a side measured at 75 % of the
/// other's rate weighs alike.
///
/// The intra-class correlation ρ is the share of the variance that lies between runs. Pooling
/// the m repetitions of each run as if independent understates the variance of a mean by the
/// design effect 1 + (m − 1)ρ (Kish 1965; Kalibera & Jones 2013, "Rigorous benchmarking in
/// reasonable time"). Its one-sided 95 % upper bound comes from the exact F interval for ρ
/// (Searle 1971, "Linear Models", §9; Shrout & Fleiss 1979, ICC(1)).
public struct RunSpread: Sendable, Equatable, Codable {
    /// Runs that carried at least one repetition, and the repetitions in them.
    public var runs: Int
    public var repetitions: Int
    /// Mean square between runs (within sides) and within runs, and their degrees of freedom.
    public var meanSquareBetween: Double
    public var meanSquareWithin: Double
    public var dfBetween: Int
    public var dfWithin: Int
    /// The effective number of repetitions per run (n₀ of unbalanced ANOVA).
    public var repetitionsPerRun: Double
    /// ρ̂ (ANOVA estimator, 0 when negative) and its one-sided 95 % upper bound.
    public var icc: Double
    public var iccUpper: Double
    /// 1 + (n₀ − 1)·ρ at ρ̂ and at the upper bound: how much pooling repetitions understates the variance.
    public var designEffect: Double
    public var designEffectUpper: Double
    /// Standard deviation (log scale, ≈ coefficient of variation) between runs and within runs.
    public var runCoV: Double
    public var repetitionCoV: Double

    /// The design effect pooling may have (95 % bound) for repetitions to stand in for runs:
    /// at 1.2 a nominal α = 0.01 acts at most like 0.02.
    public static let standInDesignEffect = 1.2

    /// Whether the data show that repetitions carry the run-to-run spread.
    public var repetitionsCarryRunSpread: Bool { designEffectUpper <= Self.standInDesignEffect }

    /// `sides`: for each side, each run's repetition values. nil when there is no replication
    /// at either level (no side with two runs, or no run with two repetitions).
    public static func estimate(_ sides: [[[Double]]], confidence: Double = 0.95) -> RunSpread? {
        estimate(sides.map { $0.compactMap { RunMetric(values: $0) } }, confidence: confidence)
    }

    /// The same from each run's moments (a store's summary rows): the analysis of variance
    /// needs only each run's count, mean and sum of squared deviations, on the log scale when
    /// every value of every run is positive.
    public static func estimate(_ sides: [[RunMetric]], confidence: Double = 0.95) -> RunSpread? {
        let useLog = sides.allSatisfy { $0.allSatisfy { $0.logMean != nil } }
        var ssb = 0.0, ssw = 0.0, dfb = 0, dfw = 0, total = 0, runs = 0
        var sumSquaresOfSizes = 0.0
        for side in sides where !side.isEmpty {
            let moments = side.map { $0.moments(log: useLog) }
            let n = side.reduce(0) { $0 + $1.n }
            let mean = zip(side, moments).reduce(0.0) { $0 + Double($1.0.n) * $1.1.mean } / Double(n)
            for (run, m) in zip(side, moments) {
                ssb += Double(run.n) * (m.mean - mean) * (m.mean - mean)
                ssw += m.sumOfSquares
                dfw += run.n - 1
            }
            dfb += side.count - 1
            total += n
            runs += side.count
            sumSquaresOfSizes += side.reduce(0.0) { $0 + Double($1.n * $1.n) } / Double(n)
        }
        guard dfb >= 1, dfw >= 1 else { return nil }
        let msb = ssb / Double(dfb), msw = ssw / Double(dfw)
        let n0 = (Double(total) - sumSquaresOfSizes) / Double(dfb)
        let varianceBetween = max(0, (msb - msw) / n0)
        let icc: Double, iccUpper: Double
        if msw <= 0 {
            (icc, iccUpper) = msb > 0 ? (1, 1) : (0, 0)
        } else {
            icc = varianceBetween / (varianceBetween + msw)
            let fUpper = (msb / msw) / FDistribution.quantile(1 - confidence, d1: Double(dfb), d2: Double(dfw))
            iccUpper = min(1, max(0, (fUpper - 1) / (fUpper + n0 - 1)))
        }
        return RunSpread(runs: runs, repetitions: total, meanSquareBetween: msb, meanSquareWithin: msw, dfBetween: dfb, dfWithin: dfw,
                         repetitionsPerRun: n0, icc: icc, iccUpper: iccUpper,
                         designEffect: 1 + (n0 - 1) * icc, designEffectUpper: 1 + (n0 - 1) * iccUpper,
                         runCoV: varianceBetween.squareRoot(), repetitionCoV: msw.squareRoot())
    }
}
