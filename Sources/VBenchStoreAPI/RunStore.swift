import FoundationEssentials
import VBenchCore

/// Why the store failed, with the file and what to do.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "results store \(path): \(reason)" }
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// What the transport proved about a record's sender and where it arrived: kept apart from
/// what the payload claims.
public struct Receipt: Sendable, Equatable {
    /// The sender as the transport names it: `vsock:cid=7`, `unix:/run/vbench.sock`, `tcp:127.0.0.1:40112`, `local`.
    public var peer: String
    public var receivedAt: Date
    /// Host-side facts stamped at ingest.
    public var collectorHost: String
    public var collectorKernel: String
    /// The record's JSON exactly as received, already checked by decoding it; stored as is
    /// (saves encoding it again). nil: the store encodes the record.
    public var receivedJSON: String?

    public init(peer: String, receivedAt: Date, collectorHost: String, collectorKernel: String, receivedJSON: String? = nil) {
        self.peer = peer
        self.receivedAt = receivedAt
        self.collectorHost = collectorHost
        self.collectorKernel = collectorKernel
        self.receivedJSON = receivedJSON
    }
}

/// Whether a record was new.
public enum StoreOutcome: String, Sendable, Equatable {
    case stored
    case duplicate
}

/// A selection of stored runs; nil fields select everything.
public struct RunQuery: Sendable, Equatable {
    public var family: String?
    public var role: RunRole?
    public var deviceClass: DeviceClass?
    public var driver: String?
    public var kernel: String?
    public var hypervisor: Hypervisor?
    /// The collector (hypervisor host) that received the run: its `--host-label`, by default its host name.
    public var collectorHost: String?
    /// `key=value` labels that must all be present.
    public var tags: [String: String]
    public var since: Date?
    public var until: Date?
    public var limit: Int?

    public init(family: String? = nil, role: RunRole? = nil, deviceClass: DeviceClass? = nil, driver: String? = nil,
                kernel: String? = nil, hypervisor: Hypervisor? = nil, collectorHost: String? = nil, tags: [String: String] = [:],
                since: Date? = nil, until: Date? = nil, limit: Int? = nil) {
        self.collectorHost = collectorHost
        self.family = family
        self.role = role
        self.deviceClass = deviceClass
        self.driver = driver
        self.kernel = kernel
        self.hypervisor = hypervisor
        self.tags = tags
        self.since = since
        self.until = until
        self.limit = limit
    }
}

/// One row of `vbench runs list`.
public struct RunSummary: Sendable, Equatable {
    public var runId: UUID
    public var startTime: Date
    public var family: String
    public var role: RunRole
    public var hypervisor: String
    public var kernel: String
    public var device: String
    public var driver: String?
    public var deviceClass: String
    public var peer: String
    /// The collector that received it (`Receipt.collectorHost`).
    public var collectorHost: String
    public var workloads: Int

    public init(runId: UUID, startTime: Date, family: String, role: RunRole, hypervisor: String, kernel: String, device: String,
                driver: String?, deviceClass: String, peer: String, collectorHost: String, workloads: Int) {
        self.runId = runId
        self.startTime = startTime
        self.family = family
        self.role = role
        self.hypervisor = hypervisor
        self.kernel = kernel
        self.device = device
        self.driver = driver
        self.deviceClass = deviceClass
        self.peer = peer
        self.collectorHost = collectorHost
        self.workloads = workloads
    }
}

/// A stored run with its receipt as it was stored (`receipt.receivedJSON` holds the record's
/// JSON): what moving a store between backends copies.
public struct StoredRun: Sendable {
    public var record: RunRecord
    public var receipt: Receipt
    public init(record: RunRecord, receipt: Receipt) {
        self.record = record
        self.receipt = receipt
    }
}

