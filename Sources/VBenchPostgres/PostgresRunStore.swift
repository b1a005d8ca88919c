import FoundationEssentials
import Glibc
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization
import VBenchCore
import VBenchStore
import VBenchStoreAPI

/// The fleet store: one PostgreSQL database that many collectors write to. The same protocol,
/// the same read queries (`StoreSQL`), the same numbered migrations (`StoreSchema`) and the same
/// dedupe by run id as the SQLite store.
///
/// Writes are one transaction per batch: set-based inserts (`unnest` of arrays, one statement
/// per table) and `ON CONFLICT (run_id) DO NOTHING`, so two collectors that receive the same run
/// store it once (the second waits for the first's commit, then finds it). A connection lost or a
/// server restarting is retried with backoff for `retryWindow`; after that the caller gets
/// `StoreUnavailable` and nothing of the batch was committed. A commit whose answer was lost is
/// retried too, and then finds its runs stored (answered `duplicate`; never stored twice).
public final class PostgresRunStore: RunStore {
    public let url: PostgresURL
    public var location: String { url.description }
    /// How long connection failures are retried before `StoreUnavailable`.
    public let retryWindow: Duration
    /// Longest wait for one statement's answer before the connection is given up.
    public let queryTimeout: TimeAmount = .seconds(120)

    /// What the store went through, for the collector's counters.
    public struct Counters: Sendable, Equatable {
        public var connects = 0
        public var retries = 0
        public var unavailable = 0
    }

    private struct State {
        var connection: PostgresConnection?
        var nextConnectionId = 1
        var closed = false
    }

    private let configuration: PostgresConnection.Configuration
    private let group: MultiThreadedEventLoopGroup
    private let state = Mutex(State())
    private let counts = Mutex(Counters())
    private let logger = Logger(label: "vbench.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    private static let sql = StoreSQL(.postgres)

    public var counters: Counters { counts.withLock { $0 } }

    /// Connects (retrying for `retryWindow` while the server is not up), and brings the schema
    /// up to date. `password` nil: `PostgresCredentials.password(for:)` decides.
    public init(url: PostgresURL, password: String? = nil, retryWindow: Duration = .seconds(60)) throws {
        self.url = url
        self.retryWindow = retryWindow
        let secret = try password ?? PostgresCredentials.password(for: url)
        var config: PostgresConnection.Configuration
        if let dir = url.socketDirectory {
            config = .init(unixSocketPath: dir + "/.s.PGSQL.\(url.port)", username: url.user, password: secret, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch url.tls {
            case .disable: tls = .disable
            case .require:
                do { tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration())) } catch {
                    throw StoreError(path: url.description, reason: "cannot set up TLS (\(error))")
                }
            }
            config = .init(host: url.host, port: url.port, username: url.user, password: secret, database: url.database, tls: tls)
        }
        config.options.connectTimeout = .seconds(10)
        config.options.additionalStartupParameters = [("application_name", "vbench")]
        configuration = config
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try migrate()
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
    }

    /// Closes the connection and its event loop; later calls do nothing.
    public func close() {
        let (connection, wasClosed) = state.withLock { s -> (PostgresConnection?, Bool) in
            defer { s.connection = nil; s.closed = true }
            return (s.connection, s.closed)
        }
        guard !wasClosed else { return }
        if MultiThreadedEventLoopGroup.currentEventLoop != nil {
            // On an event loop (a last reference dropped in a callback): never block one.
            let closing: EventLoopFuture<Void>? = connection?.close()
            _ = closing
            group.shutdownGracefully { _ in }
            return
        }
        let closing: EventLoopFuture<Void>? = connection?.close()
        try? closing?.wait()
        try? group.syncShutdownGracefully()
    }

    // MARK: Migrations

