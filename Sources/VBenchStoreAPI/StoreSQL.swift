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

    /// The selected runs' keys compare needs, newest first, with the `runs.group` tag.
    public func compareRuns(_ q: RunQuery) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        return (placeholders("""
            SELECT r.run_id, \(epoch("r.start_time")) AS start_time, r.family, r.role, r.boot_id, r.collector_host,
                   e.hostname, e.kernel_release, e.hypervisor, d.name, d.driver, d.controller_driver, d.class,
                   (SELECT t.value FROM tags t WHERE t.run_id = r.run_id AND t.key = '\(Comparator.groupTag)') AS grp,
                   e.online_cpus,
                   (SELECT t.value FROM tags t WHERE t.run_id = r.run_id AND t.key = '\(CompareRun.labGuestsTag)') AS lab_guests,
                   (SELECT t.value FROM tags t WHERE t.run_id = r.run_id AND t.key = '\(CompareRun.labRoundTag)') AS lab_round,
                   r.configuration_id
            FROM runs r JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id
            \(whereSQL) ORDER BY r.start_time DESC, r.run_id
            """), values)
    }

    /// The selected runs' summary rows of `metrics`: per run, workload and metric the
    /// repetitions' count, mean and standard deviation, and those of their logarithms. Read on
    /// the summary rows alone (they carry their run's keys) through the covering index
    /// `summaries_report`, metric first: no join, no table row visited.
    public func compareSummaries(_ q: RunQuery, metrics: [String]) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = summarySelection(q, metrics: metrics)
        return (placeholders("""
            SELECT \(dialect == .postgres ? "x.run_id::text" : "x.run_id"), x.workload_index, x.workload, x.metric, x.n, x.mean, x.stddev, x.log_mean, x.log_stddev
            FROM summaries x \(reportIndex) \(whereSQL)
            """), values)
    }

    /// The repetition values of `metrics` of the runs named (`Comparator.repetitionsNeeded`).
    public func compareRepetitions(_ runIds: [UUID], metrics: [String]) -> (sql: String, values: [StoreValue]) {
        let ids = runIds.map { _ in dialect == .postgres ? "?::uuid" : "?" }.joined(separator: ", ")
        let list = metrics.map { _ in "?" }.joined(separator: ", ")
        return (placeholders("""
            SELECT x.run_id, x.workload_index, x.metric, x.value FROM metrics x
            WHERE x.run_id IN (\(ids)) AND x.metric IN (\(list)) ORDER BY x.run_id, x.workload_index, x.metric, x.repetition_index
            """), runIds.map { .text($0.uuidString.lowercased()) } + metrics.map { .text($0) })
    }

    /// Every repetition's metrics of the selected runs.
    public func summaryMetrics(_ q: RunQuery, only metrics: [String]? = nil) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        guard let metrics, !metrics.isEmpty else {
            return (placeholders("""
                SELECT x.run_id, x.workload_index, x.repetition_index, x.metric, x.value FROM metrics x \(Self.joinRuns) \(whereSQL)
                """), values)
        }
        let list = metrics.map { _ in "?" }.joined(separator: ", ")
        // SQLite: the selected runs drive (CROSS JOIN fixes the order), each run's metric rows
        // follow by primary key; led by the metric index instead, every row would look its
        // run up at random (4.7 s against 3.0 s for a third of 100,000 runs).
        return (placeholders("""
            SELECT x.run_id, x.workload_index, x.repetition_index, x.metric, x.value
            FROM runs r JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id
            \(dialect == .sqlite ? "CROSS JOIN" : "JOIN") metrics x ON x.run_id = r.run_id
            \(whereSQL.isEmpty ? "WHERE" : whereSQL + " AND") x.metric IN (\(list))
            """), values + metrics.map { .text($0) })
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

    // MARK: Report aggregates (`RunStore.reportFacts`)

    /// A run's distinguishing driver (`DeviceInfo.distinguishingDriver`): the controller's
    /// behind SCSI disks (`sd`) or a device without one, else its driver, else its name.
    static let distinguishingDriver = """
        CASE WHEN (d.driver = 'sd' OR d.driver = '') AND d.controller_driver <> '' THEN d.controller_driver \
        WHEN d.driver <> '' THEN d.driver ELSE d.name END
        """

    /// The `--group-by` value of a run as a column ('' without one).
    static func partition(_ p: RunPartition?) -> String {
        switch p {
        case nil: "''"
        case .host: "r.collector_host"
        case .hypervisor: "e.hypervisor"
        case .kernel: "e.kernel_release"
        case .class: "d.class"
        }
    }

    /// The `--group-by` value of a summary row.
    static func summaryPartition(_ p: RunPartition?) -> String {
        switch p {
        case nil: "''"
        case .host: "x.collector_host"
        case .hypervisor: "x.hypervisor"
        case .kernel: "x.kernel"
        case .class: "x.class"
        }
    }

    /// The selection over summary rows of `metrics`.
    func summarySelection(_ q: RunQuery, metrics: [String]) -> (String, [StoreValue]) {
        let (whereSQL, values) = filter(q, on: .summaries)
        let list = metrics.map { _ in "?" }.joined(separator: ", ")
        return ("\(whereSQL.isEmpty ? "WHERE" : whereSQL + " AND") x.metric IN (\(list))", values + metrics.map { .text($0) })
    }

    /// The report's aggregates in one pass over the summary rows of `metrics` (they carry their
    /// run's keys: no join), per family, workload, distinguishing driver, role, metric, kernel
    /// and partition: the runs, the sum of their means and (SQLite) the sum of squares or
    /// (PostgreSQL) the sample variance, the least and largest mean, and for a lone run its
    /// repetitions' n and stddev (MAX over one row). The reader merges native drivers and
    /// kernels into groups. With the covering index `summaries_report` the whole-store query
    /// streams in index order (SQLite is told to use it: its planner prefers the metric index).
    public func reportAggregates(_ q: RunQuery, metrics: [String], partition: RunPartition?) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = summarySelection(q, metrics: metrics)
        let spread = dialect == .postgres ? "COALESCE(var_samp(x.mean), 0)" : "SUM(x.mean * x.mean)"
        // PostgreSQL: the subgroup's newest row too, as the least of a sortable array (latest
        // start first, then the lowest run id and workload index), folded into the same hash
        // aggregate; a separate DISTINCT ON sorted every row (0.8 s of 1.0 s at 10,000 runs).
        let newest = dialect == .postgres ? """
            , MIN(ARRAY[to_char(10000000000 - extract(epoch from x.start_time), 'FM00000000000.000000'), x.run_id::text,
                        lpad(x.workload_index::text, 8, '0'), x.class, x.hypervisor])::text
            """ : ""
        return (placeholders("""
            SELECT \(Self.summaryPartition(partition)) AS p, x.family, x.workload, x.device, x.role, x.metric, x.kernel,
                   COUNT(*), SUM(x.mean), \(spread), MIN(x.mean), MAX(x.mean), MAX(x.n), MAX(x.stddev)\(newest)
            FROM summaries x \(reportIndex) \(whereSQL)
            GROUP BY x.metric, x.family, x.workload, x.role, x.device, x.kernel\(partition == nil ? "" : ", p")
            """), values)
    }

    /// The newest summary row of each family, workload, driver, role, metric, kernel and
    /// partition (latest start, ties to the lowest run id and workload index): its place,
    /// device class and hypervisor. SQLite: MAX() with bare columns, which come from the row
    /// holding the maximum, the first of equals in `summaries_report` order (start, run id,
    /// workload index ascending), streaming in index order like the aggregates. SQLite only:
    /// PostgreSQL reads it with the aggregates (their last column).
    public func reportNewest(_ q: RunQuery, metrics: [String], partition: RunPartition?) -> (sql: String, values: [StoreValue]) {
        precondition(dialect == .sqlite, "PostgreSQL reads the newest rows with reportAggregates")
        let (whereSQL, values) = summarySelection(q, metrics: metrics)
        let p = Self.summaryPartition(partition)
        let keys = "x.metric, x.family, x.workload, x.role, x.device, x.kernel\(partition == nil ? "" : ", \(p)")"
        return ("""
            SELECT \(p), x.family, x.workload, x.device, x.role, MAX(x.start_time), x.run_id, x.workload_index, x.class, x.hypervisor
            FROM summaries x \(reportIndex) \(whereSQL) GROUP BY \(keys)
            """, values)
    }

    var reportIndex: String { dialect == .sqlite ? "INDEXED BY summaries_report" : "" }

    /// Runs selected per partition and role.
    public func reportRunCounts(_ q: RunQuery, partition: RunPartition?) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        return (placeholders("""
            SELECT \(Self.partition(partition)), r.role, COUNT(*)
            FROM runs r JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id \(whereSQL)
            GROUP BY 1, 2
            """), values)
    }

    /// The emulated guest devices measured, per partition, with their newest run's start.
    public func reportEmulated(_ q: RunQuery, partition: RunPartition?) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        return (placeholders("""
            SELECT \(Self.partition(partition)), d.kind, d.name, d.driver, d.controller_driver, d.pci_id, e.hypervisor,
                   MAX(\(epoch("r.start_time")))
            FROM runs r JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id
            \(whereSQL.isEmpty ? "WHERE" : whereSQL + " AND") r.role = 'guest' AND d.class = 'emulated'
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            """), values)
    }

    /// Every stored configuration, the clean one (`[]`) too: compare tells runs audited clean
    /// from runs without an audit. A handful of rows, one per distinct guest setup.
    public var configurationContents: String {
        "SELECT c.id, \(dialect == .postgres ? "c.findings::text" : "c.findings") FROM configurations c"
    }

    /// The stored configurations that hold costly findings (a handful of rows: one per distinct
    /// guest setup), read whole before `reportConfigurations`.
    public var reportConfigurationContents: String {
        "SELECT c.id, \(dialect == .postgres ? "c.findings::text" : "c.findings") FROM configurations c WHERE c.warnings > 0"
    }

    /// Per partition, family, workload name, distinguishing driver, role, device name and
    /// configuration, the selected runs measured under a configuration with costly findings.
    /// Read through `runs.configuration_id` (no record is decoded): the reader applies each
    /// configuration's findings to the group's family and device name
    /// (`GuestAudit.costly(forFamily:device:)`'s rule). Runs without an audit, or audited
    /// clean, are not read: the few costly configurations drive, their runs follow by
    /// `runs_configuration`, each run's workloads by primary key (SQLite is told the order
    /// with CROSS JOIN: without statistics it scanned every workload row instead).
    public func reportConfigurations(_ q: RunQuery, partition: RunPartition?) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = selection(q)
        let fixed = dialect == .sqlite ? "CROSS JOIN" : "JOIN"
        return (placeholders("""
            SELECT \(Self.partition(partition)) AS p, r.family, w.name, \(Self.distinguishingDriver) AS device, r.role, d.name,
                   r.configuration_id, COUNT(DISTINCT r.run_id)
            FROM configurations c \(fixed) runs r ON r.configuration_id = c.id
            JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id
            \(fixed) workloads w ON w.run_id = r.run_id
            \(whereSQL.isEmpty ? "WHERE" : whereSQL + " AND") c.warnings > 0
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            """), values)
    }

    /// Every selected workload's merged latency histogram (compact form) with its group: the
    /// workloads with any of `metrics` (the groups the report has).
    public func reportLatency(_ q: RunQuery, metrics: [String], partition: RunPartition?) -> (sql: String, values: [StoreValue]) {
        let (whereSQL, values) = summarySelection(q, metrics: metrics)
        let blob = dialect == .postgres ? "encode(l.histogram, 'base64')" : "l.histogram"
        let id = dialect == .postgres ? "l.run_id::text" : "l.run_id"
        return (placeholders("""
            SELECT k.p, k.family, k.workload, k.device, k.role, \(blob), \(id), l.workload_index FROM workload_latency l
            JOIN (SELECT DISTINCT x.run_id, x.workload_index, \(Self.summaryPartition(partition)) AS p, x.family, x.workload,
                         x.device, x.role
                  FROM summaries x \(whereSQL)) k ON k.run_id = l.run_id AND k.workload_index = l.workload_index
            """), values)
    }

    /// A page of whole runs with what their receipt said, in run id order (for moving a store).
    public func export(after: UUID?, limit: Int) -> (sql: String, values: [StoreValue]) {
        let sql = """
            SELECT r.run_id, \(dialect == .postgres ? "j.record_json::text" : "j.record_json") AS record_json, r.peer,
                   \(epoch("r.received_at")) AS received_at, r.collector_host, r.collector_kernel
            FROM runs r JOIN records j ON j.run_id = r.run_id \(after == nil ? "" : "WHERE r.run_id > \(dialect == .postgres ? "?::uuid" : "?")")
            ORDER BY r.run_id LIMIT \(max(1, limit))
            """
        return (placeholders(sql), after.map { [.text($0.uuidString.lowercased())] } ?? [])
    }

    /// Where a selection's columns are: over `runs r` joined to `environments e` and
    /// `devices d`, or on the summary rows `summaries x` alone (migration `4-summary-keys`
    /// copied each run's keys onto them).
    enum Columns {
        case runs, summaries
        var runId: String { self == .runs ? "r.run_id" : "x.run_id" }
        var family: String { self == .runs ? "r.family" : "x.family" }
        var role: String { self == .runs ? "r.role" : "x.role" }
        var deviceClass: String { self == .runs ? "d.class" : "x.class" }
        var driver: String { self == .runs ? "d.driver" : "x.driver" }
        var controllerDriver: String { self == .runs ? "d.controller_driver" : "x.controller_driver" }
        var kernel: String { self == .runs ? "e.kernel_release" : "x.kernel" }
        var hypervisor: String { self == .runs ? "e.hypervisor" : "x.hypervisor" }
        var collectorHost: String { self == .runs ? "r.collector_host" : "x.collector_host" }
        var startTime: String { self == .runs ? "r.start_time" : "x.start_time" }
    }

    /// The WHERE clause of a query over `runs r`, `environments e`, `devices d`.
    public func filter(_ q: RunQuery) -> (String, [StoreValue]) { filter(q, on: .runs) }

    func filter(_ q: RunQuery, on c: Columns) -> (String, [StoreValue]) {
        var clauses: [String] = []
        var values: [StoreValue] = []
        func add(_ clause: String, _ value: StoreValue) {
            clauses.append(clause)
            values.append(value)
        }
        if let v = q.family { add("\(c.family) = ?", .text(v)) }
        if let v = q.role { add("\(c.role) = ?", .text(v.rawValue)) }
        if let v = q.deviceClass { add("\(c.deviceClass) = ?", .text(v.rawValue)) }
        if let v = q.driver { clauses.append("(\(c.driver) = ? OR \(c.controllerDriver) = ?)"); values += [.text(v), .text(v)] }
        if let v = q.kernel { add("\(c.kernel) = ?", .text(v)) }
        if let v = q.hypervisor { add("\(c.hypervisor) = ?", .text(v.rawValue)) }
        if let v = q.collectorHost { add("\(c.collectorHost) = ?", .text(v)) }
        if let v = q.since { add("\(c.startTime) >= ?", .time(v)) }
        if let v = q.until { add("\(c.startTime) < ?", .time(v)) }
        for (key, value) in q.tags.sorted(by: { $0.key < $1.key }) {
            clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.run_id = \(c.runId) AND t.key = ? AND t.value = ?)")
            values += [.text(key), .text(value)]
        }
        if c == .summaries, let limit = q.limit {
            // The newest `limit` runs of the selection, chosen over the runs.
            let (inner, innerValues) = filter(RunQuery(family: q.family, role: q.role, deviceClass: q.deviceClass, driver: q.driver,
                                                       kernel: q.kernel, hypervisor: q.hypervisor, collectorHost: q.collectorHost,
                                                       tags: q.tags, since: q.since, until: q.until), on: .runs)
            clauses.append("""
                x.run_id IN (SELECT r.run_id FROM runs r JOIN environments e ON e.id = r.environment_id
                JOIN devices d ON d.id = r.device_id \(inner) ORDER BY r.start_time DESC, r.run_id LIMIT \(max(0, limit)))
                """)
            values += innerValues
        }
        return (clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "), values)
    }

    /// Copies each run's keys onto its summary rows (migration `4-summary-keys`): what the
    /// report aggregates filter and group by without a join. Inserts after it write the keys
    /// with the rows (`StoredForms.SummaryKeys`, the same values computed in Swift).
    public var summaryKeysUpdate: String {
        switch dialect {
        case .sqlite:
            return """
                UPDATE summaries SET (family, role, start_time, collector_host, kernel, hypervisor, device, driver, controller_driver, class) =
                    (SELECT r.family, r.role, r.start_time, r.collector_host, e.kernel_release, e.hypervisor, \(Self.distinguishingDriver),
                            d.driver, d.controller_driver, d.class
                     FROM runs r JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id
                     WHERE r.run_id = summaries.run_id)
                """
        case .postgres:
            return """
                UPDATE summaries x SET family = r.family, role = r.role, start_time = r.start_time, collector_host = r.collector_host,
                    kernel = e.kernel_release, hypervisor = e.hypervisor, device = \(Self.distinguishingDriver), driver = d.driver,
                    controller_driver = d.controller_driver, class = d.class
                FROM runs r JOIN environments e ON e.id = r.environment_id JOIN devices d ON d.id = r.device_id
                WHERE r.run_id = x.run_id
                """
        }
    }

    /// The covering index of the report's aggregates: its group keys first, metric leading (so
    /// `metric IN (…)` seeks and the whole-store GROUP BY streams in index order), then the place of a row in the selection's order (so
    /// the first of the newest rows is the lowest run id), then every column the queries
    /// filter on or read.
    public static let summaryReportIndexColumns = summaryReportIndexColumnsV4 + ", log_mean, log_stddev"

    /// The index as migration `4-summary-keys` made it (migration `5-compare` adds the log moments).
    public static let summaryReportIndexColumnsV4 = """
        metric, family, workload, role, device, kernel, start_time, run_id, workload_index, mean, n, stddev, class, hypervisor, \
        collector_host, driver, controller_driver
        """

    /// The columns migration `4-summary-keys` adds to `summaries`, as `name type`.
    public static func summaryKeyColumns(_ dialect: Dialect) -> [String] {
        let text = dialect == .postgres ? "text NOT NULL DEFAULT ''" : "TEXT NOT NULL DEFAULT ''"
        let time = dialect == .postgres ? "timestamptz NOT NULL DEFAULT 'epoch'" : "REAL NOT NULL DEFAULT 0"
        return ["family \(text)", "role \(text)", "start_time \(time)", "collector_host \(text)", "kernel \(text)",
                "hypervisor \(text)", "device \(text)", "driver \(text)", "controller_driver \(text)", "class \(text)"]
    }
}

