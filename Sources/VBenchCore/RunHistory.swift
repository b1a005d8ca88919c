import FoundationEssentials

/// A baseline taken from history: for each machine and device, its last runs before a time
/// (the upgrade), as a host that cannot interleave A and B keeps them.
public enum RunHistory {
    /// Of `records`, for each (family, role, host name, device, driver) the `count` that
    /// started last before `before` (all of them when nil), oldest first.
    public static func last(_ count: Int, of records: [RunRecord], before: Date?) -> [RunRecord] {
        last(count, of: records, before: before, start: \.startTime, id: \.runId) {
            Key(family: $0.family, role: $0.role, host: $0.environment.hostname, device: $0.device.name, driver: $0.device.distinguishingDriver)
        }
    }

    /// The same on what compare reads of runs.
    public static func last(_ count: Int, of runs: [CompareRun], before: Date?) -> [CompareRun] {
        last(count, of: runs, before: before, start: \.startTime, id: \.runId) {
            Key(family: $0.family, role: $0.role, host: $0.hostname, device: $0.deviceName, driver: $0.device)
        }
    }

    private struct Key: Hashable { var family: String, role: RunRole, host: String, device: String, driver: String }

    private static func last<Run>(_ count: Int, of runs: [Run], before: Date?, start: (Run) -> Date, id: (Run) -> UUID,
                                  key: (Run) -> Key) -> [Run] {
        var groups: [Key: [Run]] = [:]
        for r in runs where before.map({ start(r) < $0 }) ?? true { groups[key(r), default: []].append(r) }
        return groups.values.flatMap { $0.sorted { start($0) < start($1) }.suffix(max(0, count)) }
            .sorted { (start($0), id($0).uuidString) < (start($1), id($1).uuidString) }
    }
}
