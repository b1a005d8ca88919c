#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One run's repetitions of one metric as a comparison reads them: their moments, of the values
/// and of their logarithms (what a store's summary row holds), and the values themselves only
/// where they were read. Compare tests run means and takes the within-run spread from the
/// moments; it needs the values only when repetitions stand in for runs
/// (`Comparator.repetitionsNeeded`), so a store reads one row per run and metric, not one per
/// repetition.
public struct RunMetric: Sendable, Equatable {
    /// The finite repetitions, their mean and sample standard deviation (0 below two), as
    /// `MetricSummary` computes them (Welford), so a summary row and a record agree bit for bit.
    public var n: Int
    public var mean: Double
    public var stddev: Double
    /// Mean and sample standard deviation of the values' natural logarithms; nil unless every
    /// value is positive.
    public var logMean: Double?
    public var logStddev: Double?
    /// The repetitions' values in repetition order, where read.
    public var values: [Double]?

    public init(n: Int, mean: Double, stddev: Double, logMean: Double?, logStddev: Double?, values: [Double]? = nil) {
        self.n = n
        self.mean = mean
        self.stddev = stddev
        self.logMean = logMean
        self.logStddev = logMean == nil ? nil : logStddev
        self.values = values
    }

    /// The moments of `values` (non-finite ones left out, as `WorkloadResult.values(of:)`
    /// does), keeping the values; nil when none is finite.
    public init?(values: [Double]) {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return nil }
        let raw = RunningStatistics(finite)
        let log = Self.logMoments(finite)
        self.init(n: finite.count, mean: raw.mean, stddev: raw.standardDeviation ?? 0, logMean: log?.mean, logStddev: log?.stddev,
                  values: finite)
    }

    /// Mean and sample standard deviation (0 below two) of the logarithms of `values`; nil
    /// unless every one is positive and finite. What the store writes beside each summary row.
    public static func logMoments(_ values: [Double]) -> (mean: Double, stddev: Double)? {
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        let s = RunningStatistics(values.lazy.map { log($0) })
        return (s.mean, s.standardDeviation ?? 0)
    }

    /// This run's moments on the log scale (`log: true`) or on the values' own.
    func moments(log: Bool) -> (mean: Double, sumOfSquares: Double) {
        let (m, sd) = log ? (logMean ?? 0, logStddev ?? 0) : (mean, stddev)
        return (m, sd * sd * Double(max(n - 1, 0)))
    }
}
