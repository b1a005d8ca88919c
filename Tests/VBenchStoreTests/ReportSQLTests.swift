import Foundation
import Testing
import VBenchCore
import VBenchPostgres
import VBenchReport
import VBenchStore
import VBenchStoreAPI
import VBenchTestSupport

/// The report computed in SQL (`RunStore.reportFacts`: grouped aggregates, never the runs)
/// equals the report computed in memory from the same records, on random stores, on both
/// backends, for every `--group-by`, with filters and a limit; what compare reads in SQL
/// (`RunStore.compareRuns`) is what it reads of the records, verdicts alike.
@Suite(.serialized) struct ReportSQLTests {
    /// `count` records: guests on virtio_blk, ata_piix (behind sd), nvme and virtio_scsi and
    /// native runs; one or two workloads, 1–4 repetitions, some with tail latency only in a
    /// histogram; 3 kernels, 2 hypervisors, 3 collectors; start times with ties.
    static func records(_ count: Int, seed: UInt64) -> [(RunRecord, String)] {
        var g = SplitMix64(seed: seed)
        let drivers = ["virtio_blk", "ata_piix", "nvme", "virtio_scsi"]
        let kernels = ["6.1.0-55-amd64", "6.1.0-56-amd64", "6.12.9-amd64"]
        let hosts = ["hv-a", "hv-b", "hv-c"]
        return (0..<count).map { i in
            let native = Int.random(in: 0..<6, using: &g) == 0
            let driver = drivers.randomElement(using: &g)!
            let level = native ? 80_000.0 : driver == "ata_piix" ? 4_000 : 25_000
            func reps() -> [Double] { (0..<Int.random(in: 1...4, using: &g)).map { _ in level * Double.random(in: 0.8...1.2, using: &g) } }
            let lat: [UInt64] = (0..<Int.random(in: 5...60, using: &g)).map { _ in UInt64.random(in: 10_000...5_000_000, using: &g) }
            let withP99 = Bool.random(using: &g)
            var r = Synthetic.record(iops: reps(), p99Ns: nil, driver: driver == "virtio_scsi" ? "sd" : driver,
                                     kernel: kernels.randomElement(using: &g)!, role: native ? .native : .guest,
                                     latencyNs: Bool.random(using: &g) ? lat : nil)
            if driver == "virtio_scsi" { r.device.controllerDriver = "virtio_scsi" }
            // A disk whose driver the probe did not find: keyed by its name.
            if Int.random(in: 0..<10, using: &g) == 0 { r.device.driver = nil }
            if withP99 {
                for k in r.workloads[0].repetitions.indices { r.workloads[0].repetitions[k].metrics[Metric.latP99.key] = Double(lat[0]) }
            }
            if Bool.random(using: &g) {
                let second = Synthetic.record(iops: reps(), workload: "randwrite-4k-qd32", latencyNs: Bool.random(using: &g) ? lat : nil)
                r.workloads.append(second.workloads[0])
            }
            r.runId = UUID(uuid: withUnsafeBytes(of: (g.next(), g.next())) { b in
                b.load(as: uuid_t.self)
            })
            // Ties on purpose: 40 distinct start times.
            r.startTime = Date(timeIntervalSince1970: 1_800_000_000 + Double(Int.random(in: 0..<40, using: &g)) * 60)
            r.endTime = r.startTime.addingTimeInterval(10)
            r.environment.hypervisor = HypervisorInfo(vendor: Bool.random(using: &g) ? .kvm : .qemuTcg)
            // Runs made together (compare's groups) and boots, for some.
            if Int.random(in: 0..<3, using: &g) == 0 { r.tags[Comparator.groupTag] = "g\(i % 7)" }
            r.environment.bootId = Bool.random(using: &g) ? "boot-\(i % 5)" : nil
            // Concurrency sweeps (capacity), without drawing from the generator.
            if i % 5 == 1 {
                r.tags[CompareRun.labGuestsTag] = "\(1 + i % 4)"
                r.tags[CompareRun.labRoundTag] = "\(i % 3)"
                r.environment.onlineCpus = 1 + i % 8
            }
            return (r, hosts[i % hosts.count])
        }
    }

    /// What the reader sees in memory: the records newest first (start time, then run id, as
    /// the store orders them) with their collector as the `collector.host` label.
    static func inMemory(_ stored: [(RunRecord, String)]) -> [RunRecord] {
        stored.map { r, host in
            var r = r
            r.tags[Comparator.collectorHostTag] = host
            return r
        }.sorted { ($1.startTime, $0.runId.uuidString.lowercased()) < ($0.startTime, $1.runId.uuidString.lowercased()) }
    }

    static func metrics(_ family: String) -> [String] { ReportBuilder.metrics(family: family).map(\.key) }

