/// The summary of one metric over repetitions: what a record reports per metric.
public struct MetricSummary: Codable, Sendable, Equatable {
    /// Number of samples.
    public var n: Int
    public var min: Double
    public var median: Double
    public var mean: Double
    /// Sample standard deviation (n − 1); 0 when n < 2.
    public var stddev: Double
    /// Coefficient of variation, stddev / mean; 0 when n < 2 or mean is 0.
    public var cov: Double
    public var max: Double
    /// Lower end of the 95 % confidence interval of the mean (Student t); nil when n < 2.
    public var ci95Low: Double?
    /// Upper end of the 95 % confidence interval of the mean (Student t); nil when n < 2.
    public var ci95High: Double?

    /// Summarizes `samples`; nil when there are none or any is not finite.
    public init?(_ samples: [Double]) {
        guard !samples.isEmpty, samples.allSatisfy(\.isFinite) else { return nil }
        let stats = RunningStatistics(samples)
        let sorted = samples.sorted()
        let mid = sorted.count / 2
        n = samples.count
        min = stats.min
        max = stats.max
        median = sorted.count.isMultiple(of: 2) ? (sorted[mid - 1] + sorted[mid]) / 2 : sorted[mid]
        mean = stats.mean
        stddev = stats.standardDeviation ?? 0
        cov = mean == 0 ? 0 : stddev / Swift.abs(mean)
        if n >= 2 {
            let t = StudentT.quantile(0.975, degreesOfFreedom: Double(n - 1))
            let half = t * stddev / Double(n).squareRoot()
            ci95Low = mean - half
            ci95High = mean + half
        } else {
            ci95Low = nil
            ci95High = nil
        }
    }
}
