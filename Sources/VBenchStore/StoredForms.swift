import FoundationEssentials
import VBenchCore

/// What both backends store for a record besides its JSON, computed once, outside any
/// transaction: per-repetition metric rows, the summary row per workload and metric, and each
/// workload's merged latency histogram in the compact form (for curves and merges).
public struct StoredForms: Sendable {
    public struct MetricRow: Sendable, Equatable {
        public var workload: Int, repetition: Int, metric: String, value: Double
    }
    public struct SummaryRow: Sendable, Equatable {
        public var workload: Int, name: String, metric: String
        public var n: Int, mean: Double, median: Double, stddev: Double, min: Double, max: Double
    }
    public struct LatencyRow: Sendable, Equatable {
        public var workload: Int, histogram: [UInt8]
    }

    /// The record's JSON as stored: version 2, compact. The received text when it already is
    /// that (the collector's payload), else encoded once here.
    public var json: String
    public var metrics: [MetricRow] = []
    public var summaries: [SummaryRow] = []
    public var latency: [LatencyRow] = []

    public init(_ record: RunRecord, receivedJSON: String?) throws {
        if let text = receivedJSON, RunRecord.declaredSchemaVersion(text) == RunRecord.currentSchemaVersion {
            json = text
        } else {
            json = String(decoding: try record.jsonData(pretty: false), as: UTF8.self)
        }
        for (w, workload) in record.workloads.enumerated() {
            var perMetric: [String: [Double]] = [:]
            for rep in workload.repetitions {
                var values = rep.metrics
                // Request/response tail latency lives in the histogram only: the row carries it,
                // so SQL sees what `WorkloadResult.values(of:)` gives.
                if values[Metric.latP99.key] == nil, let p99 = rep.latencyNs?.percentiles["p99"] { values[Metric.latP99.key] = Double(p99) }
                for (metric, value) in values.sorted(by: { $0.key < $1.key }) {
                    metrics.append(MetricRow(workload: w, repetition: rep.index, metric: metric, value: value))
                    if value.isFinite { perMetric[metric, default: []].append(value) }
                }
            }
            for (metric, values) in perMetric.sorted(by: { $0.key < $1.key }) {
                guard let s = MetricSummary(values) else { continue }
                summaries.append(SummaryRow(workload: w, name: workload.name, metric: metric, n: s.n, mean: s.mean, median: s.median,
                                            stddev: s.stddev, min: s.min, max: s.max))
            }
            if let h = workload.latencyNs?.histogram, h.totalCount > 0 {
                latency.append(LatencyRow(workload: w, histogram: h.compactEncoded()))
            }
        }
    }
}

/// Builds the records `report`, `compare` and `capacity` read from the rows the store's
/// summary queries return, without the records' JSON: the run's keys, tags, workload specs,
/// every repetition's metrics and (when asked) each workload's merged latency histogram. Jobs,
/// per-repetition histograms and the target are left out; `vbench runs show` reads the whole
/// record.
public struct SummaryRecordBuilder {
    private var order: [UUID] = []
    private var runs: [UUID: RunRecord] = [:]
    private var specs: [String: WorkloadSpec] = [:]
    private var reps: [UUID: [Int: [Int: [String: Double]]]] = [:]
    private var workloadSpecs: [UUID: [Int: WorkloadSpec]] = [:]
    private var latency: [UUID: [Int: LatencyHistogram]] = [:]
    private let location: String
    /// One copy of each string many runs share (host names, kernels, drivers, tag values).
    private var strings: [String: String] = [:]

    public init(location: String) { self.location = location }

    private mutating func intern(_ s: String) -> String {
        if let known = strings[s] { return known }
        strings[s] = s
        return s
    }

    public struct RunRow {
        public var runId: UUID, start: Double, end: Double, family: String, role: String, toolVersion: String, bootId: String?
        public var collectorHost: String
        public var hostname: String, kernel: String, cpuModel: String, onlineCpus: Int, memoryBytes: Int64, numaNodes: Int, hypervisor: String
        public var kind: String, name: String, driver: String, controllerDriver: String, deviceClass: String, pciId: String, sizeBytes: Int64
        public init(runId: UUID, start: Double, end: Double, family: String, role: String, toolVersion: String, bootId: String?,
                    collectorHost: String, hostname: String, kernel: String, cpuModel: String, onlineCpus: Int, memoryBytes: Int64,
                    numaNodes: Int, hypervisor: String, kind: String, name: String, driver: String, controllerDriver: String,
                    deviceClass: String, pciId: String, sizeBytes: Int64) {
            self.runId = runId; self.start = start; self.end = end; self.family = family; self.role = role
            self.toolVersion = toolVersion; self.bootId = bootId; self.collectorHost = collectorHost
            self.hostname = hostname; self.kernel = kernel; self.cpuModel = cpuModel; self.onlineCpus = onlineCpus
            self.memoryBytes = memoryBytes; self.numaNodes = numaNodes; self.hypervisor = hypervisor
            self.kind = kind; self.name = name; self.driver = driver; self.controllerDriver = controllerDriver
            self.deviceClass = deviceClass; self.pciId = pciId; self.sizeBytes = sizeBytes
        }
    }