    /// DDL per migration name; statements run one by one inside the migration's transaction.
    static let migrations: [(name: String, statements: [String])] = [
        ("1-runs", [
            """
            CREATE TABLE environments (
                id bigserial PRIMARY KEY,
                hostname text NOT NULL, kernel_release text NOT NULL, cpu_model text NOT NULL,
                online_cpus bigint NOT NULL, memory_bytes bigint NOT NULL, numa_nodes bigint NOT NULL,
                hypervisor text NOT NULL,
                UNIQUE (hostname, kernel_release, cpu_model, online_cpus, memory_bytes, numa_nodes, hypervisor))
            """,
            """
            CREATE TABLE devices (
                id bigserial PRIMARY KEY,
                kind text NOT NULL, name text NOT NULL, driver text NOT NULL, controller_driver text NOT NULL,
                class text NOT NULL, pci_id text NOT NULL, size_bytes bigint NOT NULL,
                UNIQUE (kind, name, driver, controller_driver, class, pci_id, size_bytes))
            """,
            """
            CREATE TABLE runs (
                run_id uuid PRIMARY KEY,
                schema_version bigint NOT NULL,
                family text NOT NULL,
                role text NOT NULL,
                start_time timestamptz NOT NULL,
                end_time timestamptz NOT NULL,
                tool_version text NOT NULL,
                environment_id bigint NOT NULL REFERENCES environments(id),
                device_id bigint NOT NULL REFERENCES devices(id),
                target_path text,
                peer text NOT NULL,
                received_at timestamptz NOT NULL,
                collector_host text NOT NULL,
                collector_kernel text NOT NULL,
                record_json json NOT NULL)
            """,
            """
            CREATE TABLE tags (
                run_id uuid NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                key text NOT NULL, value text NOT NULL,
                PRIMARY KEY (run_id, key))
            """,
            """
            CREATE TABLE workloads (
                run_id uuid NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                workload_index bigint NOT NULL,
                name text NOT NULL, spec_json json NOT NULL,
                PRIMARY KEY (run_id, workload_index))
            """,
            """
            CREATE TABLE repetitions (
                run_id uuid NOT NULL, workload_index bigint NOT NULL, repetition_index bigint NOT NULL,
                elapsed_ns bigint NOT NULL, read_ops bigint NOT NULL, write_ops bigint NOT NULL,
                read_bytes bigint NOT NULL, write_bytes bigint NOT NULL,
                cpu_user_ns bigint NOT NULL, cpu_system_ns bigint NOT NULL,
                PRIMARY KEY (run_id, workload_index, repetition_index),
                FOREIGN KEY (run_id, workload_index) REFERENCES workloads(run_id, workload_index) ON DELETE CASCADE)
            """,
            """
            CREATE TABLE metrics (
                run_id uuid NOT NULL, workload_index bigint NOT NULL, repetition_index bigint NOT NULL,
                metric text NOT NULL, value double precision NOT NULL,
                PRIMARY KEY (run_id, workload_index, repetition_index, metric),
                FOREIGN KEY (run_id, workload_index, repetition_index)
                    REFERENCES repetitions(run_id, workload_index, repetition_index) ON DELETE CASCADE)
            """,
            """
            CREATE TABLE histograms (
                run_id uuid NOT NULL, workload_index bigint NOT NULL, repetition_index bigint NOT NULL,
                kind text NOT NULL,
                precision_bits bigint NOT NULL, count bigint NOT NULL, buckets text NOT NULL,
                PRIMARY KEY (run_id, workload_index, repetition_index, kind),
                FOREIGN KEY (run_id, workload_index, repetition_index)
                    REFERENCES repetitions(run_id, workload_index, repetition_index) ON DELETE CASCADE)
            """,
            "CREATE INDEX runs_start ON runs(start_time)",
            "CREATE INDEX metrics_by_name ON metrics(metric)",
        ]),
        ("2-fleet", [
            "CREATE INDEX runs_collector_host ON runs(collector_host)",
        ]),
        // Record schema 2; `convert` then rewrites every stored run.
        ("3-compact", [
            """
            CREATE TABLE summaries (
                run_id uuid NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                workload_index bigint NOT NULL, workload text NOT NULL, metric text NOT NULL,
                n bigint NOT NULL, mean float8 NOT NULL, median float8 NOT NULL, stddev float8 NOT NULL,
                min float8 NOT NULL, max float8 NOT NULL,
                PRIMARY KEY (run_id, workload_index, metric))
            """,
            "CREATE INDEX summaries_by_metric ON summaries(metric, workload)",
            """
            CREATE TABLE workload_latency (
                run_id uuid NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
                workload_index bigint NOT NULL, histogram bytea NOT NULL,
                PRIMARY KEY (run_id, workload_index))
            """,
            "ALTER TABLE runs ADD COLUMN boot_id text",
            "CREATE INDEX tags_by_key ON tags(key, value)",
            "CREATE INDEX runs_family_role ON runs(family, role)",
            "DROP TABLE histograms",
        ]),
        // Each run's keys on its summary rows: the report's aggregates read one table.
        ("4-summary-keys", StoreSQL.summaryKeyColumns(.postgres).map { "ALTER TABLE summaries ADD COLUMN \($0)" } + [
            StoreSQL(.postgres).summaryKeysUpdate,
            "CREATE INDEX summaries_report ON summaries(\(StoreSQL.summaryReportIndexColumnsV4))",
        ]),
        // Compare from summary rows: each run's JSON in `records`, the log moments on the
        // summary rows (from the repetition rows; non-finite values are not summarized), and
        // the report index carrying them. The dropped column's space comes back with VACUUM FULL.
        ("5-compare", [
            """
            CREATE TABLE records (
                run_id uuid PRIMARY KEY REFERENCES runs(run_id) ON DELETE CASCADE,
                record_json json NOT NULL)
            """,
            "INSERT INTO records (run_id, record_json) SELECT run_id, record_json FROM runs",
            "ALTER TABLE runs DROP COLUMN record_json",
            "ALTER TABLE summaries ADD COLUMN log_mean float8",
            "ALTER TABLE summaries ADD COLUMN log_stddev float8",
            """
            UPDATE summaries x SET log_mean = l.m, log_stddev = l.s
            FROM (SELECT run_id, workload_index, metric, avg(ln(CASE WHEN value > 0 THEN value END)) AS m,
                         COALESCE(stddev_samp(ln(CASE WHEN value > 0 THEN value END)), 0) AS s
                  FROM metrics WHERE value <> 'Infinity' AND value <> '-Infinity' AND value <> 'NaN'
                  GROUP BY run_id, workload_index, metric HAVING bool_and(value > 0)) l
            WHERE x.run_id = l.run_id AND x.workload_index = l.workload_index AND x.metric = l.metric
            """,
            "DROP INDEX summaries_report",
            "CREATE INDEX summaries_report ON summaries(\(StoreSQL.summaryReportIndexColumns))",
        ]),
        // Reports show the audit: one row per distinct costly configuration, each run pointing
        // at its own (NULL: no audit); `convert` backfills from the stored records.
        ("6-configurations", [
            """
            CREATE TABLE configurations (
                id bigserial PRIMARY KEY,
                digest text NOT NULL UNIQUE,
                warnings bigint NOT NULL,
                findings json NOT NULL)
            """,
            "ALTER TABLE runs ADD COLUMN configuration_id bigint REFERENCES configurations(id)",
            "CREATE INDEX runs_configuration ON runs(configuration_id)",
        ]),
    ]

    /// The data part of a migration, after its statements, in the same transaction.
    private func convert(_ migration: String, _ s: Session) throws {
        if migration == "6-configurations" { return try backfillConfigurations(s) }
        guard migration == "3-compact" else { return }
        let ids = try s.query("SELECT run_id FROM runs ORDER BY run_id").map { try $0.decode(UUID.self) }
        for chunk in stride(from: 0, to: ids.count, by: 200).map({ Array(ids[$0..<min($0 + 200, ids.count)]) }) {
            var b = PostgresBindings()
            b.append(chunk)
            var records: [RunRecord] = []
            var forms: [StoredForms] = []
            for row in try s.query("SELECT run_id, record_json::text FROM runs WHERE run_id = ANY($1::uuid[]) ORDER BY run_id", b) {
                let (id, json) = try row.decode((UUID, String).self)
                let record: RunRecord
                do { record = try RunRecord.decode(Data(json.utf8)) } catch {
                    throw StoreError(path: location, reason: "migration 3-compact: run \(id) has a record that does not decode (\(error)); nothing was changed")
                }
                records.append(record)
                forms.append(try StoredForms(record, receivedJSON: nil))
            }
            var u = PostgresBindings()
            u.append(records.map(\.runId)); u.append(forms.map(\.json)); u.append(records.map { $0.environment.bootId ?? "" })
            try s.query("""
                UPDATE runs SET record_json = u.js::json, schema_version = \(RunRecord.currentSchemaVersion), boot_id = NULLIF(u.boot, '')
                FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, js, boot) WHERE runs.run_id = u.id
                """, u)
            try s.query("DELETE FROM metrics WHERE run_id = ANY($1::uuid[])", b)
            for (sql, binds) in ChildRows.derived(zip(records.map(\.runId), forms).map { ($0, $1, nil) }) { try s.query(sql, binds) }
        }
    }

