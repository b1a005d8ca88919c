import ArgumentParser
import VBenchGuestCLI
import VBenchCore

/// `--group-by host|hypervisor|kernel|class`: one section per value across the fleet.
enum GroupKey: String, ExpressibleByArgument, CaseIterable, Sendable {
    case host, hypervisor, kernel, `class`

    /// The same split as the store's aggregate queries make it.
    var partition: RunPartition { RunPartition(rawValue: rawValue)! }
}

enum RunGrouping {
    /// The in-memory label a run read from a store carries: the collector that received it.
    static let hostTag = Comparator.collectorHostTag

    static func value(_ r: some PartitionedRun, _ key: GroupKey) -> String { r.partitionValue(key.partition) }

    /// The guest runs split by `key`, sorted by value. Native runs are the baseline of every
    /// group (of their own host's group when grouping by host), so ratios stay computable.
    static func partition<Run: PartitionedRun>(_ records: [Run], by key: GroupKey?) -> [(value: String?, records: [Run])] {
        guard let key else { return [(nil, records)] }
        let natives = records.filter { $0.role == .native }
        let guests = records.filter { $0.role != .native }
        var groups: [String: [Run]] = [:]
        for r in guests { groups[value(r, key), default: []].append(r) }
        if groups.isEmpty {  // only native runs: group them by themselves
            for r in natives { groups[value(r, key), default: []].append(r) }
            return groups.keys.sorted().map { ($0, groups[$0]!) }
        }
        return groups.keys.sorted().map { v in
            let baseline = key == .host ? natives.filter { value($0, .host) == v } : natives
            return (v, groups[v]! + baseline)
        }
    }

    /// Section titles for text and Markdown.
    static func heading(_ key: GroupKey, _ value: String, markdown: Bool) -> String {
        markdown ? "## \(key.rawValue): \(value)\n\n" : "== \(key.rawValue): \(value) ==\n"
    }

    /// One group's JSON document wrapped with its group: `{"group": {"key", "value"}, field: body}`.
    static func json(_ key: GroupKey, _ value: String, field: String, _ body: String) -> String {
        "{\"group\": {\"key\": \(CollectLog.quote(key.rawValue)), \"value\": \(CollectLog.quote(value))}, \"\(field)\": \(body)}"
    }

    /// The groups' JSON documents as one array.
    static func jsonArray(_ parts: [String]) -> String { "[\n" + parts.joined(separator: ",\n") + "\n]\n" }

    /// Several CSV documents with the same header as one, with a leading column for the group.
    static func csv(_ parts: [(String, String)], key: GroupKey) -> String {
        var out = ""
        for (i, (value, text)) in parts.enumerated() {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
            guard let header = lines.first else { continue }
            if i == 0 { out += csvField(key.rawValue) + "," + header + "\n" }
            for line in lines.dropFirst() { out += csvField(value) + "," + line + "\n" }
        }
        return out
    }
}

/// A run `--group-by` can place: a record, or what compare reads of one.
protocol PartitionedRun {
    var role: RunRole { get }
    func partitionValue(_ p: RunPartition) -> String
}

extension RunRecord: PartitionedRun {
    func partitionValue(_ p: RunPartition) -> String { p.value(self) }
}

extension CompareRun: PartitionedRun {
    func partitionValue(_ p: RunPartition) -> String { p.value(self) }
}
