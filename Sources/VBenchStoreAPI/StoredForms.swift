import Dispatch
import FoundationEssentials
import Synchronization
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
        /// The moments of the values' logarithms (`RunMetric.logMoments`); nil unless all are positive.
        public var logMean: Double?, logStddev: Double?
    }
    public struct LatencyRow: Sendable, Equatable {
        public var workload: Int, histogram: [UInt8]
    }
    /// The run's keys that every summary row carries (migration `4-summary-keys`), computed as
    /// `StoreSQL.summaryKeysUpdate` computes them from the run, environment and device rows.
    public struct SummaryKeys: Sendable, Equatable {
        public var family, role: String, startTime: Double, collectorHost, kernel, hypervisor: String
        public var device, driver, controllerDriver, deviceClass: String

        public init(_ record: RunRecord, collectorHost: String) {
            family = record.family
            role = record.role.rawValue
            startTime = record.startTime.timeIntervalSince1970
            self.collectorHost = collectorHost
            kernel = record.environment.kernelRelease
            hypervisor = record.environment.hypervisor.vendor.rawValue
            let d = record.device
            // As stored: a missing driver or controller is '' (StoreSQL.distinguishingDriver).
            driver = d.driver ?? ""
            controllerDriver = d.controllerDriver ?? ""
            device = Self.distinguishingDriver(driver: driver, controller: controllerDriver, name: d.name)
            deviceClass = d.deviceClass.rawValue
        }

        /// `StoreSQL.distinguishingDriver` on stored columns ('' for a missing driver or controller).
        public static func distinguishingDriver(driver: String, controller: String, name: String) -> String {
            (driver == "sd" || driver.isEmpty) && !controller.isEmpty ? controller : (driver.isEmpty ? name : driver)
        }
    }

    /// The record's JSON as stored: version 2, compact. The received text when it already is
    /// that (the collector's payload), else encoded once here.
    public var json: String
    public var metrics: [MetricRow] = []
    public var summaries: [SummaryRow] = []
    public var latency: [LatencyRow] = []
    /// Each workload's spec as the `workloads` row holds it (JSON, sorted keys).
    public var specs: [String] = []
    /// The costly part of the record's guest audit (its `configurations` row); nil when the
    /// record carries no audit.
    public var configuration: StoredConfiguration?

    /// The stored forms of a batch, derived on every core (histogram merges and encodings are
    /// most of a record's cost); in the batch's order. The first failure is thrown.
    public static func of(_ batch: [(record: RunRecord, receivedJSON: String?)]) throws -> [StoredForms] {
        guard batch.count > 1 else { return try batch.map { try StoredForms($0.record, receivedJSON: $0.receivedJSON) } }
        let results = Mutex([Result<StoredForms, any Error>?](repeating: nil, count: batch.count))
        DispatchQueue.concurrentPerform(iterations: batch.count) { i in
            let result = Result { try StoredForms(batch[i].record, receivedJSON: batch[i].receivedJSON) }
            results.withLock { $0[i] = result }
        }
        return try results.withLock { $0 }.map { try $0!.get() }
    }

    public init(_ record: RunRecord, receivedJSON: String?) throws {
        if let text = receivedJSON, RunRecord.declaredSchemaVersion(text) == RunRecord.currentSchemaVersion {
            json = text
        } else {
            json = String(decoding: try record.jsonData(pretty: false), as: UTF8.self)
        }
        configuration = record.environment.audit.map { StoredConfiguration(AuditConfiguration($0)) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for (w, workload) in record.workloads.enumerated() {
            specs.append(String(decoding: try encoder.encode(workload.spec), as: UTF8.self))
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
                let log = RunMetric.logMoments(values)
                summaries.append(SummaryRow(workload: w, name: workload.name, metric: metric, n: s.n, mean: s.mean, median: s.median,
                                            stddev: s.stddev, min: s.min, max: s.max, logMean: log?.mean, logStddev: log?.stddev))
            }
            if let h = workload.latencyNs?.histogram, h.totalCount > 0 {
                latency.append(LatencyRow(workload: w, histogram: h.compactEncoded()))
            }
        }
    }
}

/// A `configurations` row: the costly findings of a guest audit as compact JSON, their count,
/// and the SHA-256 of the JSON, the unique key both backends insert-or-get by. The table holds
/// one row per distinct content, so it grows with the number of distinct guest setups (a
/// fleet's few images × their few costly settings), never with the number of runs.
public struct StoredConfiguration: Sendable, Equatable, Hashable {
    public var digest: String
    /// How many costly findings it holds (0: audited, nothing costly).
    public var warnings: Int
    public var json: String

