import FoundationEssentials
import VBenchCore

/// A selection the user wrote that cannot be read: names the selection, the part and what to
/// write instead. Its cause is usage (exit 64).
public struct SelectionError: CausedError, Sendable {
    public var cause: FailureCause { .usage }
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One side of a comparison, or what report and capacity read: a filter over the store, or a
/// file of records.
public struct RunSelection: Sendable {
    public var text: String
    public var query: RunQuery?
    public var file: String?
    /// `last=K`: a history baseline, the K runs of each machine and device that started last
    /// before the other side's first run.
    public var last: Int?

    /// `kernel=6.1.0-56-amd64,role=guest,lab.disk=ide` (keys family, role, class, driver,
    /// kernel, hypervisor, host, since, until, last; any other key is a tag), or the path of a
    /// records file (a JSON array as lab runs write, one record, or a folder of record files).
    public static func parse(_ text: String, common: RunQuery) throws(SelectionError) -> RunSelection {
        if text.contains("/") || text.hasSuffix(".json") || FileManager.default.fileExists(atPath: text) {
            guard FileManager.default.fileExists(atPath: text) else {
                throw SelectionError("\(text): no such records file or folder")
            }
            return RunSelection(text: text, file: text)
        }
        var q = common
        var last: Int?
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty else {
                throw SelectionError("selection '\(text)': '\(part)' is not key=value (e.g. kernel=6.1.0-56-amd64,lab.disk=ide)")
            }
            let (k, v) = (kv[0], kv[1])
            switch k {
            case "family": q.family = v
            case "role":
                guard let r = RunRole(rawValue: v) else { throw SelectionError("selection '\(text)': role must be guest or native; got \(v)") }
                q.role = r
            case "class":
                guard let c = DeviceClass(rawValue: v) else { throw SelectionError("selection '\(text)': unknown device class \(v)") }
                q.deviceClass = c
            case "driver": q.driver = v
            case "kernel": q.kernel = v
            case "host": q.collectorHost = v
            case "hypervisor":
                guard let h = Hypervisor(rawValue: v) else { throw SelectionError("selection '\(text)': unknown hypervisor \(v)") }
                q.hypervisor = h
            case "last":
                guard let k = Int(v), (1...100_000).contains(k) else {
                    throw SelectionError("selection '\(text)': last must be a number of runs, 1…100000 (last=10: the 10 latest runs of each machine and device before the other side's first); got \(v)")
                }
                last = k
            case "since", "until":
                guard let d = try? Date(v, strategy: .iso8601) else { throw SelectionError("selection '\(text)': \(k) must be ISO 8601; got \(v)") }
                if k == "since" { q.since = d } else { q.until = d }
            default: q.tags[k.hasPrefix("tag.") ? String(k.dropFirst(4)) : k] = v
            }
        }
        return RunSelection(text: text, query: q, last: last)
    }

    /// What compare reads of the selected runs: from a store only that (`RunStore.compareRuns`),
    /// from a file its records reduced to it, filtered by the common options too.
    public func compareRuns(store: () throws -> any RunStore, common: RunQuery, metrics: [String]) throws -> [CompareRun] {
        if let q = query { return try store().compareRuns(q, metrics: metrics) }
        return try records(store: store, common: common).map { CompareRun($0, metrics: metrics) }
    }

    /// The selected records; a file's records are filtered by the common options too.
    /// From a store only `metrics` are read (nil: all).
    public func records(store: () throws -> any RunStore, common: RunQuery, metrics: [String]? = nil) throws -> [RunRecord] {
        if let q = query {
            return try store().records(q, metrics: metrics)
        }
        guard let path = file else { return [] }
        return try Self.readRecords(path).filter { common.matches($0) }
    }

