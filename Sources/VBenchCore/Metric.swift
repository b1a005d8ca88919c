/// Whether a larger value of a metric is better.
public enum Polarity: String, Codable, Sendable {
    case higherIsBetter, lowerIsBetter
}

/// A named figure of a repetition, with its unit and polarity.
public struct Metric: Sendable, Hashable {
    /// The key in `RepetitionResult.metrics` and `WorkloadResult.summary`.
    public let key: String
    public let unit: String
    public let polarity: Polarity

    public static let iops = Metric(key: "iops", unit: "ops/s", polarity: .higherIsBetter)
    public static let readIops = Metric(key: "readIops", unit: "ops/s", polarity: .higherIsBetter)
    public static let writeIops = Metric(key: "writeIops", unit: "ops/s", polarity: .higherIsBetter)
    public static let bandwidth = Metric(key: "bwBytesPerSec", unit: "B/s", polarity: .higherIsBetter)
    public static let cpuNsPerIo = Metric(key: "cpuNsPerIo", unit: "ns", polarity: .lowerIsBetter)
    public static let latP50 = Metric(key: "latP50Ns", unit: "ns", polarity: .lowerIsBetter)
    public static let latP99 = Metric(key: "latP99Ns", unit: "ns", polarity: .lowerIsBetter)
    public static let latMean = Metric(key: "latMeanNs", unit: "ns", polarity: .lowerIsBetter)

    /// Every metric the block harness writes.
    public static let block: [Metric] = [iops, readIops, writeIops, bandwidth, cpuNsPerIo, latP50, latP99, latMean]
}
