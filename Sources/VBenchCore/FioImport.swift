import FoundationEssentials

/// Why a file could not be imported.
public struct ImportError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var reason: String
    public var description: String { "\(file): \(reason)" }

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }
}

/// What the importers share.
public enum ImportSupport {
    /// A run id derived from the file's bytes, so importing the same output twice stores it once
    /// (two FNV-1a-64 hashes with different offsets, marked as an RFC 4122 version 8 UUID).
    public static func contentId(_ data: Data) -> UUID {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325, b: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in data {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            b = (b ^ UInt64(byte ^ 0x5a)) &* 0x0000_0100_0000_01B3
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: a >> (8 * UInt64(i))); bytes[8 + i] = UInt8(truncatingIfNeeded: b >> (8 * UInt64(i))) }
        bytes[6] = (bytes[6] & 0x0f) | 0x80  // version 8: custom
        bytes[8] = (bytes[8] & 0x3f) | 0x80  // RFC 4122 variant
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

/// Maps `fio --output-format=json` (or `json+`) output to RunRecords: one record, one
/// workload per fio job (the entries of one job's `numjobs` clones, reported one by one or as a
/// group with `group_reporting`, are one workload with a job result each), one repetition per
/// workload (fio reports one). IOPS and bandwidth are fio's: each direction's operations over
/// its runtime (in ms, as fio divides; for clones reported one by one the longest clone's, as
/// fio's group line divides), a mixed job's IOPS the sum of both directions'. Latency percentiles are fio's
/// (submission + completion `lat_ns` when fio ran with `--lat_percentiles=1`, else completion
/// `clat_ns`, as the tag `fio.latency` says), of the job's main direction (reads, for mixed
/// jobs); with `json+` they are computed from fio's bins as fio computes them, so clones
/// reported one by one merge exactly, and the bins become the workload's latency histograms
/// (all, read, write) to merge and compare with vbench's. The record is tagged `imported=fio`.
public enum FioImport {
    struct Output: Decodable {
        var fioVersion: String
        var timestamp: Double?
        var globalOptions: [String: String]?
        var jobs: [Job]
        var diskUtil: [Disk]?
        enum CodingKeys: String, CodingKey {
            case fioVersion = "fio version", timestamp, globalOptions = "global options", jobs, diskUtil = "disk_util"
        }
    }
    struct Disk: Decodable { var name: String }
    struct Job: Decodable {
        var jobname: String?
        var groupid: Int?
        var jobOptions: [String: String]?
        var read: Direction?
        var write: Direction?
        var usrCpu: Double?
        var sysCpu: Double?
        var jobRuntime: UInt64?
        enum CodingKeys: String, CodingKey {
            case jobname, groupid, jobOptions = "job options", read, write, usrCpu = "usr_cpu", sysCpu = "sys_cpu", jobRuntime = "job_runtime"
        }
    }
    struct Direction: Decodable {
        var ioBytes: UInt64?
        var totalIos: UInt64?
        var runtime: UInt64?
        var latNs: Latency?
        var clatNs: Latency?
        enum CodingKeys: String, CodingKey {
            case ioBytes = "io_bytes", totalIos = "total_ios", runtime, latNs = "lat_ns", clatNs = "clat_ns"
        }
    }
    struct Latency: Decodable {
        var mean: Double?
        var n: UInt64?
        var percentile: [String: Double]?
        /// json+: fio's histogram, bin value (ns) → count.
        var bins: [String: UInt64]?
        enum CodingKeys: String, CodingKey { case mean, n = "N", percentile, bins }
    }

    /// A percentile as fio computes it from its bins: the value of the first bin at which the
    /// running count reaches `p` % of all (stat.c, calc_clat_percentiles).
    public static func percentile(_ p: Double, bins: [(value: UInt64, count: UInt64)]) -> UInt64? {
        let total = bins.reduce(0) { $0 + $1.count }
        guard total > 0 else { return nil }
        var sum: UInt64 = 0
        for b in bins {
            sum += b.count
            if Double(sum) >= p / 100 * Double(total) { return b.value }
        }
        return bins.last?.value
    }

