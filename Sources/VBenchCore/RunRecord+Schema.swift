import FoundationEssentials

/// How the two record schema versions are written and read (docs/record-schema.md).
///
/// Version 2 keeps what cannot be recomputed and nothing else:
/// - a latency distribution is its histogram in the compact form, base64 (`LatencyHistogram
///   .compactBase64()`); percentiles, mean, min and max are read from it when decoding;
/// - a workload holds no `summary` and no merged `latencyNs`: both derive from the repetitions;
/// - a repetition whose read (or write) histogram is its whole histogram says so with the
///   string `"latencyNs"` instead of a second copy; when it has both a read and a write
///   histogram, `latencyNs` is left out when it is exactly their merge.
///
/// Version 1 wrote every copy in full (histograms as `[lower, count, …]` lists). Both are read;
/// a record decoded from either is the same value. Which version `encode` writes comes from the
/// encoder's `userInfo[.recordSchemaVersion]` (the current version when absent), so an uplink
/// can still speak version 1 to an older collector.
extension CodingUserInfoKey {
    /// An `Int`: the record schema version to write.
    public static let recordSchemaVersion = CodingUserInfoKey(rawValue: "vbench.recordSchemaVersion")!
}

extension Encoder {
    /// The record schema version this encoder writes.
    var recordSchemaVersion: Int { userInfo[.recordSchemaVersion] as? Int ?? RunRecord.currentSchemaVersion }
}

extension RunRecord {
    private enum Keys: String, CodingKey {
        case schemaVersion, runId, startTime, endTime, role, tool, tags, environment, device, family, target, workloads
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(encoder.recordSchemaVersion, forKey: .schemaVersion)
        try c.encode(runId, forKey: .runId)
        try c.encode(startTime, forKey: .startTime)
        try c.encode(endTime, forKey: .endTime)
        try c.encode(role, forKey: .role)
        try c.encode(tool, forKey: .tool)
        try c.encode(tags, forKey: .tags)
        try c.encode(environment, forKey: .environment)
        try c.encode(device, forKey: .device)
        try c.encode(family, forKey: .family)
        try c.encodeIfPresent(target, forKey: .target)
        try c.encode(workloads, forKey: .workloads)
    }

    /// Reads either version; the value is the same whichever was written.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        schemaVersion = Self.currentSchemaVersion
        runId = try c.decode(UUID.self, forKey: .runId)
        startTime = try c.decode(Date.self, forKey: .startTime)
        endTime = try c.decode(Date.self, forKey: .endTime)
        role = try c.decode(RunRole.self, forKey: .role)
        tool = try c.decode(ToolInfo.self, forKey: .tool)
        tags = try c.decode([String: String].self, forKey: .tags)
        environment = try c.decode(Environment.self, forKey: .environment)
        device = try c.decode(DeviceInfo.self, forKey: .device)
        family = try c.decode(String.self, forKey: .family)
        target = try c.decodeIfPresent(TargetInfo.self, forKey: .target)
        workloads = try c.decode([WorkloadResult].self, forKey: .workloads)
    }
}

extension WorkloadResult {
    private enum Keys: String, CodingKey { case spec, repetitions, summary, latencyNs }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(spec, forKey: .spec)
        try c.encode(repetitions, forKey: .repetitions)
        if encoder.recordSchemaVersion < 2 {
            try c.encode(summary, forKey: .summary)
            try c.encodeIfPresent(latencyNs, forKey: .latencyNs)
        }
    }

    /// Version 2 (no summary, no merged histogram): both recomputed from the repetitions, as
    /// the harness computed them. Version 1: as written.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let spec = try c.decode(WorkloadSpec.self, forKey: .spec)
        let repetitions = try c.decode([RepetitionResult].self, forKey: .repetitions)
        self.init(spec: spec, repetitions: repetitions)
        if let written = try c.decodeIfPresent([String: MetricSummary].self, forKey: .summary) { summary = written }
        if let written = try c.decodeIfPresent(LatencyResult.self, forKey: .latencyNs) { latencyNs = written }
    }
}

