import FoundationEssentials

/// A baseline taken from history: for each machine and device, its last runs before a time
/// (the upgrade), as a host that cannot interleave A and B keeps them.
public enum RunHistory {
    /// Of `records`, for each (family, role, host name, device, driver) the `count` that
    /// started last before `before` (all of them when nil), oldest first.
    public static func last(_ count: Int, of records: [RunRecord], before: Date?) -> [RunRecord] {
        struct Key: Hashable { var family: String, role: RunRole, host: String, device: String, driver: String }
        var groups: [Key: [RunRecord]] = [:]
        for r in records where before.map({ r.startTime < $0 }) ?? true {
            let key = Key(family: r.family, role: r.role, host: r.environment.hostname, device: r.device.name,
                          driver: r.device.distinguishingDriver)
            groups[key, default: []].append(r)
        }
        return groups.values.flatMap { $0.sorted { $0.startTime < $1.startTime }.suffix(max(0, count)) }
            .sorted { ($0.startTime, $0.runId.uuidString) < ($1.startTime, $1.runId.uuidString) }
    }
}
