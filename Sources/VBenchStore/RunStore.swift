import FoundationEssentials
import VBenchCore

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
    /// `key=value` labels that must all be present.
    public var tags: [String: String]
    public var since: Date?
    public var until: Date?
    public var limit: Int?

    public init(family: String? = nil, role: RunRole? = nil, deviceClass: DeviceClass? = nil, driver: String? = nil,
                kernel: String? = nil, hypervisor: Hypervisor? = nil, tags: [String: String] = [:],
                since: Date? = nil, until: Date? = nil, limit: Int? = nil) {
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
    public var workloads: Int
}

/// Where records are kept. SQLite now; PostgreSQL later behind the same protocol.
public protocol RunStore: Sendable {
    /// Stores `record` in one transaction unless its run id is already there.
    func store(_ record: RunRecord, receipt: Receipt) throws -> StoreOutcome
    /// Stores several records in one transaction (group commit: one fsync for all of them);
    /// returns an outcome per record, in order. Either all are stored or none.
    func store(batch: [(record: RunRecord, receipt: Receipt)]) throws -> [StoreOutcome]
    /// Runs matching `query`, newest first.
    func runs(_ query: RunQuery) throws -> [RunSummary]
    /// The whole record as it was received.
    func record(_ runId: UUID) throws -> RunRecord?
    /// Per-repetition values of `metric` for each workload of the selected runs.
    func metricSamples(_ query: RunQuery, metric: String) throws -> [MetricSample]
}

/// One repetition's value of one metric, with what it belongs to.
public struct MetricSample: Sendable, Equatable {
    public var runId: UUID
    public var workload: String
    public var repetition: Int
    public var value: Double
}