    public mutating func add(run row: RunRow) throws {
        var r = row
        for path in [\RunRow.family, \.toolVersion, \.collectorHost, \.hostname, \.kernel, \.cpuModel, \.hypervisor, \.kind, \.name,
                     \.driver, \.controllerDriver, \.deviceClass, \.pciId] as [WritableKeyPath<RunRow, String>] {
            r[keyPath: path] = intern(r[keyPath: path])
        }
        guard let role = RunRole(rawValue: r.role) else { throw StoreError(path: location, reason: "run \(r.runId) has an unknown role '\(r.role)'") }
        let env = Environment(hostname: r.hostname, kernelRelease: r.kernel, cpuModel: r.cpuModel, onlineCpus: r.onlineCpus,
                              memoryBytes: UInt64(max(0, r.memoryBytes)), numaNodes: r.numaNodes,
                              hypervisor: HypervisorInfo(vendor: Hypervisor(rawValue: r.hypervisor) ?? .unknown), bootId: r.bootId)
        let device = DeviceInfo(kind: r.kind, name: r.name, sizeBytes: r.sizeBytes == 0 ? nil : UInt64(r.sizeBytes),
                                driver: r.driver.isEmpty ? nil : r.driver, controllerDriver: r.controllerDriver.isEmpty ? nil : r.controllerDriver,
                                deviceClass: DeviceClass(rawValue: r.deviceClass) ?? .unknown, pciId: r.pciId.isEmpty ? nil : r.pciId)
        let record = RunRecord(runId: r.runId, startTime: Date(timeIntervalSince1970: r.start), endTime: Date(timeIntervalSince1970: r.end),
                               role: role, tool: ToolInfo(version: r.toolVersion), tags: [Comparator.collectorHostTag: r.collectorHost],
                               environment: env, device: device, family: r.family, target: nil, workloads: [])
        if runs.updateValue(record, forKey: r.runId) == nil { order.append(r.runId) }
    }

    public mutating func add(tag run: UUID, key: String, value: String) {
        let (k, v) = (intern(key), intern(value))
        runs[run]?.tags[k] = v
    }

    public mutating func add(workload run: UUID, index: Int, specJSON: String) throws {
        let spec: WorkloadSpec
        if let known = specs[specJSON] { spec = known } else {
            do { spec = try JSONDecoder().decode(WorkloadSpec.self, from: Data(specJSON.utf8)) } catch {
                throw StoreError(path: location, reason: "run \(run) workload \(index) has a spec that does not decode (\(error))")
            }
            specs[specJSON] = spec
        }
        workloadSpecs[run, default: [:]][index] = spec
    }

    public mutating func add(metric run: UUID, workload: Int, repetition: Int, metric: String, value: Double) {
        let name = intern(metric)
        reps[run, default: [:]][workload, default: [:]][repetition, default: [:]][name] = value
    }

    public mutating func add(latency run: UUID, workload: Int, histogram bytes: [UInt8], name: () -> String) throws {
        do { latency[run, default: [:]][workload] = try LatencyHistogram(compact: bytes) } catch {
            throw StoreError(path: location, reason: "run \(run) workload \(name()): its latency histogram is corrupt (\(error)); the rest of the store is untouched")
        }
    }

    /// The records, in the order their runs were added; the builder's rows are let go of as
    /// each record is made (so the two are not both held whole).
    public mutating func records() -> [RunRecord] {
        var out: [RunRecord] = []
        out.reserveCapacity(order.count)
        for id in order {
            guard var record = runs.removeValue(forKey: id) else { continue }
            let specs = workloadSpecs.removeValue(forKey: id) ?? [:]
            let runReps = reps.removeValue(forKey: id) ?? [:]
            record.workloads = specs.keys.sorted().map { w in
                let byRep = runReps[w] ?? [:]
                let repetitions = byRep.keys.sorted().map { r in
                    RepetitionResult(index: r, elapsedNs: 0, jobs: [], metrics: byRep[r] ?? [:])
                }
                var result = WorkloadResult(spec: specs[w]!, repetitions: repetitions, summarize: false)
                if let h = latency[id]?[w] { result.latencyNs = LatencyResult(h) }
                return result
            }
            latency.removeValue(forKey: id)
            out.append(record)
        }
        order = []
        return out
    }
}