    /// Migration `6-configurations`'s data: each stored record's audit, a page of records at a
    /// time in run id order (decoded on every core), its configuration inserted once and its
    /// run pointed at it. A record that does not decode fails the migration, naming the run.
    private func backfillConfigurations(_ s: Session) throws {
        var after: UUID?
        while true {
            var b = PostgresBindings()
            if let after { b.append(after) }
            let page = try s.query("""
                SELECT run_id, record_json::text FROM records \(after == nil ? "" : "WHERE run_id > $1")
                ORDER BY run_id LIMIT \(StoreSchema.configurationBackfillPage)
                """, b).map { row in try row.decode((UUID, String).self) }
            guard let last = page.last else { return }
            after = last.0
            let configurations = try StoredConfiguration.backfill(page.map { (run: $0.0.uuidString.lowercased(), json: $0.1) }, store: location)
            let ids = try Self.configurationIds(s, configurations.compactMap { $0 })
            var runs: [UUID] = [], pointers: [Int64] = []
            for (item, configuration) in zip(page, configurations) {
                guard let configuration, let id = ids[configuration.digest] else { continue }
                runs.append(item.0)
                pointers.append(id)
            }
            guard !runs.isEmpty else { continue }
            var u = PostgresBindings()
            u.append(runs); u.append(pointers)
            try s.query("""
                UPDATE runs SET configuration_id = u.c FROM unnest($1::uuid[], $2::int8[]) AS u(id, c) WHERE runs.run_id = u.id
                """, u)
        }
    }

    /// The ids of `configurations` by digest, each inserted unless its digest is there (another
    /// collector's commit is seen by the second statement).
    private static func configurationIds(_ s: Session, _ configurations: [StoredConfiguration]) throws -> [String: Int64] {
        let distinct = Array(Set(configurations)).sorted { $0.digest < $1.digest }  // one lock order for every writer
        guard !distinct.isEmpty else { return [:] }
        var b = PostgresBindings()
        b.append(distinct.map(\.digest)); b.append(distinct.map { Int64($0.warnings) }); b.append(distinct.map(\.json))
        try s.query("""
            INSERT INTO configurations (digest, warnings, findings)
            SELECT u.d, u.w, u.f::json FROM unnest($1::text[], $2::int8[], $3::text[]) AS u(d, w, f)
            ON CONFLICT (digest) DO NOTHING
            """, b)
        var digests = PostgresBindings()
        digests.append(distinct.map(\.digest))
        var ids: [String: Int64] = [:]
        for row in try s.query("SELECT id, digest FROM configurations WHERE digest = ANY($1::text[])", digests) {
            let (id, digest) = try row.decode((Int64, String).self)
            ids[digest] = id
        }
        return ids
    }

