import Foundation
import Testing
import VBenchCore
import VBenchPostgres
import VBenchStore
import VBenchStoreAPI
import VBenchTestSupport

/// Migration 3 (record schema 2) on stores written by vbench before it: the committed fixtures
/// in Tests/Fixtures/store-v1 were made by that vbench (`import` of three lab records into
/// SQLite and into PostgreSQL, then `pg_dump --inserts`), with its report beside them.
@Suite struct MigrationCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/store-v1")

    static func golden(_ name: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
    }

    /// The report without its first line (which names the store).
    static func body(_ text: String) -> String { text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().joined(separator: "\n") }

    /// The JSON report without its `selection` (which names the store).
    static func reportObject(_ text: String) throws -> [String: Any] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return object.filter { $0.key != "selection" }
    }

    static func checkMigrated(_ store: any RunStore, env: [String: String] = [:], location: String) throws {
        #expect(try store.appliedMigrations() == StoreSchema.migrations)
        let runs = try store.runs(RunQuery())
        #expect(runs.count == 3)
        for run in runs {
            let record = try #require(try store.record(run.runId))
            #expect(record.workloads.allSatisfy { !$0.summary.isEmpty })
        }
        // The same answers the vbench that wrote the store gave.
        let text = try Binary.run(["report", "--store", location], environment: env)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(body(text.stdout) == body(try golden("report-v1.txt")))
        let json = try Binary.run(["report", "--store", location, "--format", "json"], environment: env)
        // Numbers up to rounding: the store computes moments in SQL, the old vbench from samples.
        let diff = ApproximateJSON.difference(try reportObject(json.stdout), try reportObject(try golden("report-v1.json")))
        #expect(diff == nil, "\(diff ?? "")")
        let list = try Binary.run(["runs", "list", "--store", location], environment: env)
        #expect(list.stdout == (try golden("runs-v1.txt")))
        // What compare reads (migration 5-compare): each run's moments, those of the logarithms
        // computed from the repetition rows, as the records give them.
        let judged = ["iops", "bwBytesPerSec", "latP99Ns", "throughputBitsPerSec", "transactionsPerSec", "connectionsPerSec"]
        var checked = 0
        for run in try store.compareRuns(RunQuery(), metrics: judged) {
            let expected = CompareRun(try #require(try store.record(run.runId)), metrics: judged).momentsOnly
            #expect(run.workloads.map(\.name) == expected.workloads.map(\.name))
            for (a, b) in zip(run.workloads, expected.workloads) {
                #expect(a.metrics.keys.sorted() == b.metrics.keys.sorted())
                for (key, m) in a.metrics {
                    guard let e = b.metrics[key] else { continue }
                    #expect(m.n == e.n && m.mean == e.mean && m.stddev == e.stddev, "\(a.name) \(key)")
                    #expect((m.logMean == nil) == (e.logMean == nil), "\(a.name) \(key)")
                    if let x = m.logMean, let y = e.logMean, let sx = m.logStddev, let sy = e.logStddev {
                        #expect(abs(x - y) <= 1e-12 * abs(y) && abs(sx - sy) <= 1e-9 * max(sy, 1e-12), "\(a.name) \(key): \(x) \(sx) vs \(y) \(sy)")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked > 10, "\(checked) metrics compared")
    }

    @Test func aVersion1SQLiteStoreIsMigratedInPlace() throws {
        let dir = try ScratchFolder()
        let path = dir.path + "/vbench.sqlite"
        try FileManager.default.copyItem(atPath: Self.fixtures.appendingPathComponent("vbench-v1.sqlite").path, toPath: path)
        let before = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        do {
            let store = try SQLiteRunStore(path: path)
            defer { store.close() }
            try Self.checkMigrated(store, location: path)
        }
        // Every stored record is version 2 now; the text histograms are gone.
        let sizes = try Binary.run(["runs", "list", "--store", path])
        #expect(sizes.status == 0)
        let store = try SQLiteRunStore(path: path)
        defer { store.close() }
        for page in try store.export(after: nil, limit: 10) {
            #expect(RunRecord.declaredSchemaVersion(page.receipt.receivedJSON ?? "") == 2)
        }
        print("v1 fixture store: \(before) bytes before migration 3")
    }

    @Test(.enabled(if: PostgresTestServer.testsRun, "no PostgreSQL server can start here"))
    func aVersion1PostgreSQLStoreIsMigratedInPlace() throws {
        let server = try PostgresTestServer.shared.get()
        let url = try server.makeDatabase()
        defer { server.dropDatabase(url) }
        let database = String(url.split(separator: "/").last!)
        try server.psqlFile(Self.fixtures.appendingPathComponent("postgres-v1.sql").path, database: database)
        #expect(try server.psql("SELECT count(*) FROM public.histograms", database: database) != "0")
        let store = try PostgresRunStore(url: try PostgresURL(url), password: server.password)
        defer { store.close() }
        try Self.checkMigrated(store, env: ["PGPASSWORD": server.password], location: url)
        #expect(try server.psql("SELECT count(*) FROM runs WHERE schema_version = 2", database: database) == "3")
        #expect(try server.psql("SELECT to_regclass('public.histograms') IS NULL", database: database) == "t")
    }
}

/// A latency blob that does not decode is named by run and workload, the command fails with
/// exit 1, and nothing in the store changes.
@Suite struct CorruptBlobTests {
    @Test func aCorruptHistogramBlobIsNamedAndNothingIsTouched() throws {
        let dir = try ScratchFolder()
        let file = try ReportCLITests.recordsFile(dir)
        let store = dir.path + "/vbench.sqlite"
        #expect(try Binary.run(["import", "--store", store, file]).status == 0)
        let victim = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [[String: Any]])[1]["runId"] as? String
        let id = try #require(victim).lowercased()
        // Cut the blob of one run's workload in half, outside vbench.
        let sql = "UPDATE workload_latency SET histogram = substr(histogram, 1, length(histogram) / 2) WHERE run_id = '\(id)'"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); n = c.execute(sys.argv[2]).rowcount; c.commit(); print(n)", store, sql]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        func dump() throws -> String {
            let q = Process()
            q.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            q.arguments = ["-c", "import sqlite3, sys; print(chr(10).join(sqlite3.connect(sys.argv[1]).iterdump()))", store]
            let pipe = Pipe()
            q.standardOutput = pipe
            try q.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            q.waitUntilExit()
            return text
        }
        let before = try dump()
        #expect(before.contains("INSERT INTO \"workload_latency\""))
        let html = try Binary.run(["report", "--store", store, "--format", "html", "--output", dir.path + "/r.html"])
        #expect(html.status == 1)
        #expect(html.stderr.contains("run \(id.uppercased())") || html.stderr.contains("run \(id)"), "\(html.stderr)")
        #expect(html.stderr.contains("randread-4k-qd32") && html.stderr.contains("latency histogram is corrupt"), "\(html.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/r.html"))
        // The text report needs no histogram and still answers; every row of the store is as it was.
        #expect(try Binary.run(["report", "--store", store]).status == 0)
        #expect(try Binary.run(["runs", "list", "--store", store]).stdout.contains(String(id.prefix(8))))
        #expect(try dump() == before)
    }
}

/// `vbench import` of what the lab writes: records.json arrays, and folders of them.
@Suite struct ImportArrayTests {
    @Test func arraysAndFoldersImportAndABadElementIsNamed() throws {
        let dir = try ScratchFolder()
        let folder = dir.path + "/lab/RUN"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let records = (0..<5).map { _ in Synthetic.record(iops: Synthetic.around(25_000, 3)) }
        try CompareCLITests.write(Array(records[0..<3]), to: folder + "/records.json")
        try records[3].jsonData().write(to: URL(fileURLWithPath: folder + "/one.json"))
        try Data(#"{"summary": "not a record"}"#.utf8).write(to: URL(fileURLWithPath: folder + "/summary.json"))
        let store = dir.path + "/vbench.sqlite"
        let r = try Binary.run(["import", "--store", store, "--host-label", "hv-07", dir.path + "/lab"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("summary.json holds no records; skipped") && r.stderr.contains("imported 4 run(s)"), "\(r.stderr)")
        let list = try Binary.run(["runs", "list", "--store", store, "--host", "hv-07"])
        #expect(list.stdout.split(separator: "\n").count == 5, "\(list.stdout)")
        // Again: every run is a duplicate, nothing changes.
        #expect(try Binary.run(["import", "--store", store, dir.path + "/lab"]).stderr.contains("imported 0 run(s), 4 already stored"))
        // An array whose third element is not a sound record: named by index, exit 1.
        var items = try #require(try JSONSerialization.jsonObject(with: try records[4].jsonData(pretty: false)) as? [String: Any])
        items["workloads"] = []
        let bad = dir.path + "/bad.json"
        let good = try String(decoding: records[4].jsonData(pretty: false), as: UTF8.self)
        let broken = String(decoding: try JSONSerialization.data(withJSONObject: items), as: UTF8.self)
        try Data("[\(good),\(good),\(broken)]".utf8).write(to: URL(fileURLWithPath: bad))
        let refused = try Binary.run(["import", "--store", store, bad])
        #expect(refused.status == 1 && refused.stderr.contains("element 2 of the array") && refused.stderr.contains("holds no workloads"), "\(refused.stderr)")
    }
}
