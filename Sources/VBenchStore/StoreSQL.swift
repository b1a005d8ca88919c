import FoundationEssentials
import VBenchCore

/// A value bound into a store statement, typed so each backend binds it natively (a time is
/// seconds since 1970 in SQLite and a `timestamptz` in PostgreSQL).
public enum StoreValue: Sendable, Equatable {
    case text(String)
    case real(Double)
    case integer(Int64)
    case time(Date)
}

/// The SQL both backends run for reading: the same selections written once. Each backend names
/// its dialect; the statements differ only in placeholders and in how a time column is read.
public struct StoreSQL: Sendable {
    public enum Dialect: Sendable { case sqlite, postgres }
    public let dialect: Dialect

    public init(_ dialect: Dialect) { self.dialect = dialect }

    /// A time column as seconds since 1970 (a double) in the result.
    func epoch(_ column: String) -> String {
        switch dialect {
        case .sqlite: column
        case .postgres: "extract(epoch from \(column))::float8"
        }
    }

    /// `?` placeholders become `$1`, `$2`, … for PostgreSQL (no statement here has a `?` in a literal).
    public func placeholders(_ sql: String) -> String {
        guard dialect == .postgres else { return sql }
        var out = ""
        var n = 0
        for ch in sql {
            if ch == "?" { n += 1; out += "$\(n)" } else { out.append(ch) }
        }
        return out
    }