    /// Applies the migrations not yet applied, in order, in one transaction, holding an advisory
    /// lock so that collectors starting together against an empty database migrate it once.
    private func migrate() throws {
        assert(Self.migrations.map(\.name) == StoreSchema.migrations, "PostgreSQL migrations out of step with StoreSchema")
        try transaction { s in
            _ = try s.query("SELECT pg_advisory_xact_lock(7365271)")  // one lock id for vbench store migrations
            _ = try s.query("""
                CREATE TABLE IF NOT EXISTS vbench_migrations (
                    identifier text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            let applied = Set(try s.query("SELECT identifier FROM vbench_migrations").map { try $0.decode(String.self) })
            for migration in Self.migrations where !applied.contains(migration.name) {
                for statement in migration.statements { _ = try s.query(statement) }
                try convert(migration.name, s)
                var b = PostgresBindings()
                b.append(migration.name)
                _ = try s.query("INSERT INTO vbench_migrations (identifier) VALUES ($1)", b)
            }
        }
    }

    public func appliedMigrations() throws -> [String] {
        let names = try read { s in try s.query("SELECT identifier FROM vbench_migrations").map { try $0.decode(String.self) } }
        let order = Dictionary(uniqueKeysWithValues: StoreSchema.migrations.enumerated().map { ($1, $0) })
        return names.sorted { (order[$0] ?? .max, $0) < (order[$1] ?? .max, $1) }
    }

    // MARK: Writing

    public func store(_ record: RunRecord, receipt: Receipt) throws -> StoreOutcome {
        try store(batch: [(record, receipt)])[0]
    }

    private struct EnvironmentKey: Hashable {
        var hostname, kernel, cpu: String
        var cpus, memory, nodes: Int64
        var hypervisor: String
    }

    private struct DeviceKey: Hashable {
        var kind, name, driver, controller, deviceClass, pciId: String
        var size: Int64
    }

    public func store(batch: [(record: RunRecord, receipt: Receipt)]) throws -> [StoreOutcome] {
        guard !batch.isEmpty else { return [] }
        // Everything that needs no server is done before the transaction.
        var firstIndex: [UUID: Int] = [:]
        for (i, item) in batch.enumerated() where firstIndex[item.record.runId] == nil { firstIndex[item.record.runId] = i }
        let unique = batch.indices.filter { firstIndex[batch[$0].record.runId] == $0 }
            .sorted { batch[$0].record.runId.uuidString < batch[$1].record.runId.uuidString }  // one lock order for every writer
        func envKey(_ r: RunRecord) -> EnvironmentKey {
            let e = r.environment
            return EnvironmentKey(hostname: e.hostname, kernel: e.kernelRelease, cpu: e.cpuModel, cpus: Int64(e.onlineCpus),
                                  memory: Int64(e.memoryBytes), nodes: Int64(e.numaNodes), hypervisor: e.hypervisor.vendor.rawValue)
        }
        func deviceKey(_ r: RunRecord) -> DeviceKey {
            let d = r.device
            return DeviceKey(kind: d.kind, name: d.name, driver: d.driver ?? "", controller: d.controllerDriver ?? "",
                             deviceClass: d.deviceClass.rawValue, pciId: d.pciId ?? "", size: Int64(d.sizeBytes ?? 0))
        }
        let envKeys = Array(Set(unique.map { envKey(batch[$0].record) }))
            .sorted { ($0.hostname, $0.kernel, $0.cpu, $0.hypervisor, $0.cpus) < ($1.hostname, $1.kernel, $1.cpu, $1.hypervisor, $1.cpus) }
        let deviceKeys = Array(Set(unique.map { deviceKey(batch[$0].record) }))
            .sorted { ($0.kind, $0.name, $0.driver, $0.controller, $0.pciId) < ($1.kind, $1.name, $1.driver, $1.controller, $1.pciId) }
        let forms = try StoredForms.of(unique.map { (batch[$0].record, batch[$0].receipt.receivedJSON) })
        let jsons = forms.map(\.json)
        let configurations = forms.map(\.configuration)
        let children = ChildRows(unique.map { batch[$0].record }, forms: forms,
                                 collectorHosts: unique.map { batch[$0].receipt.collectorHost })

        var envBinds = PostgresBindings()
        envBinds.append(envKeys.map(\.hostname)); envBinds.append(envKeys.map(\.kernel)); envBinds.append(envKeys.map(\.cpu))
        envBinds.append(envKeys.map(\.cpus)); envBinds.append(envKeys.map(\.memory)); envBinds.append(envKeys.map(\.nodes))
        envBinds.append(envKeys.map(\.hypervisor))
        var deviceBinds = PostgresBindings()
        deviceBinds.append(deviceKeys.map(\.kind)); deviceBinds.append(deviceKeys.map(\.name)); deviceBinds.append(deviceKeys.map(\.driver))
        deviceBinds.append(deviceKeys.map(\.controller)); deviceBinds.append(deviceKeys.map(\.deviceClass))
        deviceBinds.append(deviceKeys.map(\.pciId)); deviceBinds.append(deviceKeys.map(\.size))

        let storedIds: Set<UUID> = try transaction { s in
            let envIds = try Self.ids(s, table: "environments",
                                      columns: "hostname, kernel_release, cpu_model, online_cpus, memory_bytes, numa_nodes, hypervisor",
                                      arrays: "unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::text[])",
                                      envBinds) { row in
                let (id, h, k, c, n, m, nodes, hv) = try row.decode((Int64, String, String, String, Int64, Int64, Int64, String).self)
                return (id, EnvironmentKey(hostname: h, kernel: k, cpu: c, cpus: n, memory: m, nodes: nodes, hypervisor: hv))
            }
            let deviceIds = try Self.ids(s, table: "devices", columns: "kind, name, driver, controller_driver, class, pci_id, size_bytes",
                                         arrays: "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[])",
                                         deviceBinds) { row in
                let (id, kind, name, driver, controller, cls, pci, size) = try row.decode((Int64, String, String, String, String, String, String, Int64).self)
                return (id, DeviceKey(kind: kind, name: name, driver: driver, controller: controller, deviceClass: cls, pciId: pci, size: size))
            }
            // The runs: those already there (another collector, an earlier try) are left alone.
            var runBinds = PostgresBindings()
            let records = unique.map { batch[$0].record }
            let receipts = unique.map { batch[$0].receipt }
            runBinds.append(records.map(\.runId))
            runBinds.append(records.map { Int64($0.schemaVersion) })
            runBinds.append(records.map(\.family))
            runBinds.append(records.map(\.role.rawValue))
            runBinds.append(records.map { $0.startTime.timeIntervalSince1970 })
            runBinds.append(records.map { $0.endTime.timeIntervalSince1970 })
            runBinds.append(records.map(\.tool.version))
            try runBinds.append(records.map { r in
                guard let id = envIds[envKey(r)] else { throw StoreError(path: location, reason: "environment row missing after insert") }
                return id
            })
            try runBinds.append(records.map { r in
                guard let id = deviceIds[deviceKey(r)] else { throw StoreError(path: location, reason: "device row missing after insert") }
                return id
            })
            runBinds.append(records.map { $0.target?.path ?? "" })
            runBinds.append(receipts.map(\.peer))
            runBinds.append(receipts.map { $0.receivedAt.timeIntervalSince1970 })
            runBinds.append(receipts.map(\.collectorHost))
            runBinds.append(receipts.map(\.collectorKernel))
            runBinds.append(records.map { $0.environment.bootId ?? "" })
            // 0 for a record without an audit (ids start at 1): NULL below.
            let configurationIds = try Self.configurationIds(s, configurations.compactMap { $0 })
            runBinds.append(configurations.map { c in c.flatMap { configurationIds[$0.digest] } ?? 0 })
            let inserted = try s.query("""
                INSERT INTO runs (run_id, schema_version, family, role, start_time, end_time, tool_version, environment_id,
                                  device_id, target_path, peer, received_at, collector_host, collector_kernel, boot_id, configuration_id)
                SELECT u.run_id, u.sv, u.family, u.role, to_timestamp(u.st), to_timestamp(u.et), u.tv, u.env, u.dev,
                       NULLIF(u.target, ''), u.peer, to_timestamp(u.ra), u.ch, u.ck, NULLIF(u.boot, ''), NULLIF(u.cfg, 0)
                FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::text[], $8::int8[],
                            $9::int8[], $10::text[], $11::text[], $12::float8[], $13::text[], $14::text[], $15::text[], $16::int8[])
                     AS u(run_id, sv, family, role, st, et, tv, env, dev, target, peer, ra, ch, ck, boot, cfg)
                ORDER BY u.run_id
                ON CONFLICT (run_id) DO NOTHING
                RETURNING run_id
                """, runBinds)
            let new = Set(try inserted.map { try $0.decode(UUID.self) })
            guard !new.isEmpty else { return new }
            let kept = records.indices.filter { new.contains(records[$0].runId) }
            var recordBinds = PostgresBindings()
            recordBinds.append(kept.map { records[$0].runId })
            recordBinds.append(kept.map { jsons[$0] })
            _ = try s.query("INSERT INTO records (run_id, record_json) SELECT u.a, u.b::json FROM unnest($1::uuid[], $2::text[]) AS u(a, b)",
                            recordBinds)
            for (sql, binds) in children.statements(only: new) { _ = try s.query(sql, binds) }
            return new
        }
        return batch.indices.map { i in
            firstIndex[batch[i].record.runId] == i && storedIds.contains(batch[i].record.runId) ? .stored : .duplicate
        }
    }

    /// Inserts the keys a batch needs into `table` (`id` plus `columns`) unless they are there,
    /// then reads every key's id in a second statement, so rows another collector committed
    /// meanwhile are seen.
    private static func ids<Key: Hashable>(_ s: Session, table: String, columns: String, arrays: String, _ binds: PostgresBindings,
                                           key: (PostgresRow) throws -> (Int64, Key)) throws -> [Key: Int64] {
        try s.query("INSERT INTO \(table) (\(columns)) SELECT * FROM \(arrays) ON CONFLICT DO NOTHING", binds)
        var ids: [Key: Int64] = [:]
        for row in try s.query("SELECT t.id, \(columns) FROM \(table) t JOIN \(arrays) AS k(\(columns)) USING (\(columns))", binds) {
            let (id, k) = try key(row)
            ids[k] = id
        }
        return ids
    }

    /// The rows below `runs`, as column arrays, filtered to the runs actually inserted.
    private struct ChildRows {
        struct Tag { var run: UUID; var key, value: String }
        struct Workload { var run: UUID; var index: Int64; var name, spec: String }
        struct Repetition { var run: UUID; var w, r, elapsed, readOps, writeOps, readBytes, writeBytes, user, system: Int64 }
        var tags: [Tag] = [], workloads: [Workload] = [], repetitions: [Repetition] = []
        var derived: [(UUID, StoredForms, StoredForms.SummaryKeys?)] = []

        init(_ records: [RunRecord], forms: [StoredForms], collectorHosts: [String]) {
            derived = zip(records, zip(forms, collectorHosts)).map { r, f in (r.runId, f.0, StoredForms.SummaryKeys(r, collectorHost: f.1)) }
            for (record, form) in zip(records, forms) {
                let id = record.runId
                for (key, value) in record.tags.sorted(by: { $0.key < $1.key }) { tags.append(Tag(run: id, key: key, value: value)) }
                for (w, workload) in record.workloads.enumerated() {
                    workloads.append(Workload(run: id, index: Int64(w), name: workload.name, spec: form.specs[w]))
                    for rep in workload.repetitions {
                        let r = Int64(rep.index)
                        repetitions.append(Repetition(run: id, w: Int64(w), r: r, elapsed: Int64(rep.elapsedNs), readOps: Int64(rep.readOps),
                                                      writeOps: Int64(rep.writeOps), readBytes: Int64(rep.readBytes),
                                                      writeBytes: Int64(rep.writeBytes), user: Int64(rep.cpuUserNs),
                                                      system: Int64(rep.cpuSystemNs)))
                    }
                }
            }
        }

        /// The metric, summary and latency rows of runs, one INSERT per table; each summary row
        /// with its run's keys (nil only in migration 3's conversion, before their columns).
        static func derived(_ runs: [(UUID, StoredForms, StoredForms.SummaryKeys?)]) -> [(String, PostgresBindings)] {
            var mRun: [UUID] = [], mW: [Int64] = [], mR: [Int64] = [], mName: [String] = [], mValue: [Double] = []
            var sRun: [UUID] = [], sW: [Int64] = [], sName: [String] = [], sMetric: [String] = [], sN: [Int64] = []
            var sMean: [Double] = [], sMedian: [Double] = [], sStd: [Double] = [], sMin: [Double] = [], sMax: [Double] = []
            var sLogMean: [Double] = [], sLogStd: [Double] = []  // NaN for none (NULLIF below)
            var kFamily: [String] = [], kRole: [String] = [], kStart: [Double] = [], kHost: [String] = [], kKernel: [String] = []
            var kHypervisor: [String] = [], kDevice: [String] = [], kDriver: [String] = [], kController: [String] = [], kClass: [String] = []
            var lRun: [UUID] = [], lW: [Int64] = [], lBlob: [String] = []
            let withKeys = runs.allSatisfy { $0.2 != nil }
            precondition(withKeys || runs.allSatisfy { $0.2 == nil }, "a batch's summary rows all carry their keys or none do")
            for (id, forms, keys) in runs {
                for m in forms.metrics {
                    mRun.append(id); mW.append(Int64(m.workload)); mR.append(Int64(m.repetition)); mName.append(m.metric); mValue.append(m.value)
                }
                for r in forms.summaries {
                    sRun.append(id); sW.append(Int64(r.workload)); sName.append(r.name); sMetric.append(r.metric); sN.append(Int64(r.n))
                    sMean.append(r.mean); sMedian.append(r.median); sStd.append(r.stddev); sMin.append(r.min); sMax.append(r.max)
                    sLogMean.append(r.logMean ?? .nan); sLogStd.append(r.logStddev ?? .nan)
                    if let k = keys {
                        kFamily.append(k.family); kRole.append(k.role); kStart.append(k.startTime); kHost.append(k.collectorHost)
                        kKernel.append(k.kernel); kHypervisor.append(k.hypervisor); kDevice.append(k.device); kDriver.append(k.driver)
                        kController.append(k.controllerDriver); kClass.append(k.deviceClass)
                    }
                }
                for l in forms.latency {
                    lRun.append(id); lW.append(Int64(l.workload)); lBlob.append(Data(l.histogram).base64EncodedString())
                }
            }
            var out: [(String, PostgresBindings)] = []
            if !mRun.isEmpty {
                var b = PostgresBindings()
                b.append(mRun); b.append(mW); b.append(mR); b.append(mName); b.append(mValue)
                out.append(("""
                    INSERT INTO metrics (run_id, workload_index, repetition_index, metric, value)
                    SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::text[], $5::float8[])
                    """, b))
            }
            if !sRun.isEmpty {
                var b = PostgresBindings()
                b.append(sRun); b.append(sW); b.append(sName); b.append(sMetric); b.append(sN)
                b.append(sMean); b.append(sMedian); b.append(sStd); b.append(sMin); b.append(sMax)
                if withKeys {
                    b.append(kFamily); b.append(kRole); b.append(kStart); b.append(kHost); b.append(kKernel)
                    b.append(kHypervisor); b.append(kDevice); b.append(kDriver); b.append(kController); b.append(kClass)
                    b.append(sLogMean); b.append(sLogStd)
                    out.append(("""
                        INSERT INTO summaries (run_id, workload_index, workload, metric, n, mean, median, stddev, min, max,
                                               family, role, start_time, collector_host, kernel, hypervisor, device, driver,
                                               controller_driver, class, log_mean, log_stddev)
                        SELECT u.a, u.b, u.c, u.d, u.e, u.f, u.g, u.h, u.i, u.j, u.k, u.l, to_timestamp(u.m), u.n, u.o, u.p, u.q, u.r, u.s, u.t,
                               NULLIF(u.u, 'NaN'::float8), NULLIF(u.v, 'NaN'::float8)
                        FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::float8[], $7::float8[],
                                    $8::float8[], $9::float8[], $10::float8[], $11::text[], $12::text[], $13::float8[], $14::text[],
                                    $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::float8[], $22::float8[])
                             AS u(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t, u, v)
                        """, b))
                } else {
                    out.append(("""
                        INSERT INTO summaries (run_id, workload_index, workload, metric, n, mean, median, stddev, min, max)
                        SELECT * FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::float8[], $7::float8[],
                                             $8::float8[], $9::float8[], $10::float8[])
                        """, b))
                }
            }
            if !lRun.isEmpty {
                var b = PostgresBindings()
                b.append(lRun); b.append(lW); b.append(lBlob)
                out.append(("""
                    INSERT INTO workload_latency (run_id, workload_index, histogram)
                    SELECT u.a, u.b, decode(u.c, 'base64') FROM unnest($1::uuid[], $2::int8[], $3::text[]) AS u(a, b, c)
                    """, b))
            }
            return out
        }

        /// One INSERT per table, parents first.
        func statements(only new: Set<UUID>) -> [(String, PostgresBindings)] {
            var out: [(String, PostgresBindings)] = []
            let t = tags.filter { new.contains($0.run) }
            if !t.isEmpty {
                var b = PostgresBindings()
                b.append(t.map(\.run)); b.append(t.map(\.key)); b.append(t.map(\.value))
                out.append(("INSERT INTO tags (run_id, key, value) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])", b))
            }
            let w = workloads.filter { new.contains($0.run) }
            if !w.isEmpty {
                var b = PostgresBindings()
                b.append(w.map(\.run)); b.append(w.map(\.index)); b.append(w.map(\.name)); b.append(w.map(\.spec))
                out.append(("""
                    INSERT INTO workloads (run_id, workload_index, name, spec_json)
                    SELECT u.a, u.b, u.c, u.d::json FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[]) AS u(a, b, c, d)
                    """, b))
            }
            let r = repetitions.filter { new.contains($0.run) }
            if !r.isEmpty {
                var b = PostgresBindings()
                b.append(r.map(\.run)); b.append(r.map(\.w)); b.append(r.map(\.r)); b.append(r.map(\.elapsed))
                b.append(r.map(\.readOps)); b.append(r.map(\.writeOps)); b.append(r.map(\.readBytes)); b.append(r.map(\.writeBytes))
                b.append(r.map(\.user)); b.append(r.map(\.system))
                out.append(("""
                    INSERT INTO repetitions (run_id, workload_index, repetition_index, elapsed_ns, read_ops, write_ops,
                                             read_bytes, write_bytes, cpu_user_ns, cpu_system_ns)
                    SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                                         $8::int8[], $9::int8[], $10::int8[])
                    """, b))
            }
            out += Self.derived(derived.filter { new.contains($0.0) })
            return out
        }
    }

    // MARK: Reading

    public func runs(_ query: RunQuery) throws -> [RunSummary] {
        let (sql, values) = Self.sql.runs(query)
        return try read { s in
            try s.query(sql, Self.bindings(values)).map { row in
                let (id, start, family, role, hypervisor, kernel, name, driver, cls, peer, host, workloads) =
                    try row.decode((UUID, Double, String, String, String, String, String, String, String, String, String, Int64).self)
                guard let runRole = RunRole(rawValue: role) else {
                    throw StoreError(path: location, reason: "run \(id) has an unknown role '\(role)'")
                }
                return RunSummary(runId: id, startTime: Date(timeIntervalSince1970: start), family: family, role: runRole,
                                  hypervisor: hypervisor, kernel: kernel, device: name, driver: driver.isEmpty ? nil : driver,
                                  deviceClass: cls, peer: peer, collectorHost: host, workloads: Int(workloads))
            }
        }
    }

    public func record(_ runId: UUID) throws -> RunRecord? {
        var b = PostgresBindings()
        b.append(runId)
        let json = try read { s in try s.query("SELECT record_json::text FROM records WHERE run_id = $1", b).first?.decode(String.self) }
        guard let json else { return nil }
        return try RunRecord.decode(Data(json.utf8))
    }

    public func summaryRecords(_ query: RunQuery, latency: Bool, metrics: [String]?) throws -> [RunRecord] {
        let sql = Self.sql
        return try read { s in
            var builder = SummaryRecordBuilder(location: location)
            let (runsSQL, runValues) = sql.summaryRuns(query)
            for row in try s.query(runsSQL, Self.bindings(runValues)) {
                let c = row.makeRandomAccess()
                try builder.add(run: .init(
                    runId: try c[0].decode(UUID.self), start: try c[1].decode(Double.self), end: try c[2].decode(Double.self),
                    family: try c[3].decode(String.self), role: try c[4].decode(String.self), toolVersion: try c[5].decode(String.self),
                    bootId: try c[6].decode(String?.self), collectorHost: try c[7].decode(String.self),
                    hostname: try c[8].decode(String.self), kernel: try c[9].decode(String.self), cpuModel: try c[10].decode(String.self),
                    onlineCpus: Int(try c[11].decode(Int64.self)), memoryBytes: try c[12].decode(Int64.self),
                    numaNodes: Int(try c[13].decode(Int64.self)), hypervisor: try c[14].decode(String.self),
                    kind: try c[15].decode(String.self), name: try c[16].decode(String.self), driver: try c[17].decode(String.self),
                    controllerDriver: try c[18].decode(String.self), deviceClass: try c[19].decode(String.self),
                    pciId: try c[20].decode(String.self), sizeBytes: try c[21].decode(Int64.self)))
            }
            let (tagsSQL, tagValues) = sql.summaryTags(query)
            for row in try s.query(tagsSQL, Self.bindings(tagValues)) {
                let (id, key, value) = try row.decode((UUID, String, String).self)
                builder.add(tag: id, key: key, value: value)
            }
            let (workloadsSQL, workloadValues) = sql.summaryWorkloads(query)
            for row in try s.query(workloadsSQL, Self.bindings(workloadValues)) {
                let (id, w, spec) = try row.decode((UUID, Int64, String).self)
                try builder.add(workload: id, index: Int(w), specJSON: spec)
            }
            let (metricsSQL, metricValues) = sql.summaryMetrics(query, only: metrics)
            for row in try s.query(metricsSQL, Self.bindings(metricValues)) {
                let (id, w, r, metric, value) = try row.decode((UUID, Int64, Int64, String, Double).self)
                builder.add(metric: id, workload: Int(w), repetition: Int(r), metric: metric, value: value)
            }
            if latency {
                let (latencySQL, latencyValues) = sql.summaryLatency(query)
                for row in try s.query(latencySQL, Self.bindings(latencyValues)) {
                    let (id, w, text, name) = try row.decode((UUID, Int64, String, String).self)
                    let bytes = Data(base64Encoded: text, options: .ignoreUnknownCharacters).map { [UInt8]($0) } ?? []
                    try builder.add(latency: id, workload: Int(w), histogram: bytes) { name }
                }
            }
            return builder.records()
        }
    }

    public func compareRuns(_ query: RunQuery, metrics: [String]) throws -> [CompareRun] {
        let sql = Self.sql
        return try read { s in
            var builder = CompareRunBuilder(location: location)
            let (runsSQL, runValues) = sql.compareRuns(query)
            for row in try s.query(runsSQL, Self.bindings(runValues)) {
                let c = row.makeRandomAccess()
                let id = try c[0].decode(UUID.self)
                try builder.add(run: id, key: id.uuidString.lowercased(), start: try c[1].decode(Double.self), family: try c[2].decode(String.self),
                                role: try c[3].decode(String.self), bootId: try c[4].decode(String?.self),
                                collectorHost: try c[5].decode(String.self), hostname: try c[6].decode(String.self),
                                kernel: try c[7].decode(String.self), hypervisor: try c[8].decode(String.self), name: try c[9].decode(String.self),
                                driver: try c[10].decode(String.self), controller: try c[11].decode(String.self),
                                deviceClass: try c[12].decode(String.self), group: try c[13].decode(String?.self),
                                onlineCpus: Int(try c[14].decode(Int64.self)), labGuests: try c[15].decode(String?.self),
                                labRound: try c[16].decode(String?.self), configuration: try c[17].decode(Int64?.self))
            }
            for row in try s.query(sql.configurationContents) {
                let (id, json) = try row.decode((Int64, String).self)
                try builder.add(configuration: id, json: json)
            }
            let (summariesSQL, summaryValues) = sql.compareSummaries(query, metrics: metrics)
            for row in try s.query(summariesSQL, Self.bindings(summaryValues)) {
                let (key, w, name, metric, n, mean, sd, logMean, logSd) =
                    try row.decode((String, Int64, String, String, Int64, Double, Double, Double?, Double?).self)
                builder.add(summary: key, workload: Int(w), name: name, metric: metric, n: Int(n), mean: mean, stddev: sd,
                            logMean: logMean, logStddev: logSd)
            }
            return builder.build()
        }
    }

    public func repetitions(_ runIds: [UUID], metrics: [String]) throws -> [UUID: [Int: [String: [Double]]]] {
        let sql = Self.sql
        return try read { s in
            var rows = RepetitionRows()
            for chunk in stride(from: 0, to: runIds.count, by: 500).map({ Array(runIds[$0..<min($0 + 500, runIds.count)]) }) {
                let (text, values) = sql.compareRepetitions(chunk, metrics: metrics)
                for row in try s.query(text, Self.bindings(values)) {
                    let (id, w, metric, value) = try row.decode((UUID, Int64, String, Double).self)
                    rows.add(run: id, workload: Int(w), metric: metric, value: value)
                }
            }
            return rows.values
        }
    }

    public func reportFacts(_ query: RunQuery, metrics: [String], partition: RunPartition?, latency: Bool) throws -> ReportFacts {
        let sql = Self.sql
        return try read { s in
            var b = ReportFactsBuilder(location: location)
            func group(_ c: PostgresRandomAccessRow) throws -> ReportFactsBuilder.GroupRow {
                .init(partition: try c[0].decode(String.self), family: try c[1].decode(String.self), workload: try c[2].decode(String.self),
                      device: try c[3].decode(String.self), role: try c[4].decode(String.self))
            }
            let (aggregatesSQL, aggregateValues) = sql.reportAggregates(query, metrics: metrics, partition: partition)
            for row in try s.query(aggregatesSQL, Self.bindings(aggregateValues)) {
                let c = row.makeRandomAccess()
                try b.add(aggregate: group(c), metric: try c[5].decode(String.self), kernel: try c[6].decode(String.self),
                          runs: Int(try c[7].decode(Int64.self)), sum: try c[8].decode(Double.self), spread: try c[9].decode(Double.self),
                          spreadIsVariance: true, min: try c[10].decode(Double.self), max: try c[11].decode(Double.self),
                          loneN: Int(try c[12].decode(Int64.self)), loneStddev: try c[13].decode(Double.self))
                try b.add(newest: group(c), array: try c[14].decode(String.self))
            }
            let (countsSQL, countValues) = sql.reportRunCounts(query, partition: partition)
            for row in try s.query(countsSQL, Self.bindings(countValues)) {
                let (p, role, n) = try row.decode((String, String, Int64).self)
                try b.add(runs: p, role: role, count: Int(n))
            }
            let (emulatedSQL, emulatedValues) = sql.reportEmulated(query, partition: partition)
            for row in try s.query(emulatedSQL, Self.bindings(emulatedValues)) {
                let (p, kind, name, driver, controller, pci, hypervisor, newest) =
                    try row.decode((String, String, String, String, String, String, String, Double).self)
                b.add(emulated: p, kind: kind, name: name, driver: driver, controllerDriver: controller, pciId: pci,
                      hypervisor: hypervisor, newest: newest)
            }
            let configurations = try s.query(sql.reportConfigurationContents).map { try $0.decode((Int64, String).self) }
            if !configurations.isEmpty {
                for (id, json) in configurations { try b.add(configuration: id, json: json) }
                let (costlySQL, costlyValues) = sql.reportConfigurations(query, partition: partition)
                for row in try s.query(costlySQL, Self.bindings(costlyValues)) {
                    let c = row.makeRandomAccess()
                    try b.add(costly: group(c), deviceName: try c[5].decode(String.self), configuration: try c[6].decode(Int64.self),
                              runs: Int(try c[7].decode(Int64.self)))
                }
            }
            if latency {
                let (latencySQL, latencyValues) = sql.reportLatency(query, metrics: metrics, partition: partition)
                for row in try s.query(latencySQL, Self.bindings(latencyValues)) {
                    let c = row.makeRandomAccess()
                    let text = try c[5].decode(String.self)
                    let bytes = Data(base64Encoded: text, options: .ignoreUnknownCharacters).map { [UInt8]($0) } ?? []
                    try b.add(latency: group(c), histogram: bytes, run: try c[6].decode(String.self),
                              workload: Int(try c[7].decode(Int64.self)))
                }
            }
            return b.result()
        }
    }

    public func metricSamples(_ query: RunQuery, metric: String) throws -> [MetricSample] {
        let (sql, values) = Self.sql.metricSamples(query, metric: metric)
        return try read { s in
            try s.query(sql, Self.bindings(values)).map { row in
                let (id, workload, repetition, value) = try row.decode((UUID, String, Int64, Double).self)
                return MetricSample(runId: id, workload: workload, repetition: Int(repetition), value: value)
            }
        }
    }

    public func export(after: UUID?, limit: Int) throws -> [StoredRun] {
        let (sql, values) = Self.sql.export(after: after, limit: limit)
        let rows = try read { s in
            try s.query(sql, Self.bindings(values)).map { row in
                try row.decode((UUID, String, String, Double, String, String).self)
            }
        }
        return try rows.map { id, json, peer, receivedAt, host, kernel in
            let record: RunRecord
            do { record = try RunRecord.decode(Data(json.utf8)) } catch {
                throw StoreError(path: location, reason: "run \(id) has a record that does not decode (\(error))")
            }
            return StoredRun(record: record, receipt: Receipt(peer: peer, receivedAt: Date(timeIntervalSince1970: receivedAt),
                                                              collectorHost: host, collectorKernel: kernel, receivedJSON: json))
        }
    }

    public func contains(_ runIds: [UUID]) throws -> Set<UUID> {
        guard !runIds.isEmpty else { return [] }
        var b = PostgresBindings()
        b.append(runIds)
        return try read { s in Set(try s.query("SELECT run_id FROM runs WHERE run_id = ANY($1::uuid[])", b).map { try $0.decode(UUID.self) }) }
    }

    static func bindings(_ values: [StoreValue]) -> PostgresBindings {
        var b = PostgresBindings(capacity: values.count)
        for v in values {
            switch v {
            case .text(let t): b.append(t)
            case .real(let d): b.append(d)
            case .integer(let i): b.append(i)
            case .time(let date): b.append(date)
            }
        }
        return b
    }

    // MARK: Connections, transactions, retries

    /// A connection in use by one operation.
    struct Session {
        let connection: PostgresConnection
        let logger: Logger
        let timeout: TimeAmount

        /// Runs one statement and waits for its rows. A query handed to a connection that has
        /// just closed is never answered by PostgresNIO 1.33 (its write is dropped with no
        /// promise), so the wait also ends when the connection closes, and after `timeout`.
        @discardableResult
        func query(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> [PostgresRow] {
            guard !connection.isClosed else { throw ConnectionLost(reason: "the connection was closed") }
            let answer = connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            let loop = answer.eventLoop
            let result = loop.makePromise(of: PostgresQueryResult.self)
            let settled = Mutex(false)
            @Sendable func settle(_ outcome: Result<PostgresQueryResult, any Error>) {
                guard settled.withLock({ done in defer { done = true }; return !done }) else { return }
                result.completeWith(outcome)
            }
            answer.whenComplete { settle($0) }
            connection.closeFuture.whenComplete { _ in
                // Let an answer already on its way win; then give up on it.
                loop.execute { settle(.failure(ConnectionLost(reason: "the server closed the connection"))) }
            }
            let timer = loop.scheduleTask(in: timeout) {
                settle(.failure(ConnectionLost(reason: "no answer within \(timeout.nanoseconds / 1_000_000_000) s")))
            }
            defer { timer.cancel() }
            do {
                return try result.futureResult.wait().rows
            } catch let lost as ConnectionLost {
                let closing: EventLoopFuture<Void> = connection.close()
                _ = closing
                throw lost
            }
        }
    }

    /// The connection went away or stopped answering: reconnect and retry.
    struct ConnectionLost: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    private func read<T: Sendable>(_ body: (Session) throws -> T) throws -> T {
        try withRetries(transactional: false, body)
    }

    private func transaction<T: Sendable>(_ body: (Session) throws -> T) throws -> T {
        try withRetries(transactional: true, body)
    }

    /// Runs `body` on the store's connection (one at a time), inside BEGIN/COMMIT when
    /// `transactional`; reconnects and runs it again after a connection failure, a deadlock or a
    /// serialization failure, until `retryWindow` has passed.
    private func withRetries<T: Sendable>(transactional: Bool, _ body: (Session) throws -> T) throws -> T {
        let deadline = ContinuousClock.now + retryWindow
        var delay = Duration.milliseconds(50)
        return try state.withLock { st throws -> T in
            while true {
                guard !st.closed else { throw StoreError(path: location, reason: "the store was closed") }
                var session: Session?
                do {
                    let connection = try st.connection ?? connect(&st)
                    st.connection = connection
                    let s = Session(connection: connection, logger: logger, timeout: queryTimeout)
                    session = s
                    if transactional { try s.query("BEGIN") }
                    let result = try body(s)
                    if transactional { try s.query("COMMIT") }
                    return result
                } catch {
                    let failure = Self.classify(error)
                    switch failure {
                    case .fatal(let reason):
                        if transactional, let session { _ = try? session.query("ROLLBACK") }
                        if error is StoreError { throw error }
                        throw StoreError(path: location, reason: reason)
                    case .conflict:
                        if let session { _ = try? session.query("ROLLBACK") }
                    case .connection:
                        _ = try? st.connection?.close().wait()
                        st.connection = nil
                    }
                    guard ContinuousClock.now + delay < deadline else {
                        counts.withLock { $0.unavailable += 1 }
                        throw StoreUnavailable(store: location, reason: "\(Self.describe(error)) (retried for \(retryWindow))")
                    }
                    counts.withLock { $0.retries += 1 }
                    usleep(UInt32(delay / .microseconds(1)))
                    delay = min(delay * 2, .seconds(1))
                }
            }
        }
    }

    private func connect(_ st: inout State) throws -> PostgresConnection {
        let id = st.nextConnectionId
        st.nextConnectionId += 1
        let connection = try PostgresConnection.connect(on: group.next(), configuration: configuration, id: id, logger: logger).wait()
        counts.withLock { $0.connects += 1 }
        return connection
    }

    enum Failure: Equatable {
        /// The connection is gone or the server is (re)starting: reconnect and try again.
        case connection
        /// Deadlock or serialization failure: roll back and try again.
        case conflict
        /// Data, schema, authentication or configuration: trying again would fail again.
        case fatal(String)
    }

    static func classify(_ error: any Error) -> Failure {
        if let e = error as? PSQLError {
            switch e.code {
            case .server:
                let state = e.serverInfo?[.sqlState] ?? ""
                if state == "40001" || state == "40P01" { return .conflict }
                // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now;
                // 53300: too many connections.
                if state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" { return .connection }
                return .fatal(describe(error))
            case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection,
                 .messageDecodingFailure, .unexpectedBackendMessage:
                return .connection
            default:
                return .fatal(describe(error))
            }
        }
        if error is StoreError { return .fatal("\(error)") }
        if error is ConnectionLost { return .connection }
        if error is ChannelError || error is IOError || error is NIOConnectionError { return .connection }
        return .fatal(describe(error))
    }

    /// What went wrong, in the server's words where there are some (PSQLError's own description
    /// says nothing, to keep queries out of logs).
    static func describe(_ error: any Error) -> String {
        guard let e = error as? PSQLError else { return "\(error)" }
        if let message = e.serverInfo?[.message] {
            let state = e.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return message + state
        }
        var text = "\(e.code)"
        if let underlying = e.underlying { text += ": \(underlying)" }
        return text
    }
}