    /// The records in `data` (fio JSON). `device` and `environment` describe where fio ran when
    /// the importer knows it; otherwise the device is named from fio's disk_util and `unknown`.
    public static func records(from data: Data, file: String, environment: Environment, device: DeviceInfo?,
                               role: RunRole, tags: [String: String]) throws(ImportError) -> [RunRecord] {
        let output: Output
        // fio writes its warnings (`fio: time_based requires a runtime/timeout setting`) into
        // the --output file too, before the JSON: read from the first line that opens it.
        var json = data
        if data.first(where: { $0 != 0x20 && $0 != 0x0a && $0 != 0x0d && $0 != 0x09 }) != UInt8(ascii: "{"),
           let start = data.indices.first(where: { data[$0] == UInt8(ascii: "{") && ($0 == data.startIndex || data[data.index(before: $0)] == 0x0a) }) {
            json = data.subdata(in: start..<data.endIndex)
        }
        do { output = try JSONDecoder().decode(Output.self, from: json) } catch {
            throw ImportError(file: file, reason: "not fio JSON output (\(error)); run fio with --output-format=json")
        }
        // A job's numjobs clones, one entry each without group_reporting: one workload.
        var groups: [(key: String, entries: [Job])] = []
        for job in output.jobs {
            let key = "\(job.groupid ?? 0)/\(job.jobname ?? "job")"
            if let i = groups.firstIndex(where: { $0.key == key }) { groups[i].entries.append(job) } else { groups.append((key, [job])) }
        }
        // lat_ns percentiles exist only with --lat_percentiles=1; then they are what fio printed.
        let useLat = output.jobs.contains { ($0.read?.latNs?.percentile ?? $0.write?.latNs?.percentile) != nil }
        var workloads: [WorkloadResult] = []
        var notes: [String] = []
        var elapsedMax: UInt64 = 0
        for (_, entries) in groups {
            let first = entries[0]
            let options = (output.globalOptions ?? [:]).merging(first.jobOptions ?? [:]) { _, j in j }
            let name = first.jobname ?? "job"
            let rw = options["rw"] ?? options["readwrite"] ?? "read"
            guard let pattern = IOPattern(rawValue: rw) else {
                throw ImportError(file: file, reason: "fio job '\(name)' uses rw=\(rw), which vbench does not model (read, write, randread, randwrite, randrw)")
            }
            let bs = options["bs"].flatMap { ByteCount.parse($0) } ?? 4096
            let depth = options["iodepth"].flatMap { Int($0) } ?? 1
            // The group's runtime: fio divides by the longest direction's (ms); job_runtime adds
            // up the clones' under group_reporting.
            let runtimeMs = entries.map { max($0.read?.runtime ?? 0, $0.write?.runtime ?? 0) }.max() ?? 0
            let elapsed = (runtimeMs > 0 ? runtimeMs : (first.jobRuntime ?? 0)) * 1_000_000
            elapsedMax = max(elapsedMax, elapsed)
            let jobs = entries.enumerated().map { i, job in
                // usr_cpu and sys_cpu are percentages of the entry's own run time (all clones').
                let cpuBase = Double((job.jobRuntime ?? runtimeMs) * 1_000_000)
                return JobResult(index: i, readOps: job.read?.totalIos ?? 0, writeOps: job.write?.totalIos ?? 0,
                                 readBytes: job.read?.ioBytes ?? 0, writeBytes: job.write?.ioBytes ?? 0,
                                 cpuUserNs: UInt64((job.usrCpu ?? 0) / 100 * cpuBase), cpuSystemNs: UInt64((job.sysCpu ?? 0) / 100 * cpuBase),
                                 submitCalls: 0, reapCalls: 0)
            }
            var rep = RepetitionResult(index: 0, elapsedNs: elapsed, jobs: jobs, latency: nil, readLatency: nil, writeLatency: nil)
            // Rates as fio gives them: each direction's operations over that direction's runtime,
            // the longest of the entries' for clones reported one by one (fio's group rule:
            // bytes over max_run, its "Run status group" line). A mixed job's IOPS is the sum of
            // its two directions', as fio prints read and write IOPS apiece.
            func rate(_ amount: UInt64, _ pick: (Job) -> Direction?) -> Double? {
                let ms = entries.compactMap { pick($0)?.runtime }.max() ?? 0
                return amount > 0 && ms > 0 ? Double(amount) / (Double(ms) / 1000) : nil
            }
            let readRate = rate(rep.readOps, \.read), writeRate = rate(rep.writeOps, \.write)
            if readRate != nil || writeRate != nil {
                rep.metrics[Metric.iops.key] = (readRate ?? 0) + (writeRate ?? 0)
                rep.metrics[Metric.bandwidth.key] = (rate(rep.readBytes, \.read) ?? 0) + (rate(rep.writeBytes, \.write) ?? 0)
                rep.metrics[Metric.readIops.key] = readRate
                rep.metrics[Metric.writeIops.key] = writeRate
            }
            func latency(_ d: Direction?) -> Latency? { useLat ? d?.latNs : d?.clatNs }
            func bins(_ pick: (Job) -> Direction?) -> [(value: UInt64, count: UInt64)]? {
                var merged: [UInt64: UInt64] = [:]
                for e in entries {
                    guard let b = latency(pick(e))?.bins else { return nil }
                    for (k, c) in b { if let v = UInt64(k) { merged[v, default: 0] += c } }
                }
                return merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            }
            func histogram(_ b: [(value: UInt64, count: UInt64)]?) -> LatencyHistogram? {
                guard let b, !b.isEmpty else { return nil }
                var h = LatencyHistogram()
                for x in b { h.record(x.value, count: x.count) }
                return h
            }
            let readBins = rep.readOps > 0 ? bins(\.read) : nil, writeBins = rep.writeOps > 0 ? bins(\.write) : nil
            // The main direction's percentiles: from the bins, else fio's own (one entry only:
            // separate clones' percentiles cannot be merged).
            let mainIsRead = pattern.fixedReadPercent != 0 && rep.readOps > 0
            let mainBins = mainIsRead ? readBins : writeBins
            let mainLatency = entries.map { latency(mainIsRead ? $0.read : $0.write) }
            if let b = mainBins {
                if let v = percentile(50, bins: b) { rep.metrics[Metric.latP50.key] = Double(v) }
                if let v = percentile(99, bins: b) { rep.metrics[Metric.latP99.key] = Double(v) }
            } else if entries.count == 1, let p = mainLatency[0]?.percentile {
                if let v = p["50.000000"] { rep.metrics[Metric.latP50.key] = v }
                if let v = p["99.000000"] { rep.metrics[Metric.latP99.key] = v }
            } else if entries.count > 1 {
                notes.append("\(name): \(entries.count) clones reported one by one without bins; no percentiles (run fio with --group_reporting or --output-format=json+)")
            }
            let counted = mainLatency.compactMap { l in l.flatMap { x in x.mean.map { ($0, Double(x.n ?? 1)) } } }
            if !counted.isEmpty, counted.count == entries.count {
                rep.metrics[Metric.latMean.key] = counted.reduce(0) { $0 + $1.0 * $1.1 } / max(1, counted.reduce(0) { $0 + $1.1 })
            }
            let all = histogram(((readBins ?? []) + (writeBins ?? [])).sorted { $0.value < $1.value })
            rep.latencyNs = all.map(LatencyResult.init)
            rep.readLatencyNs = histogram(readBins).map(LatencyResult.init)
            rep.writeLatencyNs = histogram(writeBins).map(LatencyResult.init)
            var spec = BlockWorkloadSpec(pattern: pattern, blockSizeBytes: Int(bs), ioDepth: depth,
                                         numJobs: options["numjobs"].flatMap { Int($0) } ?? entries.count,
                                         readPercent: options["rwmixread"].flatMap { Int($0) },
                                         runtimeNs: elapsed, repetitions: 1, direct: options["direct"] == "1")
            if workloads.contains(where: { $0.spec.name == spec.name }) { spec.name += "-" + name }
            workloads.append(WorkloadResult(spec: spec, repetitions: [rep]))
        }
        guard !workloads.isEmpty else { throw ImportError(file: file, reason: "fio output holds no jobs") }
        var allTags = tags
        allTags["imported"] = "fio"
        allTags["fio.latency"] = useLat ? "lat" : "clat"
        if !notes.isEmpty { allTags["fio.note"] = notes.joined(separator: "; ") }
        let start = Date(timeIntervalSince1970: output.timestamp ?? 0)
        let version = output.fioVersion.hasPrefix("fio-") ? String(output.fioVersion.dropFirst(4)) : output.fioVersion
        return [RunRecord(
            runId: ImportSupport.contentId(data), startTime: start, endTime: start.addingTimeInterval(Double(elapsedMax) / 1e9), role: role,
            tool: ToolInfo(name: "fio", version: version), tags: allTags, environment: environment,
            device: device ?? DeviceInfo(kind: "block", name: output.diskUtil?.first?.name ?? "unknown", deviceClass: .unknown),
            family: "blk", target: nil, workloads: workloads)]
    }
}
