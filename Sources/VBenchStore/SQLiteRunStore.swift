import FoundationEssentials
import GRDB
import VBenchCore
import VBenchStoreAPI

/// The SQLite store: WAL mode (readers never block the writer), numbered migrations, one
/// transaction per record, the run id as primary key (a repeat is a `duplicate`, never a copy).
public final class SQLiteRunStore: RunStore {
    public let path: String
    private let pool: DatabasePool
    private static let sql = StoreSQL(.sqlite)
    public var location: String { path }

    /// Opens or creates the store at `path` and brings its schema up to date.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        // The writer keeps 64 MiB of pages (SQLite's default is 2 MiB): each run's summary and
        // metric rows land at random places of indexes that outgrow that by a thousand times
        // in a fleet's store. Readers keep the default: a report streams, it does not revisit.
        config.prepareDatabase { db in
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA cache_size = -65536") }
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw StoreError(path: path, reason: "cannot open or migrate (\(error)); check the path and its permissions")
        }
    }

    /// The numbered migrations; each runs once, in order, inside a transaction.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("1-runs") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    run_id TEXT PRIMARY KEY NOT NULL,
                    schema_version INTEGER NOT NULL,
                    family TEXT NOT NULL,
                    role TEXT NOT NULL,
                    start_time REAL NOT NULL,
                    end_time REAL NOT NULL,
                    tool_version TEXT NOT NULL,
                    environment_id INTEGER NOT NULL REFERENCES environments(id),
                    device_id INTEGER NOT NULL REFERENCES devices(id),
                    target_path TEXT,
                    peer TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    collector_host TEXT NOT NULL,
                    collector_kernel TEXT NOT NULL,
                    record_json TEXT NOT NULL
                );
                CREATE TABLE environments (
                    id INTEGER PRIMARY KEY,
                    hostname TEXT NOT NULL, kernel_release TEXT NOT NULL, cpu_model TEXT NOT NULL,
                    online_cpus INTEGER NOT NULL, memory_bytes INTEGER NOT NULL, numa_nodes INTEGER NOT NULL,
                    hypervisor TEXT NOT NULL,
                    UNIQUE (hostname, kernel_release, cpu_model, online_cpus, memory_bytes, numa_nodes, hypervisor)
                );
                CREATE TABLE devices (
                    id INTEGER PRIMARY KEY,
                    kind TEXT NOT NULL, name TEXT NOT NULL, driver TEXT NOT NULL, controller_driver TEXT NOT NULL,
                    class TEXT NOT NULL, pci_id TEXT NOT NULL, size_bytes INTEGER NOT NULL,
                    UNIQUE (kind, name, driver, controller_driver, class, pci_id, size_bytes)
                );
                CREATE TABLE tags (
                    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                    key TEXT NOT NULL, value TEXT NOT NULL,
                    PRIMARY KEY (run_id, key)
                );
                CREATE TABLE workloads (
                    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                    workload_index INTEGER NOT NULL,
                    name TEXT NOT NULL, spec_json TEXT NOT NULL,
                    PRIMARY KEY (run_id, workload_index)
                );
                CREATE TABLE repetitions (
                    run_id TEXT NOT NULL, workload_index INTEGER NOT NULL, repetition_index INTEGER NOT NULL,
                    elapsed_ns INTEGER NOT NULL, read_ops INTEGER NOT NULL, write_ops INTEGER NOT NULL,
                    read_bytes INTEGER NOT NULL, write_bytes INTEGER NOT NULL,
                    cpu_user_ns INTEGER NOT NULL, cpu_system_ns INTEGER NOT NULL,
                    PRIMARY KEY (run_id, workload_index, repetition_index),
                    FOREIGN KEY (run_id, workload_index) REFERENCES workloads(run_id, workload_index) ON DELETE CASCADE
                );
                CREATE TABLE metrics (
                    run_id TEXT NOT NULL, workload_index INTEGER NOT NULL, repetition_index INTEGER NOT NULL,
                    metric TEXT NOT NULL, value REAL NOT NULL,
                    PRIMARY KEY (run_id, workload_index, repetition_index, metric),
                    FOREIGN KEY (run_id, workload_index, repetition_index)
                        REFERENCES repetitions(run_id, workload_index, repetition_index) ON DELETE CASCADE
                );
                CREATE TABLE histograms (
                    run_id TEXT NOT NULL, workload_index INTEGER NOT NULL, repetition_index INTEGER NOT NULL,
                    kind TEXT NOT NULL,  -- all | read | write
                    precision_bits INTEGER NOT NULL, count INTEGER NOT NULL, buckets TEXT NOT NULL,  -- lower:count,…
                    PRIMARY KEY (run_id, workload_index, repetition_index, kind),
                    FOREIGN KEY (run_id, workload_index, repetition_index)
                        REFERENCES repetitions(run_id, workload_index, repetition_index) ON DELETE CASCADE
                );
                CREATE INDEX runs_start ON runs(start_time);
                CREATE INDEX metrics_by_name ON metrics(metric);
                """)
        }
        // Fleet: select and group by the collector that received a run.
        m.registerMigration("2-fleet") { db in
            try db.execute(sql: "CREATE INDEX runs_collector_host ON runs(collector_host)")
        }
        // Record schema 2: summary rows, compact merged histograms, records rewritten as version 2.
        m.registerMigration("3-compact") { db in
            try db.execute(sql: """
                CREATE TABLE summaries (
                    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                    workload_index INTEGER NOT NULL, workload TEXT NOT NULL, metric TEXT NOT NULL,
                    n INTEGER NOT NULL, mean REAL NOT NULL, median REAL NOT NULL, stddev REAL NOT NULL,
                    min REAL NOT NULL, max REAL NOT NULL,
                    PRIMARY KEY (run_id, workload_index, metric)
                );
                CREATE INDEX summaries_by_metric ON summaries(metric, workload);
                CREATE TABLE workload_latency (
                    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                    workload_index INTEGER NOT NULL, histogram BLOB NOT NULL,
                    PRIMARY KEY (run_id, workload_index)
                );
                ALTER TABLE runs ADD COLUMN boot_id TEXT;
                CREATE INDEX tags_by_key ON tags(key, value);
                CREATE INDEX runs_family_role ON runs(family, role);
                DROP TABLE histograms;
                """)
            let ids = try String.fetchAll(db, sql: "SELECT run_id FROM runs ORDER BY run_id")
            for id in ids {
                let json = try String.fetchOne(db, sql: "SELECT record_json FROM runs WHERE run_id = ?", arguments: [id]) ?? ""
                let record: RunRecord
                do { record = try RunRecord.decode(Data(json.utf8)) } catch {
                    throw StoreError(path: db.description, reason: "migration 3-compact: run \(id) has a record that does not decode (\(error)); nothing was changed")
                }
                let forms = try StoredForms(record, receivedJSON: nil)
                try db.execute(sql: "UPDATE runs SET record_json = ?, schema_version = ?, boot_id = ? WHERE run_id = ?",
                               arguments: [forms.json, RunRecord.currentSchemaVersion, record.environment.bootId, id])
                // Metrics as the insert writes them now (request/response p99 from the histogram).
                try db.execute(sql: "DELETE FROM metrics WHERE run_id = ?", arguments: [id])
                try insertDerived(db, id: id, forms: forms, keys: nil)
            }
        }
        // Each run's keys on its summary rows: the report's aggregates read one table.
        m.registerMigration("4-summary-keys") { db in
            for column in StoreSQL.summaryKeyColumns(.sqlite) { try db.execute(sql: "ALTER TABLE summaries ADD COLUMN \(column)") }
            try db.execute(sql: StoreSQL(.sqlite).summaryKeysUpdate)
            try db.execute(sql: "CREATE INDEX summaries_report ON summaries(\(StoreSQL.summaryReportIndexColumnsV4))")
        }
        // Compare from summary rows: each run's JSON moves to `records` (inline, it pushed the
        // columns after it, boot_id among them, onto overflow pages that every read of a run's
        // keys walked); the summary rows get the moments of their values' logarithms, which
        // the run-to-run spread is computed on, and the report index carries them.
        m.registerMigration("5-compare") { db in
            try db.execute(sql: """
                CREATE TABLE records (
                    run_id TEXT PRIMARY KEY NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                    record_json TEXT NOT NULL
                );
                INSERT INTO records (run_id, record_json) SELECT run_id, record_json FROM runs;
                ALTER TABLE runs DROP COLUMN record_json;
                ALTER TABLE summaries ADD COLUMN log_mean REAL;
                ALTER TABLE summaries ADD COLUMN log_stddev REAL;
                DROP INDEX summaries_report;
                """)
            // The logarithms' moments as the insert computes them (`RunMetric.logMoments`), from
            // the repetition rows, one summary row at a time.
            let update = try db.makeStatement(sql: """
                UPDATE summaries SET log_mean = ?, log_stddev = ? WHERE run_id = ? AND workload_index = ? AND metric = ?
                """)
            var current: (run: String, workload: Int, metric: String)?
            var values: [Double] = []
            func flush() throws {
                if let c = current, let m = RunMetric.logMoments(values.filter(\.isFinite)) {
                    try update.execute(arguments: [m.mean, m.stddev, c.run, c.workload, c.metric])
                }
                values.removeAll(keepingCapacity: true)
            }
            let rows = try Row.fetchCursor(db, sql: """
                SELECT run_id, workload_index, metric, value FROM metrics ORDER BY run_id, workload_index, metric, repetition_index
                """)
            while let row = try rows.next() {
                let key = (run: row[0] as String, workload: row[1] as Int, metric: row[2] as String)
                if current.map({ $0.run != key.run || $0.workload != key.workload || $0.metric != key.metric }) ?? true {
                    try flush()
                    current = key
                }
                values.append(row[3])
            }
            try flush()
            try db.execute(sql: "CREATE INDEX summaries_report ON summaries(\(StoreSQL.summaryReportIndexColumns))")
        }
        // Reports show the audit: the costly part of each run's guest audit, one row per
        // distinct content (a handful in a fleet), each run pointing at its own; runs whose
        // record has no audit keep NULL. Backfilled from the stored records a page at a time,
        // in this migration's one transaction: a record that does not decode fails it whole.
        m.registerMigration("6-configurations") { db in
            try db.execute(sql: """
                CREATE TABLE configurations (
                    id INTEGER PRIMARY KEY,
                    digest TEXT NOT NULL UNIQUE,
                    warnings INTEGER NOT NULL,
                    findings TEXT NOT NULL
                );
                ALTER TABLE runs ADD COLUMN configuration_id INTEGER REFERENCES configurations(id);
                CREATE INDEX runs_configuration ON runs(configuration_id);
                """)
            let update = try db.makeStatement(sql: "UPDATE runs SET configuration_id = ? WHERE run_id = ?")
            var after = ""
            while true {
                let page = try Row.fetchAll(db, sql: "SELECT run_id, record_json FROM records WHERE run_id > ? ORDER BY run_id LIMIT ?",
                                            arguments: [after, StoreSchema.configurationBackfillPage])
                    .map { (run: $0[0] as String, json: $0[1] as String) }
                guard let last = page.last else { break }
                after = last.run
                for (item, configuration) in zip(page, try StoredConfiguration.backfill(page, store: db.description)) {
                    guard let configuration else { continue }
                    try update.execute(arguments: [try configurationId(db, configuration), item.run])
                }
            }
        }
        assert(StoreSchema.migrations == ["1-runs", "2-fleet", "3-compact", "4-summary-keys", "5-compare", "6-configurations"],
               "SQLite migrations out of step with StoreSchema")
        return m
    }

    /// The id of `configuration`'s row, inserted unless its digest is there (two statements on
    /// a table of a handful of rows, prepared once per connection).
    static func configurationId(_ db: Database, _ configuration: StoredConfiguration) throws -> Int64 {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO configurations (digest, warnings, findings) VALUES (?, ?, ?)")
            .execute(arguments: [configuration.digest, configuration.warnings, configuration.json])
        guard let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM configurations WHERE digest = ?"),
                                          arguments: [configuration.digest]) else {
            throw StoreError(path: db.description, reason: "configuration \(configuration.digest.prefix(12)) missing after insert")
        }
        return id
    }

    /// Applied migrations, oldest first.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Self.migrator.appliedMigrations(db) }
    }

    public func store(_ record: RunRecord, receipt: Receipt) throws -> StoreOutcome {
        try store(batch: [(record, receipt)])[0]
    }

    public func store(batch: [(record: RunRecord, receipt: Receipt)]) throws -> [StoreOutcome] {
        // Encode and derive outside the transaction: the write lock is held only for SQL.
        let forms = try StoredForms.of(batch.map { ($0.record, $0.receipt.receivedJSON) })
        return try pool.write { db in
            try zip(batch, forms).map { item, forms in try Self.insert(db, record: item.record, receipt: item.receipt, forms: forms) }
        }
    }

    /// Inserts one record inside the caller's transaction, or reports that its run id is there.
    /// Every statement is prepared once per connection (a batch of 256 runs writes ~100 rows each).
    private static func insert(_ db: Database, record: RunRecord, receipt: Receipt, forms: StoredForms) throws -> StoreOutcome {
        let id = record.runId.uuidString.lowercased()
        if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM runs WHERE run_id = ?"), arguments: [id]) == true {
            return .duplicate
        }
        let env = record.environment
        let envArgs: StatementArguments = [env.hostname, env.kernelRelease, env.cpuModel, env.onlineCpus, Int64(env.memoryBytes),
                                           env.numaNodes, env.hypervisor.vendor.rawValue]
        try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO environments (hostname, kernel_release, cpu_model, online_cpus, memory_bytes, numa_nodes, hypervisor)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: envArgs)
        let envId = try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT id FROM environments WHERE hostname = ? AND kernel_release = ? AND cpu_model = ? AND online_cpus = ?
            AND memory_bytes = ? AND numa_nodes = ? AND hypervisor = ?
            """), arguments: envArgs) ?? 0
        let d = record.device
        let deviceArgs: StatementArguments = [d.kind, d.name, d.driver ?? "", d.controllerDriver ?? "", d.deviceClass.rawValue,
                                              d.pciId ?? "", Int64(d.sizeBytes ?? 0)]
        try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO devices (kind, name, driver, controller_driver, class, pci_id, size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: deviceArgs)
        let deviceId = try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT id FROM devices WHERE kind = ? AND name = ? AND driver = ? AND controller_driver = ? AND class = ?
            AND pci_id = ? AND size_bytes = ?
            """), arguments: deviceArgs) ?? 0
        let configurationId = try forms.configuration.map { try Self.configurationId(db, $0) }
        try db.cachedStatement(sql: """
            INSERT INTO runs (run_id, schema_version, family, role, start_time, end_time, tool_version, environment_id,
                              device_id, target_path, peer, received_at, collector_host, collector_kernel, boot_id, configuration_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [id, record.schemaVersion, record.family, record.role.rawValue,
                                     record.startTime.timeIntervalSince1970, record.endTime.timeIntervalSince1970,
                                     record.tool.version, envId, deviceId, record.target?.path, receipt.peer,
                                     receipt.receivedAt.timeIntervalSince1970, receipt.collectorHost, receipt.collectorKernel,
                                     record.environment.bootId, configurationId])
        try db.cachedStatement(sql: "INSERT INTO records (run_id, record_json) VALUES (?, ?)").execute(arguments: [id, forms.json])
        let tag = try db.cachedStatement(sql: "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)")
        for (key, value) in record.tags { try tag.execute(arguments: [id, key, value]) }
        let workloadRow = try db.cachedStatement(sql: "INSERT INTO workloads (run_id, workload_index, name, spec_json) VALUES (?, ?, ?, ?)")
        let repetition = try db.cachedStatement(sql: """
            INSERT INTO repetitions (run_id, workload_index, repetition_index, elapsed_ns, read_ops, write_ops,
                                     read_bytes, write_bytes, cpu_user_ns, cpu_system_ns)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for (w, workload) in record.workloads.enumerated() {
            try workloadRow.execute(arguments: [id, w, workload.name, forms.specs[w]])
            for rep in workload.repetitions {
                try repetition.execute(arguments: [id, w, rep.index, Int64(rep.elapsedNs), Int64(rep.readOps), Int64(rep.writeOps),
                                                   Int64(rep.readBytes), Int64(rep.writeBytes), Int64(rep.cpuUserNs), Int64(rep.cpuSystemNs)])
            }
        }
        try insertDerived(db, id: id, forms: forms, keys: StoredForms.SummaryKeys(record, collectorHost: receipt.collectorHost))
        return .stored
    }

    /// The metric, summary and latency rows of one run.
    /// `keys`: the run's keys for its summary rows (every insert; nil in migration 3's
    /// conversion, which runs before those columns exist: migration 4 fills them).
    static func insertDerived(_ db: Database, id: String, forms: StoredForms, keys: StoredForms.SummaryKeys?) throws {
        let metric = try db.cachedStatement(sql: "INSERT INTO metrics (run_id, workload_index, repetition_index, metric, value) VALUES (?, ?, ?, ?, ?)")
        for m in forms.metrics { try metric.execute(arguments: [id, m.workload, m.repetition, m.metric, m.value]) }
        if let k = keys {
            let summary = try db.cachedStatement(sql: """
                INSERT INTO summaries (run_id, workload_index, workload, metric, n, mean, median, stddev, min, max,
                                       family, role, start_time, collector_host, kernel, hypervisor, device, driver, controller_driver, class,
                                       log_mean, log_stddev)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for r in forms.summaries {
                try summary.execute(arguments: [id, r.workload, r.name, r.metric, r.n, r.mean, r.median, r.stddev, r.min, r.max,
                                                k.family, k.role, k.startTime, k.collectorHost, k.kernel, k.hypervisor, k.device,
                                                k.driver, k.controllerDriver, k.deviceClass, r.logMean, r.logStddev])
            }
        } else {
            let summary = try db.cachedStatement(sql: """
                INSERT INTO summaries (run_id, workload_index, workload, metric, n, mean, median, stddev, min, max)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for r in forms.summaries {
                try summary.execute(arguments: [id, r.workload, r.name, r.metric, r.n, r.mean, r.median, r.stddev, r.min, r.max])
            }
        }
        let latency = try db.cachedStatement(sql: "INSERT INTO workload_latency (run_id, workload_index, histogram) VALUES (?, ?, ?)")
        for l in forms.latency { try latency.execute(arguments: [id, l.workload, Data(l.histogram)]) }
    }

    public func summaryRecords(_ query: RunQuery, latency: Bool, metrics: [String]?) throws -> [RunRecord] {
        let sql = Self.sql
        return try pool.read { db in
            var builder = SummaryRecordBuilder(location: path)
            // Run ids are text here: parsed once, from the runs rows; the other rows look them up.
            var ids: [String: UUID] = [:]
            func uuid(_ row: Row) -> UUID? { ids[row[0] as String] }
            let (runsSQL, runValues) = sql.summaryRuns(query)
            try Row.fetchCursor(db, sql: runsSQL, arguments: Self.arguments(runValues)).forEach { row in
                let text: String = row[0]
                guard let id = UUID(uuidString: text) else { return }
                ids[text] = id
                try builder.add(run: .init(runId: id, start: row[1], end: row[2], family: row[3], role: row[4], toolVersion: row[5],
                                           bootId: row[6], collectorHost: row[7], hostname: row[8], kernel: row[9], cpuModel: row[10],
                                           onlineCpus: row[11], memoryBytes: row[12], numaNodes: row[13], hypervisor: row[14],
                                           kind: row[15], name: row[16], driver: row[17], controllerDriver: row[18], deviceClass: row[19],
                                           pciId: row[20], sizeBytes: row[21]))
            }
            let (tagsSQL, tagValues) = sql.summaryTags(query)
            try Row.fetchCursor(db, sql: tagsSQL, arguments: Self.arguments(tagValues)).forEach { row in
                if let id = uuid(row) { builder.add(tag: id, key: row[1], value: row[2]) }
            }
            let (workloadsSQL, workloadValues) = sql.summaryWorkloads(query)
            try Row.fetchCursor(db, sql: workloadsSQL, arguments: Self.arguments(workloadValues)).forEach { row in
                if let id = uuid(row) { try builder.add(workload: id, index: row[1], specJSON: row[2]) }
            }
            let (metricsSQL, metricValues) = sql.summaryMetrics(query, only: metrics)
            try Row.fetchCursor(db, sql: metricsSQL, arguments: Self.arguments(metricValues)).forEach { row in
                if let id = uuid(row) { builder.add(metric: id, workload: row[1], repetition: row[2], metric: row[3], value: row[4]) }
            }
            if latency {
                let (latencySQL, latencyValues) = sql.summaryLatency(query)
                try Row.fetchCursor(db, sql: latencySQL, arguments: Self.arguments(latencyValues)).forEach { row in
                    guard let id = uuid(row) else { return }
                    let w: Int = row[1]
                    let blob: Data = row[2]
                    let name: String = row[3]
                    try builder.add(latency: id, workload: w, histogram: [UInt8](blob)) { name }
                }
            }
            return builder.records()
        }
    }

    public func compareRuns(_ query: RunQuery, metrics: [String]) throws -> [CompareRun] {
        let sql = Self.sql
        return try pool.read { db in
            var builder = CompareRunBuilder(location: path)
            let (runsSQL, runValues) = sql.compareRuns(query)
            try Row.fetchCursor(db, sql: runsSQL, arguments: Self.arguments(runValues)).forEach { row in
                let text: String = row[0]
                guard let id = UUID(uuidString: text) else { return }
                try builder.add(run: id, key: text, start: row[1], family: row[2], role: row[3], bootId: row[4], collectorHost: row[5],
                                hostname: row[6], kernel: row[7], hypervisor: row[8], name: row[9], driver: row[10], controller: row[11],
                                deviceClass: row[12], group: row[13], onlineCpus: row[14], labGuests: row[15], labRound: row[16],
                                configuration: row[17])
            }
            try Row.fetchCursor(db, sql: sql.configurationContents).forEach { row in
                try builder.add(configuration: row[0], json: row[1])
            }
            let (summariesSQL, summaryValues) = sql.compareSummaries(query, metrics: metrics)
            try Row.fetchCursor(db, sql: summariesSQL, arguments: Self.arguments(summaryValues)).forEach { row in
                builder.add(summary: row[0], workload: row[1], name: row[2], metric: row[3], n: row[4], mean: row[5], stddev: row[6],
                            logMean: row[7], logStddev: row[8])
            }
            return builder.build()
        }
    }

    public func repetitions(_ runIds: [UUID], metrics: [String]) throws -> [UUID: [Int: [String: [Double]]]] {
        let sql = Self.sql
        return try pool.read { db in
            var rows = RepetitionRows()
            for chunk in stride(from: 0, to: runIds.count, by: 500).map({ Array(runIds[$0..<min($0 + 500, runIds.count)]) }) {
                let (text, values) = sql.compareRepetitions(chunk, metrics: metrics)
                try Row.fetchCursor(db, sql: text, arguments: Self.arguments(values)).forEach { row in
                    if let id = UUID(uuidString: row[0]) { rows.add(run: id, workload: row[1], metric: row[2], value: row[3]) }
                }
            }
            return rows.values
        }
    }

    public func reportFacts(_ query: RunQuery, metrics: [String], partition: RunPartition?, latency: Bool) throws -> ReportFacts {
        let sql = Self.sql
        return try pool.read { db in
            var b = ReportFactsBuilder(location: path)
            func group(_ row: Row) -> ReportFactsBuilder.GroupRow {
                .init(partition: row[0], family: row[1], workload: row[2], device: row[3], role: row[4])
            }
            let (aggregatesSQL, aggregateValues) = sql.reportAggregates(query, metrics: metrics, partition: partition)
            try Row.fetchCursor(db, sql: aggregatesSQL, arguments: Self.arguments(aggregateValues)).forEach { row in
                try b.add(aggregate: group(row), metric: row[5], kernel: row[6], runs: row[7], sum: row[8], spread: row[9],
                          spreadIsVariance: false, min: row[10], max: row[11], loneN: row[12], loneStddev: row[13])
            }
            let (newestSQL, newestValues) = sql.reportNewest(query, metrics: metrics, partition: partition)
            try Row.fetchCursor(db, sql: newestSQL, arguments: Self.arguments(newestValues)).forEach { row in
                try b.add(newest: group(row), start: row[5], runId: row[6], workload: row[7], deviceClass: row[8], hypervisor: row[9])
            }
            let (countsSQL, countValues) = sql.reportRunCounts(query, partition: partition)
            try Row.fetchCursor(db, sql: countsSQL, arguments: Self.arguments(countValues)).forEach { row in
                try b.add(runs: row[0], role: row[1], count: row[2])
            }
            let (emulatedSQL, emulatedValues) = sql.reportEmulated(query, partition: partition)
            try Row.fetchCursor(db, sql: emulatedSQL, arguments: Self.arguments(emulatedValues)).forEach { row in
                b.add(emulated: row[0], kind: row[1], name: row[2], driver: row[3], controllerDriver: row[4], pciId: row[5],
                      hypervisor: row[6], newest: row[7])
            }
            let configurations = try Row.fetchAll(db, sql: sql.reportConfigurationContents)
            if !configurations.isEmpty {
                for row in configurations { try b.add(configuration: row[0], json: row[1]) }
                let (costlySQL, costlyValues) = sql.reportConfigurations(query, partition: partition)
                try Row.fetchCursor(db, sql: costlySQL, arguments: Self.arguments(costlyValues)).forEach { row in
                    try b.add(costly: group(row), deviceName: row[5], configuration: row[6], runs: row[7])
                }
            }
            if latency {
                let (latencySQL, latencyValues) = sql.reportLatency(query, metrics: metrics, partition: partition)
                try Row.fetchCursor(db, sql: latencySQL, arguments: Self.arguments(latencyValues)).forEach { row in
                    let blob: Data = row[5]
                    try b.add(latency: group(row), histogram: [UInt8](blob), run: row[6], workload: row[7])
                }
            }
            return b.result()
        }
    }

    public func runs(_ query: RunQuery) throws -> [RunSummary] {
        let (sql, values) = Self.sql.runs(query)
        return try pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: Self.arguments(values)).compactMap { row -> RunSummary? in
                guard let id = UUID(uuidString: row["run_id"]), let role = RunRole(rawValue: row["role"]) else { return nil }
                let driver: String = row["driver"]
                return RunSummary(runId: id, startTime: Date(timeIntervalSince1970: row["start_time"]), family: row["family"],
                                  role: role, hypervisor: row["hypervisor"], kernel: row["kernel_release"], device: row["name"],
                                  driver: driver.isEmpty ? nil : driver, deviceClass: row["class"], peer: row["peer"],
                                  collectorHost: row["collector_host"], workloads: row["workloads"])
            }
        }
    }

    public func record(_ runId: UUID) throws -> RunRecord? {
        let json = try pool.read { db in
            try String.fetchOne(db, sql: "SELECT record_json FROM records WHERE run_id = ?", arguments: [runId.uuidString.lowercased()])
        }
        guard let json else { return nil }
        return try RunRecord.decode(Data(json.utf8))
    }

    public func metricSamples(_ query: RunQuery, metric: String) throws -> [MetricSample] {
        let (sql, values) = Self.sql.metricSamples(query, metric: metric)
        return try pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: Self.arguments(values)).compactMap { row in
                guard let id = UUID(uuidString: row["run_id"]) else { return nil }
                return MetricSample(runId: id, workload: row["name"], repetition: row["repetition_index"], value: row["value"])
            }
        }
    }

    public func export(after: UUID?, limit: Int) throws -> [StoredRun] {
        let (sql, values) = Self.sql.export(after: after, limit: limit)
        let rows = try pool.read { db in try Row.fetchAll(db, sql: sql, arguments: Self.arguments(values)) }
        return try rows.map { row in
            let json: String = row["record_json"]
            let record: RunRecord
            do { record = try RunRecord.decode(Data(json.utf8)) } catch {
                throw StoreError(path: path, reason: "run \(row["run_id"] as String) has a record that does not decode (\(error))")
            }
            return StoredRun(record: record, receipt: Receipt(peer: row["peer"], receivedAt: Date(timeIntervalSince1970: row["received_at"]),
                                                              collectorHost: row["collector_host"], collectorKernel: row["collector_kernel"],
                                                              receivedJSON: json))
        }
    }

    public func contains(_ runIds: [UUID]) throws -> Set<UUID> {
        guard !runIds.isEmpty else { return [] }
        return try pool.read { db in
            var found = Set<UUID>()
            for chunk in stride(from: 0, to: runIds.count, by: 500).map({ Array(runIds[$0..<min($0 + 500, runIds.count)]) }) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let ids = try String.fetchAll(db, sql: "SELECT run_id FROM runs WHERE run_id IN (\(marks))",
                                              arguments: StatementArguments(chunk.map { $0.uuidString.lowercased() }))
                found.formUnion(ids.compactMap(UUID.init(uuidString:)))
            }
            return found
        }
    }

    public func close() {
        try? pool.close()
    }

    static func arguments(_ values: [StoreValue]) -> StatementArguments {
        StatementArguments(values.map { value -> (any DatabaseValueConvertible) in
            switch value {
            case .text(let t): t
            case .real(let d): d
            case .integer(let i): i
            case .time(let date): date.timeIntervalSince1970
            }
        })
    }
}