    /// The records of a file (a JSON array as lab runs write, or one record) or of every
    /// `.json` file in a folder, in name order.
    public static func readRecords(_ path: String) throws(SelectionError) -> [RunRecord] {
        var isDir = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw SelectionError("\(path): no such records file or folder") }
        let files: [String]
        if isDir {
            do {
                files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".json") }.sorted().map { "\(path)/\($0)" }
            } catch { throw SelectionError("\(path): cannot list the folder (\(error))") }
        } else {
            files = [path]
        }
        var out: [RunRecord] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: f) else { throw SelectionError("\(f): cannot be read") }
            do {
                if let elements = RunRecord.arrayElements(data) {
                    for r in elements { out.append(try RunRecord.decode(data.subdata(in: r))) }
                } else {
                    out.append(try RunRecord.decode(data))
                }
            } catch {
                throw SelectionError("\(f): not vbench records (\(error))")
            }
        }
        return out
    }
}

extension RunQuery {
    /// The same filter applied to a record in memory (for records read from files).
    public func matches(_ r: RunRecord) -> Bool {
        if let f = family, r.family != f { return false }
        if let x = role, r.role != x { return false }
        if let c = deviceClass, r.device.deviceClass != c { return false }
        if let d = driver, r.device.driver != d && r.device.controllerDriver != d { return false }
        if let k = kernel, r.environment.kernelRelease != k { return false }
        if let h = hypervisor, r.environment.hypervisor.vendor != h { return false }
        // A records file has no receipt: only records that carry the label match a host.
        if let h = collectorHost, r.tags[RunGrouping.hostTag] != h { return false }
        if let s = since, r.startTime < s { return false }
        if let u = until, r.startTime >= u { return false }
        for (k, v) in tags where r.tags[k] != v { return false }
        return true
    }
}

/// `--group-by host|hypervisor|kernel|class`: one section per value across the fleet.
public enum GroupKey: String, CaseIterable, Sendable {
    case host, hypervisor, kernel, `class`

    /// The same split as the store's aggregate queries make it.
    public var partition: RunPartition {
        switch self {
        case .host: .host
        case .hypervisor: .hypervisor
        case .kernel: .kernel
        case .class: .class
        }
    }
}

/// Runs split into groups by a key, each with the native baseline its ratios need.
public enum RunGrouping {
    /// The in-memory label a run read from a store carries: the collector that received it.
    public static let hostTag = Comparator.collectorHostTag

    public static func value(_ r: some PartitionedRun, _ key: GroupKey) -> String { r.partitionValue(key.partition) }

    /// The guest runs split by `key`, sorted by value. Native runs are the baseline of every
    /// group (of their own host's group when grouping by host), so ratios stay computable.
    public static func partition<Run: PartitionedRun>(_ records: [Run], by key: GroupKey?) -> [(value: String?, records: [Run])] {
        guard let key else { return [(nil, records)] }
        let natives = records.filter { $0.role == .native }
        let guests = records.filter { $0.role != .native }
        var groups: [String: [Run]] = [:]
        for r in guests { groups[value(r, key), default: []].append(r) }
        if groups.isEmpty {  // only native runs: group them by themselves
            for r in natives { groups[value(r, key), default: []].append(r) }
            return groups.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        return groups.sorted { $0.key < $1.key }.map { v, members in
            let baseline = key == .host ? natives.filter { value($0, .host) == v } : natives
            return (v, members + baseline)
        }
    }
}

/// A run `--group-by` can place: a record, or what compare reads of one.
public protocol PartitionedRun {
    var role: RunRole { get }
    func partitionValue(_ p: RunPartition) -> String
}

extension RunRecord: PartitionedRun {
    public func partitionValue(_ p: RunPartition) -> String { p.value(self) }
}

extension CompareRun: PartitionedRun {
    public func partitionValue(_ p: RunPartition) -> String { p.value(self) }
}

extension RunStore {
    /// The runs `query` selects, newest first, read from the store's summary rows (no record's
    /// JSON is decoded), each with the collector that received it as the in-memory label
    /// `collector.host` (for grouping; the stored record is not changed). `latency` adds each
    /// workload's merged latency histogram (for curves).
    /// `metrics` limits the repetitions' metrics read to those named (nil: all).
    public func records(_ query: RunQuery, latency: Bool = false, metrics: [String]? = nil) throws -> [RunRecord] {
        try summaryRecords(query, latency: latency, metrics: metrics)
    }
}