    static func json(_ r: Report) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(r), as: UTF8.self)
    }

    /// The key columns of the summary rows (as inserted; and as migration 4's UPDATE computes them).
    static let keyColumns = "run_id, workload_index, metric, family, role, start_time, collector_host, kernel, hypervisor, device, driver, controller_driver, class"

    /// `keysRecomputed` runs migration 4's UPDATE on the stored rows inside a transaction it
    /// rolls back, and returns how many summary rows there are and how many it changed: the
    /// keys each insert writes (computed in Swift) must be what the SQL derives from the runs.
    static func check(_ store: any RunStore, _ stored: [(RunRecord, String)], keysRecomputed: () throws -> (rows: Int, changed: Int)) throws {
        _ = try store.store(batch: stored.map { r, host in
            (r, Receipt(peer: "local", receivedAt: Date(), collectorHost: host, collectorKernel: "6.18"))
        })
        let keys = try keysRecomputed()
        #expect(keys.rows > 300 && keys.changed == 0, "\(keys.changed) of \(keys.rows) summary rows have other keys than the runs give")
        let all = inMemory(stored)
        let queries: [(RunQuery, (RunRecord) -> Bool)] = [
            (RunQuery(), { _ in true }),
            (RunQuery(driver: "ata_piix"), { $0.device.controllerDriver == "ata_piix" || $0.device.driver == "ata_piix" }),
            (RunQuery(kernel: "6.1.0-56-amd64"), { $0.environment.kernelRelease == "6.1.0-56-amd64" }),
        ]
        // What compare reads, from SQL, is each record reduced to it (moments, bit for bit; the
        // repetitions' values only where asked for); and so is its verdict.
        let judged = ["iops", "bwBytesPerSec", "latP99Ns"]
        for (query, keep) in queries {
            let fromSQL = try store.compareRuns(query, metrics: judged)
            let fromRecords = all.filter(keep).map { CompareRun($0, metrics: judged) }
            #expect(fromSQL.count == fromRecords.count && fromSQL.count > 20, "\(query)")
            for (a, b) in zip(fromSQL, fromRecords) where a != b.momentsOnly { Issue.record("\(query): \(a) != \(b)"); break }
            let values = try store.repetitions(fromSQL.map(\.runId), metrics: judged)
            for (a, b) in zip(fromSQL, fromRecords) {
                var filled = a
                filled.setRepetitions(values[a.runId] ?? [:])
                if filled != b { Issue.record("\(query): repetitions of \(a.runId): \(filled) != \(b)"); break }
            }
        }
        let (kernelA, kernelB) = (RunQuery(kernel: "6.1.0-55-amd64"), RunQuery(kernel: "6.12.9-amd64"))
        var neededForRuns = Set<UUID>()
        for unit in [SampleUnit.runs, .repetitions] {
            var (b, c) = (try store.compareRuns(kernelA, metrics: judged), try store.compareRuns(kernelB, metrics: judged))
            let need = Comparator.repetitionsNeeded(baseline: b, candidate: c, alpha: Thresholds().alpha, unit: unit)
            // Runs as the unit: the values of items near the line only; repetitions: of every
            // item that has both sides, so more runs (and the verdicts below show none missing).
            #expect(!need.isEmpty && need.count <= b.count + c.count, "\(unit): \(need.count) of \(b.count + c.count) runs")
            if unit == .repetitions { #expect(need.isStrictSuperset(of: neededForRuns), "\(need.count) against \(neededForRuns.count)") }
            else { neededForRuns = need }
            let values = try store.repetitions(Array(need), metrics: judged)
            for i in b.indices { b[i].setRepetitions(values[b[i].runId] ?? [:]) }
            for i in c.indices { c[i].setRepetitions(values[c[i].runId] ?? [:]) }
            let sqlVerdict = Comparator.compare(baseline: b, candidate: c, unit: unit)
            let recordVerdict = Comparator.compare(baseline: all.filter { $0.environment.kernelRelease == "6.1.0-55-amd64" },
                                                   candidate: all.filter { $0.environment.kernelRelease == "6.12.9-amd64" }, unit: unit)
            #expect(sqlVerdict == recordVerdict && sqlVerdict.items.count > 5, "\(unit)")
            if unit == .runs {
                #expect(sqlVerdict.items.contains { $0.sampleUnit == .repetitions }, "no item had repetitions stand in: the test misses that path")
            }
        }
        // Capacity plans from the summary rows equal those from the records (sweeps, p99).
        let needs = ["blk.randread.iops=2000", "blk.randwrite.iops=30000"].compactMap { try? CapacityNeed.parse($0).get() }
        for (query, keep) in queries {
            let runs = try store.compareRuns(query, metrics: CapacityPlanner.metrics(needs))
            let fromSQL = CapacityPlanner.plan(runs, needs: needs, hostCores: runs.first { $0.role == .native }?.onlineCpus ?? 4, p99MaxNs: 3e6)
            let records = all.filter(keep)
            let fromRecords = CapacityPlanner.plan(records, needs: needs, hostCores: records.first { $0.role == .native }?.environment.onlineCpus ?? 4,
                                                   p99MaxNs: 3e6)
            #expect(fromSQL == fromRecords, "\(query)")
            #expect(fromSQL.answers.count >= 2 && fromSQL.answers.contains { !$0.sweep.isEmpty }, "\(query): \(fromSQL.answers.count) answers")
        }
        var compared = 0
        for (query, keep) in queries {
            let records = all.filter(keep)
            for partition in [nil] + RunPartition.allCases {
                let sql = try store.reportFacts(query, metrics: ["iops", "bwBytesPerSec", "latP99Ns"], partition: partition, latency: true)
                    .inputs(by: partition)
                let memory = ReportFacts(records: records, metrics: metrics, partition: partition.map { p in { p.value($0) } })
                    .inputs(by: partition)
                #expect(sql.map(\.value) == memory.map(\.value), "\(query) by \(partition?.rawValue ?? "-")")
                for ((_, a), (_, b)) in zip(sql, memory) {
                    let (ra, rb) = (ReportBuilder.build(a, selection: "s"), ReportBuilder.build(b, selection: "s"))
                    let diff = try ApproximateJSON.difference(try json(ra), try json(rb))
                    #expect(diff == nil, "\(query) by \(partition?.rawValue ?? "-"): \(diff ?? "")")
                    #expect(ra.rows.count > 0 && ra.runs > 0)
                    compared += ra.rows.count
                }
            }
        }
        // A limit selects the newest runs in SQL, as the in-memory prefix does.
        let limited = try store.reportFacts(RunQuery(limit: 25), metrics: ["iops", "bwBytesPerSec", "latP99Ns"], partition: nil, latency: true)
        let a = ReportBuilder.build(limited.inputs(by: nil)[0].input, selection: "s")
        let b = ReportBuilder.build(ReportFacts(records: Array(all.prefix(25)), metrics: metrics).inputs(by: nil)[0].input, selection: "s")
        let diff = try ApproximateJSON.difference(try json(a), try json(b))
        #expect(diff == nil, "limit 25: \(diff ?? "")")
        #expect(a.runs == 25)
        // The old path, the records' own report, agrees too (the CLI's --from).
        let whole = ReportBuilder.build(all, selection: "s")
        let fromSQL = ReportBuilder.build(try store.reportFacts(RunQuery(), metrics: ["iops", "bwBytesPerSec", "latP99Ns"], partition: nil,
                                                                latency: true).inputs(by: nil)[0].input, selection: "s")
        #expect(try ApproximateJSON.difference(try json(whole), try json(fromSQL)) == nil)
        #expect(compared > 100, "the stores gave \(compared) rows to compare")
    }

    @Test(arguments: [1 as UInt64, 2])
    func sqliteAnswersEqualTheInMemoryReport(seed: UInt64) throws {
        let dir = try ScratchFolder()
        let store = try SQLiteRunStore(path: dir.path + "/s.sqlite")
        defer { store.close() }
        try Self.check(store, Self.records(160, seed: seed)) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["timeout", "30", "python3", "-c", """
                import sqlite3, sys
                c = sqlite3.connect(sys.argv[1]); q = "SELECT " + sys.argv[2] + " FROM summaries"
                before = set(c.execute(q).fetchall()); c.execute(sys.argv[3]); after = set(c.execute(q).fetchall()); c.rollback()
                print(len(before), len(before - after))
                """, dir.path + "/s.sqlite", Self.keyColumns, StoreSQL(.sqlite).summaryKeysUpdate]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            let n = out.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
            try #require(p.terminationStatus == 0 && n.count == 2, "python3 sqlite3: \(out)")
            return (n[0], n[1])
        }
    }

    @Test(.enabled(if: PostgresTestServer.testsRun, "no PostgreSQL server can start here"), arguments: [3 as UInt64])
    func postgresAnswersEqualTheInMemoryReport(seed: UInt64) throws {
        let server = try PostgresTestServer.shared.get()
        let url = try server.makeDatabase()
        defer { server.dropDatabase(url) }
        let store = try PostgresRunStore(url: try PostgresURL(url), password: server.password)
        defer { store.close() }
        let database = String(url.split(separator: "/").last ?? "")
        try Self.check(store, Self.records(160, seed: seed)) {
            let out = try server.psql("""
                BEGIN; CREATE TEMP TABLE before AS SELECT \(Self.keyColumns) FROM summaries;
                \(StoreSQL(.postgres).summaryKeysUpdate);
                SELECT (SELECT count(*) FROM before) || ' ' || (SELECT count(*) FROM (SELECT * FROM before EXCEPT SELECT \(Self.keyColumns) FROM summaries) x);
                ROLLBACK;
                """, database: database)
            let n = out.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
            try #require(n.count == 2, "psql: \(out)")
            return (n[0], n[1])
        }
    }
}
