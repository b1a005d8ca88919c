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

/// Maps `fio --output-format=json` output to RunRecords: one record, one workload per job,
/// one repetition per workload (fio reports one). fio keeps no mergeable histogram in its JSON,
/// so latency is kept as the p50/p99 metrics fio computed (submission + completion `lat_ns`
/// when fio was run with `--lat_percentiles=1`, else completion `clat_ns`, as the tag
/// `fio.latency` says). The record is tagged `imported=fio`.
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
        var jobOptions: [String: String]?
        var read: Direction?
        var write: Direction?
        var usrCpu: Double?
        var sysCpu: Double?
        var jobRuntime: UInt64?
        enum CodingKeys: String, CodingKey {
            case jobname, jobOptions = "job options", read, write, usrCpu = "usr_cpu", sysCpu = "sys_cpu", jobRuntime = "job_runtime"
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
        var percentile: [String: Double]?
    }

    /// The records in `data` (fio JSON). `device` and `environment` describe where fio ran when
    /// the importer knows it; otherwise the device is named from fio's disk_util and `unknown`.
    public static func records(from data: Data, file: String, environment: Environment, device: DeviceInfo?,
                               role: RunRole, tags: [String: String]) throws(ImportError) -> [RunRecord] {
        let output: Output
        do { output = try JSONDecoder().decode(Output.self, from: data) } catch {
            throw ImportError(file: file, reason: "not fio JSON output (\(error)); run fio with --output-format=json")
        }
        var workloads: [WorkloadResult] = []
        var latencyKind = "clat"
        var elapsedMax: UInt64 = 0
        for job in output.jobs {
            let options = (output.globalOptions ?? [:]).merging(job.jobOptions ?? [:]) { _, j in j }
            let name = job.jobname ?? "job"
            let rw = options["rw"] ?? options["readwrite"] ?? "read"
            guard let pattern = IOPattern(rawValue: rw) else {
                throw ImportError(file: file, reason: "fio job '\(name)' uses rw=\(rw), which vbench does not model (read, write, randread, randwrite, randrw)")
            }
            let bs = options["bs"].flatMap { ByteCount.parse($0) } ?? 4096
            let depth = options["iodepth"].flatMap { Int($0) } ?? 1
            let read = job.read, write = job.write
            let runtimeMs = job.jobRuntime ?? read?.runtime ?? write?.runtime ?? 0
            let elapsed = runtimeMs * 1_000_000
            elapsedMax = max(elapsedMax, elapsed)
            let jobResult = JobResult(
                index: 0, readOps: read?.totalIos ?? 0, writeOps: write?.totalIos ?? 0,
                readBytes: read?.ioBytes ?? 0, writeBytes: write?.ioBytes ?? 0,
                cpuUserNs: UInt64((job.usrCpu ?? 0) / 100 * Double(elapsed)),
                cpuSystemNs: UInt64((job.sysCpu ?? 0) / 100 * Double(elapsed)),
                submitCalls: 0, reapCalls: 0)
            var rep = RepetitionResult(index: 0, elapsedNs: elapsed, jobs: [jobResult], latency: nil, readLatency: nil, writeLatency: nil)
            // fio's own percentiles, of the job's main direction.
            let main = pattern.fixedReadPercent == 0 ? write : read
            let percentiles: [String: Double]?
            if let p = main?.latNs?.percentile { percentiles = p; latencyKind = "lat" } else { percentiles = main?.clatNs?.percentile }
            if let v = percentiles?["50.000000"] { rep.metrics[Metric.latP50.key] = v }
            if let v = percentiles?["99.000000"] { rep.metrics[Metric.latP99.key] = v }
            if let v = main?.latNs?.mean { rep.metrics[Metric.latMean.key] = v }
            let spec = BlockWorkloadSpec(pattern: pattern, blockSizeBytes: Int(bs), ioDepth: depth,
                                         readPercent: options["rwmixread"].flatMap { Int($0) },
                                         runtimeNs: elapsed, repetitions: 1, direct: options["direct"] == "1")
            workloads.append(WorkloadResult(spec: spec, repetitions: [rep]))
        }
        guard !workloads.isEmpty else { throw ImportError(file: file, reason: "fio output holds no jobs") }
        var allTags = tags
        allTags["imported"] = "fio"
        allTags["fio.latency"] = latencyKind
        let start = Date(timeIntervalSince1970: output.timestamp ?? 0)
        let version = output.fioVersion.hasPrefix("fio-") ? String(output.fioVersion.dropFirst(4)) : output.fioVersion
        return [RunRecord(
            runId: ImportSupport.contentId(data), startTime: start, endTime: start.addingTimeInterval(Double(elapsedMax) / 1e9), role: role,
            tool: ToolInfo(name: "fio", version: version), tags: allTags, environment: environment,
            device: device ?? DeviceInfo(kind: "block", name: output.diskUtil?.first?.name ?? "unknown", deviceClass: .unknown),
            family: "blk", target: nil, workloads: workloads)]
    }
}
