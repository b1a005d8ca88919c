/// An access pattern of the block engine, named as fio names them.
public enum IOPattern: String, Codable, Sendable, CaseIterable {
    case read, write, randread, randwrite, randrw

    /// Whether offsets are random.
    public var isRandom: Bool { self == .randread || self == .randwrite || self == .randrw }

    /// The read share in percent for the pure patterns; `randrw` takes it from the spec.
    public var fixedReadPercent: Int? {
        switch self {
        case .read, .randread: 100
        case .write, .randwrite: 0
        case .randrw: nil
        }
    }
}

/// What the block engine was asked to do.
public struct BlockWorkloadSpec: Codable, Sendable, Equatable {
    /// A short name, e.g. `randread-4k-qd32`.
    public var name: String
    public var pattern: IOPattern
    public var blockSizeBytes: Int
    public var ioDepth: Int
    public var numJobs: Int
    /// Share of reads in percent (100 for read patterns, 0 for write patterns).
    public var readPercent: Int
    /// Measured time per repetition; nil when the repetition is bound by `sizeBytes`.
    public var runtimeNs: UInt64?
    /// Bytes each job transfers per repetition; nil when bound by time.
    public var sizeBytes: UInt64?
    /// Time run before measuring, per repetition.
    public var rampNs: UInt64
    public var repetitions: Int
    /// O_DIRECT (true) or the page cache (false, `--buffered`).
    public var direct: Bool
    /// Writes carry a checksummed pattern that reads verify.
    public var verify: Bool
    /// Most iocbs handed to one io_submit.
    public var submitBatch: Int
    /// iocbs in the first io_submit of a refill; each further call doubles, up to `submitBatch`.
    /// Equal to `submitBatch` for fixed-size batches (fio's `iodepth_batch_submit`).
    public var submitFirstChunk: Int
    /// Seed of the offset generator, so a run can be repeated exactly.
    public var seed: UInt64

    public init(name: String? = nil, pattern: IOPattern, blockSizeBytes: Int, ioDepth: Int,
                numJobs: Int = 1, readPercent: Int? = nil, runtimeNs: UInt64? = nil,
                sizeBytes: UInt64? = nil, rampNs: UInt64 = 0, repetitions: Int = 1,
                direct: Bool = true, verify: Bool = false, submitBatch: Int? = nil, submitFirstChunk: Int? = nil,
                seed: UInt64 = 0x5eed) {
        self.pattern = pattern
        self.blockSizeBytes = blockSizeBytes
        self.ioDepth = ioDepth
        self.numJobs = numJobs
        self.readPercent = pattern.fixedReadPercent ?? readPercent ?? 50
        self.runtimeNs = runtimeNs
        self.sizeBytes = sizeBytes
        self.rampNs = rampNs
        self.repetitions = repetitions
        self.direct = direct
        self.verify = verify
        self.submitBatch = min(submitBatch ?? ioDepth, ioDepth)
        self.submitFirstChunk = min(submitFirstChunk ?? (submitBatch == nil ? 1 : self.submitBatch), self.submitBatch)
        self.seed = seed
        self.name = name ?? Self.defaultName(pattern: pattern, blockSizeBytes: blockSizeBytes,
                                             ioDepth: ioDepth, readPercent: self.readPercent)
    }

    /// `randread-4k-qd32`, `seqread-1m-qd32`, `randrw70-4k-qd16`.
    public static func defaultName(pattern: IOPattern, blockSizeBytes: Int, ioDepth: Int, readPercent: Int) -> String {
        let p: String = switch pattern {
        case .read: "seqread"
        case .write: "seqwrite"
        case .randrw: "randrw\(readPercent)"
        default: pattern.rawValue
        }
        return "\(p)-\(ByteCount.shortName(UInt64(blockSizeBytes)))-qd\(ioDepth)"
    }
}