/// The store cannot be reached (server down, restarting, network): nothing of the operation
/// was committed, and retrying later may succeed. Anything else a store throws is about the data
/// or the configuration and will fail again.
public struct StoreUnavailable: Error, CustomStringConvertible, Sendable {
    public var store: String
    public var reason: String
    public init(store: String, reason: String) {
        self.store = store
        self.reason = reason
    }
    public var description: String { "results store \(store) is unavailable: \(reason); records not acknowledged stay with their senders" }
}

/// Where records are kept: SQLite on one host, PostgreSQL for a fleet; the same protocol, the
/// same queries (`StoreSQL`), the same numbered migrations (`StoreSchema`).
public protocol RunStore: Sendable {
    /// Where it is, for messages (a path, or a postgres:// URL without any password).
    var location: String { get }
    /// Stores `record` in one transaction unless its run id is already there.
    func store(_ record: RunRecord, receipt: Receipt) throws -> StoreOutcome
    /// Stores several records in one transaction (group commit: one fsync for all of them);
    /// returns an outcome per record, in order. Either all are stored or none.
    func store(batch: [(record: RunRecord, receipt: Receipt)]) throws -> [StoreOutcome]
    /// Runs matching `query`, newest first.
    func runs(_ query: RunQuery) throws -> [RunSummary]
    /// The whole record as it was received.
    func record(_ runId: UUID) throws -> RunRecord?
    /// The selected runs, newest first, read from their summary rows (no record JSON is
    /// decoded): keys, tags, specs and every repetition's metrics, and with `latency` each
    /// workload's merged latency histogram (`SummaryRecordBuilder`). What `report`, `compare`
    /// and `capacity` compute on. Tags carry the receiving collector as `collector.host`.
    /// `metrics` limits the repetitions' metrics to those named (nil: all).
    func summaryRecords(_ query: RunQuery, latency: Bool, metrics: [String]?) throws -> [RunRecord]
    /// What `vbench report` computes from, aggregated in SQL: per `partition` value, family,
    /// workload, device and role, the runs' moments of each of `metrics`, the newest run's
    /// device class and hypervisor, the kernels, the runs counted per role and the emulated
    /// guest devices; with `latency`, each group's merged latency histogram (the blobs are
    /// streamed and merged, one histogram per group held). Memory grows with the answer.
    func reportFacts(_ query: RunQuery, metrics: [String], partition: RunPartition?, latency: Bool) throws -> ReportFacts
    /// What `compare` reads of the selected runs, newest first: their keys, the `runs.group`
    /// tag and each workload's moments of `metrics` (one summary row per run, workload and
    /// metric; no repetitions). Neither records nor specs are built.
    func compareRuns(_ query: RunQuery, metrics: [String]) throws -> [CompareRun]
    /// The repetition values of `metrics` of the runs named (what `Comparator.repetitionsNeeded`
    /// asks for): run → workload index → metric → values in repetition order.
    func repetitions(_ runIds: [UUID], metrics: [String]) throws -> [UUID: [Int: [String: [Double]]]]
    /// Per-repetition values of `metric` for each workload of the selected runs.
    func metricSamples(_ query: RunQuery, metric: String) throws -> [MetricSample]
    /// Migrations applied, oldest first (names from `StoreSchema.migrations`).
    func appliedMigrations() throws -> [String]
    /// Up to `limit` stored runs with run ids after `after` (all when nil), in run id order.
    func export(after: UUID?, limit: Int) throws -> [StoredRun]
    /// Which of `runIds` are stored.
    func contains(_ runIds: [UUID]) throws -> Set<UUID>
    /// Lets go of connections; the store is not used afterwards.
    func close()
}

extension RunStore {
    public func summaryRecords(_ query: RunQuery, latency: Bool) throws -> [RunRecord] {
        try summaryRecords(query, latency: latency, metrics: nil)
    }
}

/// One repetition's value of one metric, with what it belongs to.
public struct MetricSample: Sendable, Equatable {
    public var runId: UUID
    public var workload: String
    public var repetition: Int
    public var value: Double
    public init(runId: UUID, workload: String, repetition: Int, value: Double) {
        self.runId = runId
        self.workload = workload
        self.repetition = repetition
        self.value = value
    }
}