extension RepetitionResult {
    private enum Keys: String, CodingKey {
        case index, elapsedNs, readOps, writeOps, readBytes, writeBytes, cpuUserNs, cpuSystemNs, metrics
        case latencyNs, readLatencyNs, writeLatencyNs, jobs
    }
    /// In version 2, a read or write histogram equal to the whole one.
    static let sameAsAll = "latencyNs"

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(index, forKey: .index)
        try c.encode(elapsedNs, forKey: .elapsedNs)
        try c.encode(readOps, forKey: .readOps)
        try c.encode(writeOps, forKey: .writeOps)
        try c.encode(readBytes, forKey: .readBytes)
        try c.encode(writeBytes, forKey: .writeBytes)
        try c.encode(cpuUserNs, forKey: .cpuUserNs)
        try c.encode(cpuSystemNs, forKey: .cpuSystemNs)
        try c.encode(metrics, forKey: .metrics)
        try c.encode(jobs, forKey: .jobs)
        guard encoder.recordSchemaVersion >= 2 else {
            try c.encodeIfPresent(latencyNs, forKey: .latencyNs)
            try c.encodeIfPresent(readLatencyNs, forKey: .readLatencyNs)
            try c.encodeIfPresent(writeLatencyNs, forKey: .writeLatencyNs)
            return
        }
        let all = latencyNs?.histogram
        var allIsMerge = false
        if let all, let r = readLatencyNs?.histogram, let w = writeLatencyNs?.histogram, r != all, w != all {
            var merged = r
            if (try? merged.merge(w)) != nil, merged == all { allIsMerge = true }
        }
        if !allIsMerge { try c.encodeIfPresent(latencyNs, forKey: .latencyNs) }
        for (key, part) in [(Keys.readLatencyNs, readLatencyNs), (.writeLatencyNs, writeLatencyNs)] {
            guard let part else { continue }
            if !allIsMerge, part.histogram == all { try c.encode(Self.sameAsAll, forKey: key) } else { try c.encode(part, forKey: key) }
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        index = try c.decode(Int.self, forKey: .index)
        elapsedNs = try c.decode(UInt64.self, forKey: .elapsedNs)
        readOps = try c.decode(UInt64.self, forKey: .readOps)
        writeOps = try c.decode(UInt64.self, forKey: .writeOps)
        readBytes = try c.decode(UInt64.self, forKey: .readBytes)
        writeBytes = try c.decode(UInt64.self, forKey: .writeBytes)
        cpuUserNs = try c.decode(UInt64.self, forKey: .cpuUserNs)
        cpuSystemNs = try c.decode(UInt64.self, forKey: .cpuSystemNs)
        metrics = try c.decode([String: Double].self, forKey: .metrics)
        jobs = try c.decode([JobResult].self, forKey: .jobs)
        latencyNs = try c.decodeIfPresent(LatencyResult.self, forKey: .latencyNs)
        func part(_ key: Keys) throws -> LatencyResult? {
            if (try? c.decodeIfPresent(String.self, forKey: key)) == Self.sameAsAll {
                guard let all = latencyNs else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "says \"\(Self.sameAsAll)\" but the repetition has no latencyNs")
                }
                return all
            }
            return try c.decodeIfPresent(LatencyResult.self, forKey: key)
        }
        readLatencyNs = try part(.readLatencyNs)
        writeLatencyNs = try part(.writeLatencyNs)
        if latencyNs == nil, let r = readLatencyNs?.histogram, let w = writeLatencyNs?.histogram {
            var merged = r
            do { try merged.merge(w) } catch {
                throw DecodingError.dataCorruptedError(forKey: .writeLatencyNs, in: c, debugDescription: "read and write histograms do not merge: \(error)")
            }
            latencyNs = LatencyResult(merged)
        }
    }
}

extension LatencyResult {
    private enum Keys: String, CodingKey { case histogram, percentiles, mean, min, max }

    /// Version 2: the histogram's compact base64 alone. Version 1: histogram and what it gives.
    public func encode(to encoder: any Encoder) throws {
        if encoder.recordSchemaVersion >= 2 {
            var c = encoder.singleValueContainer()
            try c.encode(histogram.compactBase64())
            return
        }
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(histogram, forKey: .histogram)
        try c.encode(percentiles, forKey: .percentiles)
        try c.encode(mean, forKey: .mean)
        try c.encode(min, forKey: .min)
        try c.encode(max, forKey: .max)
    }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let text = try? single.decode(String.self) {
            do { self.init(try LatencyHistogram(compactBase64: text)) } catch {
                throw DecodingError.dataCorruptedError(in: single, debugDescription: "\(error)")
            }
            return
        }
        let c = try decoder.container(keyedBy: Keys.self)
        self.init(try c.decode(LatencyHistogram.self, forKey: .histogram))
        if let p = try c.decodeIfPresent([String: UInt64].self, forKey: .percentiles) { percentiles = p }
        if let m = try c.decodeIfPresent(Double.self, forKey: .mean) { mean = m }
        if let m = try c.decodeIfPresent(UInt64.self, forKey: .min) { min = m }
        if let m = try c.decodeIfPresent(UInt64.self, forKey: .max) { max = m }
    }
}