/// The result of one workload: every repetition and the summary over them.
public struct WorkloadResult: Codable, Sendable, Equatable {
    public var spec: WorkloadSpec
    public var repetitions: [RepetitionResult]
    /// Per metric (keys from `Metric`), the summary over repetitions.
    public var summary: [String: MetricSummary]
    /// Completion latency of every repetition merged, with its percentiles.
    public var latencyNs: LatencyResult?

    /// The workload's short name (its spec's).
    public var name: String { spec.name }

    /// Each repetition's value of `metric` (finite ones). Tail latency falls back to each
    /// repetition's histogram where the harness kept no `latP99Ns` metric (request/response).
    /// The one place report, compare and capacity read samples from.
    public func values(of metric: String) -> [Double] {
        let v = repetitions.compactMap { $0.metrics[metric] }.filter(\.isFinite)
        if v.isEmpty && metric == Metric.latP99.key {
            return repetitions.compactMap { $0.latencyNs?.percentiles["p99"].map { Double($0) } }
        }
        return v
    }

    public init(spec: BlockWorkloadSpec, repetitions: [RepetitionResult]) {
        self.init(spec: .block(spec), repetitions: repetitions)
    }

    public init(spec: WorkloadSpec, repetitions: [RepetitionResult]) {
        self.init(spec: spec, repetitions: repetitions, summarize: true)
    }

    /// `summarize: false` leaves `summary` and `latencyNs` empty: for the summary-row records
    /// the store's readers build (report, compare and capacity read `values(of:)` only).
    public init(spec: WorkloadSpec, repetitions: [RepetitionResult], summarize: Bool) {
        self.spec = spec
        self.repetitions = repetitions
        guard summarize else {
            summary = [:]
            latencyNs = nil
            return
        }
        var summary: [String: MetricSummary] = [:]
        let names = Set(repetitions.flatMap { $0.metrics.keys })
        for name in names {
            let samples = repetitions.compactMap { $0.metrics[name] }
            if let s = MetricSummary(samples) { summary[name] = s }
        }
        self.summary = summary
        var merged: LatencyHistogram?
        for rep in repetitions {
            guard let h = rep.latencyNs?.histogram else { continue }
            if merged == nil { merged = h } else { merged?.absorb(h) }
        }
        self.latencyNs = merged.map(LatencyResult.init)
    }
}

/// One repetition of a workload.
public struct RepetitionResult: Codable, Sendable, Equatable {
    public var index: Int
    /// Measured wall time (after ramp).
    public var elapsedNs: UInt64
    public var readOps: UInt64
    public var writeOps: UInt64
    public var readBytes: UInt64
    public var writeBytes: UInt64
    /// CPU time of the engine threads (getrusage RUSAGE_THREAD) while measuring.
    public var cpuUserNs: UInt64
    public var cpuSystemNs: UInt64
    /// Derived figures keyed by `Metric` names (`iops`, `bwBytesPerSec`, `latP99Ns`, …).
    public var metrics: [String: Double]
    /// Completion latency of all operations.
    public var latencyNs: LatencyResult?
    public var readLatencyNs: LatencyResult?
    public var writeLatencyNs: LatencyResult?
    public var jobs: [JobResult]