/// The numbered migrations, by name, in order. `3-compact` (record schema 2): summary rows per
/// run, workload and metric; each workload's merged latency histogram as a compact blob; the
/// boot id as a column; every stored record rewritten as version 2; the per-repetition text
/// histograms dropped (they live, compact, in the record). `4-summary-keys`: each run's keys
/// (family, role, start, collector, kernel, hypervisor, device, driver, class) on its summary
/// rows, so the report's aggregates read one table. `5-compare`: each run's JSON in `records`
/// (out of `runs`, whose keys every reader reads), and the moments of the logarithms of each
/// summary row's values (`log_mean`, `log_stddev`), so compare judges runs from summary rows.
/// `6-configurations`: the costly part of each run's guest audit, stored once per distinct
/// content in `configurations` (id, `digest` unique, `warnings`, `findings` JSON) and pointed at
/// by `runs.configuration_id` (NULL: the record carries no audit), backfilled from the stored
/// records; reports read warnings through it.
/// Each backend has its own DDL for each name;
/// the meaning is the same (same tables, columns, keys and indexes), and both record the
/// names they applied, so `appliedMigrations()` answers the same on either.
public enum StoreSchema {
    public static let migrations = ["1-runs", "2-fleet", "3-compact", "4-summary-keys", "5-compare", "6-configurations"]

    /// Runs decoded per statement by migration `6-configurations`'s backfill: a page of
    /// records is read, decoded, and its runs updated at once.
    public static let configurationBackfillPage = 500
}