    public init(_ configuration: AuditConfiguration) {
        json = configuration.json
        digest = SHA256.hex(Array(json.utf8))
        warnings = configuration.findings.count
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


/// Gathers the rows of the report aggregate queries (`StoreSQL.reportMetrics` and the rest)
/// into `ReportFacts`, the same for both backends. Holds one entry per group: the answer's
/// size, not the store's.
public struct ReportFactsBuilder {
    /// A row's group: `device` is the distinguishing driver (native runs of every driver
    /// make one group, `native`).
    public struct GroupRow {
        public var partition: String, family: String, workload: String, device: String, role: String
        public init(partition: String, family: String, workload: String, device: String, role: String) {
            self.partition = partition
            self.family = family
            self.workload = workload
            self.device = device
            self.role = role
        }
    }
    struct Slot: Hashable {
        var partition: String
        var key: ReportGroupKey
    }

    private let location: String
    private var groups: [Slot: ReportFacts.Group] = [:]
    private var facts = ReportFacts()
    /// The stored configurations with costly findings, by id (a handful).
    private var configurations: [Int64: AuditConfiguration] = [:]

    public init(location: String) { self.location = location }

    private func slot(_ g: GroupRow) throws -> Slot {
        guard let role = RunRole(rawValue: g.role) else { throw StoreError(path: location, reason: "a run has an unknown role '\(g.role)'") }
        return Slot(partition: g.partition, key: ReportGroupKey(family: g.family, workload: g.workload,
                                                                device: role == .native ? "native" : g.device, role: role))
    }

    /// One row of `StoreSQL.reportAggregates`: a metric of one driver and kernel of a group.
    /// `spread` is the sum of squares of the run means (SQLite) or their sample variance
    /// (PostgreSQL, `spreadIsVariance`).
    public mutating func add(aggregate g: GroupRow, metric: String, kernel: String, runs: Int, sum: Double, spread: Double,
                             spreadIsVariance: Bool, min: Double, max: Double, loneN: Int, loneStddev: Double) throws {
        let s = try slot(g)
        guard runs > 0 else { return }
        // Equal means: that value and no spread, exactly (as `SampleMoments(samples)` has it).
        let means = min == max ? SampleMoments(n: runs, mean: min, variance: 0)
            : spreadIsVariance ? SampleMoments(n: runs, mean: sum / Double(runs), variance: spread)
            : SampleMoments(n: runs, sum: sum, sumOfSquares: spread)
        let lone = runs == 1 ? SampleMoments(n: loneN, mean: sum, variance: loneStddev * loneStddev) : nil
        var part = ReportFacts.Group(key: s.key, partition: s.partition, first: Self.unseen, deviceClass: .unknown, hypervisor: "",
                                     driver: g.device, kernels: [kernel])
        part.metrics[metric] = ReportFacts.MetricFacts(runs: runs, runMeans: means, repetitions: lone)
        if groups[s] == nil { groups[s] = part } else { groups[s]!.merge(part) }
    }

    static let unseen = ReportFacts.Position(primary: .infinity, runId: "", workload: 0)

    /// A subgroup's newest row as PostgreSQL's text of the array `{10^10 − start, run id,
    /// workload index, class, hypervisor}` (`StoreSQL.reportAggregates`).
    public mutating func add(newest g: GroupRow, array text: String) throws {
        let parts = text.filter { $0 != "{" && $0 != "}" && $0 != "\"" }.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, let offset = Double(parts[0]), let w = Int(parts[2]) else {
            throw StoreError(path: location, reason: "the newest run of \(g.family) \(g.workload) \(g.device) reads as '\(text)', not {start, run, workload, class, hypervisor}")
        }
        try add(newest: g, start: 10_000_000_000 - offset, runId: parts[1], workload: w, deviceClass: parts[3], hypervisor: parts[4])
    }

    /// One of a group's newest rows (`StoreSQL.reportNewest`): the earliest place in the
    /// selection's order (newest start, then lowest run id) gives the group's place, device
    /// class, hypervisor and driver.
    public mutating func add(newest g: GroupRow, start: Double, runId: String, workload: Int, deviceClass: String, hypervisor: String) throws {
        let s = try slot(g)
        let place = ReportFacts.Position(primary: -start, runId: runId, workload: workload)
        guard let known = groups[s], place < known.first else { return }
        groups[s]!.first = place
        groups[s]!.deviceClass = DeviceClass(rawValue: deviceClass) ?? .unknown
        groups[s]!.hypervisor = hypervisor
        groups[s]!.driver = g.device
    }

    /// One run's merged latency histogram of a group's workload (compact form).
    public mutating func add(latency g: GroupRow, histogram bytes: [UInt8], run: String, workload: Int) throws {
        let s = try slot(g)
        let h: LatencyHistogram
        do { h = try LatencyHistogram(compact: bytes) } catch {
            throw StoreError(path: location, reason: "run \(run) workload \(g.workload): its latency histogram is corrupt (\(error)); the rest of the store is untouched")
        }
        guard groups[s] != nil else { return }
        if groups[s]!.latency == nil { groups[s]!.latency = h } else { groups[s]!.latency!.absorb(h) }
    }

    /// One row of `StoreSQL.reportConfigurationContents`: a stored configuration with costly findings.
    public mutating func add(configuration id: Int64, json: String) throws {
        do { configurations[id] = try AuditConfiguration(json: json) } catch {
            throw StoreError(path: location, reason: "configuration \(id) does not decode (\(error)); the store was written by a different vbench, or edited")
        }
    }

    /// One row of `StoreSQL.reportConfigurations`: `runs` runs of a group, measured on the
    /// device named `deviceName`, under configuration `id`. The configuration's findings that
    /// apply to the group's family and that device are counted for the group.
    public mutating func add(costly g: GroupRow, deviceName: String, configuration id: Int64, runs: Int) throws {
        let s = try slot(g)
        guard groups[s] != nil else { return }
        guard let configuration = configurations[id] else {
            throw StoreError(path: location, reason: "runs point at configuration \(id), which is not stored; the store is inconsistent (restore it, or re-import its records)")
        }
        for finding in configuration.costly(forFamily: g.family, device: deviceName) { groups[s]!.costly[finding, default: 0] += runs }
    }

    public mutating func add(runs partition: String, role: String, count: Int) throws {
        guard let r = RunRole(rawValue: role) else { throw StoreError(path: location, reason: "a run has an unknown role '\(role)'") }
        facts.runs[partition, default: [:]][r, default: 0] += count
    }

    public mutating func add(emulated partition: String, kind: String, name: String, driver: String, controllerDriver: String,
                             pciId: String, hypervisor: String, newest: Double) {
        let device = DeviceInfo(kind: kind, name: name, driver: driver.isEmpty ? nil : driver,
                                controllerDriver: controllerDriver.isEmpty ? nil : controllerDriver, deviceClass: .emulated,
                                pciId: pciId.isEmpty ? nil : pciId)
        facts.emulated.append(.init(partition: partition, device: device, hypervisor: Hypervisor(rawValue: hypervisor) ?? .unknown,
                                    first: .init(primary: -newest, runId: name, workload: 0)))
    }

    public mutating func result() -> ReportFacts {
        facts.groups = groups.values.sorted { $0.first < $1.first }
        return facts
    }
}

/// Builds what `compare` reads (`CompareRun`) from the rows of `StoreSQL.compareRuns` and
/// `compareSummaries`: per run a few keys, per workload its name and each compared metric's
/// moments (one summary row, never the repetitions). No records, specs or tags beyond `runs.group`.
public struct CompareRunBuilder {
    private var runs: [CompareRun] = []
    /// Run id (as the store keys it) → place in `runs`.
    private var places: [String: Int] = [:]
    private var workloadPlaces: [[Int: Int]] = []
    private var strings: [String: String] = [:]
    /// Each run's `runs.configuration_id`, in `runs`' order, and the stored configurations.
    private var configurationIds: [Int64?] = []
    private var configurations: [Int64: [CostlyFinding]] = [:]
    private let location: String

    public init(location: String) { self.location = location }

    private mutating func intern(_ s: String) -> String {
        if let known = strings[s] { return known }
        strings[s] = s
        return s
    }

    /// One run's keys; `key` is its id as the store's rows name it (text or uuid).
    public mutating func add(run id: UUID, key: String, start: Double, family: String, role: String, bootId: String?, collectorHost: String,
                             hostname: String, kernel: String, hypervisor: String, name: String, driver: String, controller: String,
                             deviceClass: String, group: String?, onlineCpus: Int, labGuests: String?, labRound: String?,
                             configuration: Int64? = nil) throws {
        guard let runRole = RunRole(rawValue: role) else { throw StoreError(path: location, reason: "run \(id) has an unknown role '\(role)'") }
        guard places[key] == nil else { return }
        places[key] = runs.count
        runs.append(CompareRun(runId: id, family: intern(family), role: runRole, startTime: Date(timeIntervalSince1970: start), bootId: bootId,
                               group: group, hostname: intern(hostname), collectorHost: intern(collectorHost), deviceName: intern(name),
                               device: intern(StoredForms.SummaryKeys.distinguishingDriver(driver: driver, controller: controller, name: name)),
                               hypervisor: intern(hypervisor), kernel: intern(kernel), deviceClass: intern(deviceClass),
                               onlineCpus: onlineCpus, labGuests: labGuests, labRound: labRound, workloads: []))
        workloadPlaces.append([:])
        configurationIds.append(configuration)
    }

    /// One row of `StoreSQL.configurationContents`.
    public mutating func add(configuration id: Int64, json: String) throws {
        do { configurations[id] = try AuditConfiguration(json: json).findings } catch {
            throw StoreError(path: location, reason: "configuration \(id): \(error); the store's configurations table is damaged")
        }
    }

    /// One summary row: a workload's moments of one metric.
    public mutating func add(summary key: String, workload: Int, name: String, metric: String, n: Int, mean: Double, stddev: Double,
                             logMean: Double?, logStddev: Double?) {
        guard let r = places[key], mean.isFinite else { return }
        let w: Int
        if let known = workloadPlaces[r][workload] {
            w = known
        } else {
            w = runs[r].workloads.count
            workloadPlaces[r][workload] = w
            runs[r].workloads.append(CompareRun.Workload(index: workload, name: intern(name), metrics: [:]))
        }
        runs[r].workloads[w].metrics[intern(metric)] = RunMetric(n: n, mean: mean, stddev: stddev, logMean: logMean, logStddev: logStddev)
    }

    /// The runs in the order their rows came (newest first), each workload in index order.
    public mutating func build() -> [CompareRun] {
        for i in runs.indices {
            runs[i].workloads.sort { $0.index < $1.index }
            runs[i].costly = configurationIds[i].flatMap { configurations[$0] }
        }
        defer { runs = []; places = [:]; workloadPlaces = []; configurationIds = [] }
        return runs
    }
}

/// Collects the repetition rows of `StoreSQL.compareRepetitions`: run → workload index →
/// metric → values in repetition order (non-finite ones left out).
public struct RepetitionRows {
    public private(set) var values: [UUID: [Int: [String: [Double]]]] = [:]
    public init() {}
    public mutating func add(run: UUID, workload: Int, metric: String, value: Double) {
        guard value.isFinite else { return }
        values[run, default: [:]][workload, default: [:]][metric, default: []].append(value)
    }
}

extension StoredConfiguration {
    /// The configurations of a page of stored records (run id as the store names it, record
    /// JSON), decoded on every core, in the page's order; nil for a record without an audit.
    /// What migration `6-configurations` backfills; only the audit is decoded (`auditOnly`).
    /// A record that does not decode throws,
    /// naming its run (the first of the page's in order); the caller's transaction then
    /// leaves the store as it was.
    /// A stored record's `environment.audit`, reading nothing else of it but its schema version:
    /// the workloads and their compressed histograms are left undecoded (a whole record took
    /// ~40 ms in a debug build, most of it inflating histograms). Not a record's JSON, an
    /// unreadable version or an audit that does not decode throws.
    static func auditOnly(_ json: String) throws(RecordError) -> GuestAudit? {
        struct View: Decodable {
            struct Environment: Decodable { var audit: GuestAudit? }
            var schemaVersion: Int
            var environment: Environment
        }
        let view: View
        do { view = try JSONDecoder().decode(View.self, from: Data(json.utf8)) } catch { throw .malformed("\(error)") }
        guard RunRecord.readableSchemaVersions.contains(view.schemaVersion) else { throw .unsupportedSchemaVersion(view.schemaVersion) }
        return view.environment.audit
    }

    public static func backfill(_ page: [(run: String, json: String)], store: String) throws -> [StoredConfiguration?] {
        let results = Mutex([Result<StoredConfiguration?, RecordError>?](repeating: nil, count: page.count))
        DispatchQueue.concurrentPerform(iterations: page.count) { i in
            let result = Result { () throws(RecordError) -> StoredConfiguration? in
                try auditOnly(page[i].json).map { StoredConfiguration(AuditConfiguration($0)) }
            }
            results.withLock { $0[i] = result }
        }
        return try results.withLock { $0 }.enumerated().map { i, result in
            switch result {
            case .success(let c): return c
            case .failure(let error):
                throw StoreError(path: store, reason: "migration 6-configurations: run \(page[i].run) has a record that does not decode (\(error)); nothing was changed: fix or remove that run with the vbench that wrote it, then open the store again")
            case nil:
                throw StoreError(path: store, reason: "migration 6-configurations: run \(page[i].run) was not decoded; nothing was changed")
            }
        }
    }
}