    /// A block repetition: its metrics (IOPS, bandwidth, CPU per I/O, latency) are derived from
    /// the jobs' counts and the latency histograms.
    public init(index: Int, elapsedNs: UInt64, jobs: [JobResult],
                latency: LatencyHistogram?, readLatency: LatencyHistogram?, writeLatency: LatencyHistogram?) {
        self.init(index: index, elapsedNs: elapsedNs, jobs: jobs, metrics: [:], latency: latency)
        readLatencyNs = readLatency.flatMap { $0.totalCount > 0 ? LatencyResult($0) : nil }
        writeLatencyNs = writeLatency.flatMap { $0.totalCount > 0 ? LatencyResult($0) : nil }

        let seconds = Double(elapsedNs) / 1e9
        let ops = readOps + writeOps
        var m: [String: Double] = [:]
        if seconds > 0 {
            m[Metric.iops.key] = Double(ops) / seconds
            m[Metric.bandwidth.key] = Double(readBytes + writeBytes) / seconds
            if readOps > 0 { m[Metric.readIops.key] = Double(readOps) / seconds }
            if writeOps > 0 { m[Metric.writeIops.key] = Double(writeOps) / seconds }
        }
        if ops > 0 {
            m[Metric.cpuNsPerIo.key] = Double(cpuUserNs + cpuSystemNs) / Double(ops)
        }
        if let l = latency, l.totalCount > 0 {
            if let v = l.value(atPercentile: 50) { m[Metric.latP50.key] = Double(v) }
            if let v = l.value(atPercentile: 99) { m[Metric.latP99.key] = Double(v) }
            if let v = l.mean { m[Metric.latMean.key] = v }
        }
        metrics = m
    }

    /// A repetition whose metrics are given rather than derived from operation counts (network
    /// tests, imported results). For network tests `readBytes` counts bytes received and
    /// `writeBytes` bytes sent by this side; `readOps`/`writeOps` count transactions.
    public init(index: Int, elapsedNs: UInt64, jobs: [JobResult], metrics: [String: Double], latency: LatencyHistogram? = nil) {
        self.index = index
        self.elapsedNs = elapsedNs
        self.jobs = jobs
        readOps = jobs.reduce(0) { $0 + $1.readOps }
        writeOps = jobs.reduce(0) { $0 + $1.writeOps }
        readBytes = jobs.reduce(0) { $0 + $1.readBytes }
        writeBytes = jobs.reduce(0) { $0 + $1.writeBytes }
        cpuUserNs = jobs.reduce(0) { $0 + $1.cpuUserNs }
        cpuSystemNs = jobs.reduce(0) { $0 + $1.cpuSystemNs }
        latencyNs = latency.flatMap { $0.totalCount > 0 ? LatencyResult($0) : nil }
        readLatencyNs = nil
        writeLatencyNs = nil
        self.metrics = metrics
    }
}

/// One job (thread, own aio context) of a repetition.
public struct JobResult: Codable, Sendable, Equatable {
    public var index: Int
    public var readOps: UInt64
    public var writeOps: UInt64
    public var readBytes: UInt64
    public var writeBytes: UInt64
    public var cpuUserNs: UInt64
    public var cpuSystemNs: UInt64
    /// io_submit calls: operations / submitCalls is the mean batch.
    public var submitCalls: UInt64
    /// io_getevents calls: operations / reapCalls is the mean number reaped per call.
    public var reapCalls: UInt64

    public init(index: Int, readOps: UInt64, writeOps: UInt64, readBytes: UInt64, writeBytes: UInt64,
                cpuUserNs: UInt64, cpuSystemNs: UInt64, submitCalls: UInt64, reapCalls: UInt64) {
        self.index = index
        self.readOps = readOps
        self.writeOps = writeOps
        self.readBytes = readBytes
        self.writeBytes = writeBytes
        self.cpuUserNs = cpuUserNs
        self.cpuSystemNs = cpuSystemNs
        self.submitCalls = submitCalls
        self.reapCalls = reapCalls
    }
}

/// A latency distribution: the mergeable histogram and the standard percentiles read from it.
public struct LatencyResult: Codable, Sendable, Equatable {
    public var histogram: LatencyHistogram
    /// p50, p90, p99, p99.9, p99.99 in nanoseconds.
    public var percentiles: [String: UInt64]
    public var mean: Double
    public var min: UInt64
    public var max: UInt64

    public init(_ histogram: LatencyHistogram) {
        self.histogram = histogram
        self.percentiles = histogram.standardPercentiles()
        self.mean = histogram.mean ?? 0
        self.min = histogram.totalCount == 0 ? 0 : histogram.minValue
        self.max = histogram.maxValue
    }
}
