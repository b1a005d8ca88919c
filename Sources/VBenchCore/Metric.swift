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

    /// Payload delivered to the receiver, in bits per second (goodput, as iperf3 reports it).
    public static let throughput = Metric(key: "throughputBitsPerSec", unit: "bit/s", polarity: .higherIsBetter)
    /// TCP segments the sender retransmitted during the repetition (TCP_INFO `tcpi_total_retrans`).
    public static let retransmits = Metric(key: "retransmits", unit: "segments", polarity: .lowerIsBetter)
    /// Completed request/response pairs per second.
    public static let transactions = Metric(key: "transactionsPerSec", unit: "transactions/s", polarity: .higherIsBetter)
    /// Completed connect/request/response/close cycles per second.
    public static let connections = Metric(key: "connectionsPerSec", unit: "connections/s", polarity: .higherIsBetter)
    /// CPU time of this side over wall time, in percent of one CPU.
    public static let cpuLocal = Metric(key: "cpuLocalPercent", unit: "% of one CPU", polarity: .lowerIsBetter)
    /// CPU time of the peer over wall time, in percent of one CPU.
    public static let cpuPeer = Metric(key: "cpuPeerPercent", unit: "% of one CPU", polarity: .lowerIsBetter)
    /// UDP datagrams lost, in percent of those sent.
    public static let lostPercent = Metric(key: "lostPercent", unit: "%", polarity: .lowerIsBetter)
    /// UDP inter-arrival jitter (RFC 3550), in nanoseconds.
    public static let jitter = Metric(key: "jitterNs", unit: "ns", polarity: .lowerIsBetter)

    /// Every metric a network workload can write.
    public static let net: [Metric] = [throughput, retransmits, transactions, connections, cpuLocal, cpuPeer,
                                       lostPercent, jitter, latP50, latP99, latMean]

    /// Nanoseconds of one dependent load (pointer chase).
    public static let loadLatency = Metric(key: "loadLatencyNs", unit: "ns", polarity: .lowerIsBetter)
    /// Minor page faults taken per second while touching fresh memory.
    public static let pageFaults = Metric(key: "pageFaultsPerSec", unit: "faults/s", polarity: .higherIsBetter)

    /// Every metric a memory workload can write.
    public static let mem: [Metric] = [bandwidth, loadLatency, pageFaults]

    /// Every metric vbench knows, by key.
    public static let byKey: [String: Metric] = Dictionary((block + net + mem).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
}

extension Metric {
    /// A catalog lookup by key.
    public static func named(_ key: String) -> Metric? { (block + net + mem).first { $0.key == key } }

    /// What people call it.
    public var displayName: String {
        switch key {
        case "iops": "IOPS"
        case "bwBytesPerSec": "bandwidth"
        case "latP99Ns": "p99 latency"
        case "throughputBitsPerSec": "goodput"
        case "transactionsPerSec": "transactions/s"
        case "connectionsPerSec": "connections/s"
        case "loadLatencyNs": "load latency"
        default: key
        }
    }
}