    /// `vbench runs list` and everything that selects runs: newest first.
    public func runs(_ query: RunQuery) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = filter(query)
        var sql = """
            SELECT r.run_id, \(epoch("r.start_time")) AS start_time, r.family, r.role, e.hypervisor, e.kernel_release,
                   d.name, d.driver, d.class, r.peer, r.collector_host,
                   (SELECT COUNT(*) FROM workloads w WHERE w.run_id = r.run_id) AS workloads
            FROM runs r JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id
            \(whereSQL) ORDER BY r.start_time DESC, r.run_id
            """
        if let limit = query.limit { sql += " LIMIT \(max(0, limit))" }
        return (placeholders(sql), values)
    }

    /// One repetition's value of `metric` per row, oldest run first.
    public func metricSamples(_ query: RunQuery, metric: String) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = filter(query)
        let sql = """
            SELECT m.run_id, w.name, m.repetition_index, m.value
            FROM metrics m JOIN workloads w ON w.run_id = m.run_id AND w.workload_index = m.workload_index
            JOIN runs r ON r.run_id = m.run_id JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id
            \(whereSQL.isEmpty ? "WHERE" : whereSQL + " AND") m.metric = ?
            ORDER BY r.start_time, m.run_id, m.workload_index, m.repetition_index
            """
        return (placeholders(sql), values + [.text(metric)])
    }

    /// The selection as a WHERE clause over `runs r` (joined to `e` and `d`): the filters, and
    /// with a limit the newest `limit` runs.
    func selection(_ q: RunQuery) -> (String, [StoreValue]) {
        let (whereSQL, values) = filter(q)
        guard let limit = q.limit else { return (whereSQL, values) }
        return ("""
            WHERE r.run_id IN (SELECT r.run_id FROM runs r JOIN environments e ON e.id = r.environment_id
                JOIN devices d ON d.id = r.device_id \(whereSQL) ORDER BY r.start_time DESC, r.run_id LIMIT \(max(0, limit)))
            """, values)
    }

    static let joinRuns = "JOIN runs r ON r.run_id = x.run_id JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id"

    /// The selected runs' keys, newest first (what `report`, `compare` and `capacity` read;
    /// `SummaryRecordBuilder.RunRow`).
    public func summaryRuns(_ q: RunQuery) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        return (placeholders("""
            SELECT r.run_id, \(epoch("r.start_time")) AS start_time, \(epoch("r.end_time")) AS end_time, r.family, r.role,
                   r.tool_version, r.boot_id, r.collector_host,
                   e.hostname, e.kernel_release, e.cpu_model, e.online_cpus, e.memory_bytes, e.numa_nodes, e.hypervisor,
                   d.kind, d.name, d.driver, d.controller_driver, d.class, d.pci_id, d.size_bytes
            FROM runs r JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id
            \(whereSQL) ORDER BY r.start_time DESC, r.run_id
            """), values)
    }

    /// The selected runs' tags.
    public func summaryTags(_ q: RunQuery) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        return (placeholders("SELECT x.run_id, x.key, x.value FROM tags x \(Self.joinRuns) \(whereSQL)"), values)
    }

    /// The selected runs' workload specs.
    public func summaryWorkloads(_ q: RunQuery) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        let spec = dialect == .postgres ? "x.spec_json::text" : "x.spec_json"
        return (placeholders("SELECT x.run_id, x.workload_index, \(spec) AS spec_json FROM workloads x \(Self.joinRuns) \(whereSQL)"), values)
    }

    /// Every repetition's metrics of the selected runs.
    public func summaryMetrics(_ q: RunQuery) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        return (placeholders("""
            SELECT x.run_id, x.workload_index, x.repetition_index, x.metric, x.value FROM metrics x \(Self.joinRuns) \(whereSQL)
            """), values)
    }

    /// Each selected workload's merged latency histogram (compact form).
    public func summaryLatency(_ q: RunQuery) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        let blob = dialect == .postgres ? "encode(x.histogram, 'base64')" : "x.histogram"
        return (placeholders("""
            SELECT x.run_id, x.workload_index, \(blob) AS histogram, w.name FROM workload_latency x
            JOIN workloads w ON w.run_id = x.run_id AND w.workload_index = x.workload_index \(Self.joinRuns) \(whereSQL)
            """), values)
    }

    /// The summary rows of the selected runs for one metric (n, mean, median, stddev, min,
    /// max per run and workload), oldest first.
    public func summaries(_ q: RunQuery, metric: String) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        return (placeholders("""
            SELECT x.run_id, x.workload, x.n, x.mean, x.median, x.stddev, x.min, x.max FROM summaries x \(Self.joinRuns)
            \(whereSQL.isEmpty ? "WHERE" : whereSQL + " AND") x.metric = ? ORDER BY r.start_time, x.run_id, x.workload_index
            """), values + [.text(metric)])
    }

    /// A page of whole runs with what their receipt said, in run id order (for moving a store).
    public func export(after: UUID?, limit: Int) -> (sql: String, values: [StoreValue]) {
        let sql = """
            SELECT r.run_id, \(dialect == .postgres ? "r.record_json::text" : "r.record_json") AS record_json, r.peer,
                   \(epoch("r.received_at")) AS received_at, r.collector_host, r.collector_kernel
            FROM runs r \(after == nil ? "" : "WHERE r.run_id > \(dialect == .postgres ? "?::uuid" : "?")")
            ORDER BY r.run_id LIMIT \(max(1, limit))
            """
        return (placeholders(sql), after.map { [.text($0.uuidString.lowercased())] } ?? [])
    }

    /// The WHERE clause of a query over `runs r`, `environments e`, `devices d`.
    public func filter(_ q: RunQuery) -> (String, [StoreValue]) {
        var clauses: [String] = []
        var values: [StoreValue] = []
        func add(_ clause: String, _ value: StoreValue) {
            clauses.append(clause)
            values.append(value)
        }
        if let v = q.family { add("r.family = ?", .text(v)) }
        if let v = q.role { add("r.role = ?", .text(v.rawValue)) }
        if let v = q.deviceClass { add("d.class = ?", .text(v.rawValue)) }
        if let v = q.driver { clauses.append("(d.driver = ? OR d.controller_driver = ?)"); values += [.text(v), .text(v)] }
        if let v = q.kernel { add("e.kernel_release = ?", .text(v)) }
        if let v = q.hypervisor { add("e.hypervisor = ?", .text(v.rawValue)) }
        if let v = q.collectorHost { add("r.collector_host = ?", .text(v)) }
        if let v = q.since { add("r.start_time >= ?", .time(v)) }
        if let v = q.until { add("r.start_time < ?", .time(v)) }
        for (key, value) in q.tags.sorted(by: { $0.key < $1.key }) {
            clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.run_id AND t.key = ? AND t.value = ?)")
            values += [.text(key), .text(value)]
        }
        return (clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "), values)
    }
}

/// The numbered migrations, by name, in order. `3-compact` (record schema 2): summary rows per
/// run, workload and metric; each workload's merged latency histogram as a compact blob; the
/// boot id as a column; every stored record rewritten as version 2; the per-repetition text
/// histograms dropped (they live, compact, in the record). Each backend has its own DDL for each name;
/// the meaning is the same (same tables, columns, keys and indexes), and both record the
/// names they applied, so `appliedMigrations()` answers the same on either.
public enum StoreSchema {
    public static let migrations = ["1-runs", "2-fleet", "3-compact"]
}
