import Foundation
import Testing
import VBenchCore
import VBenchPostgres
import VBenchStore
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
    static func reportObject(_ text: String) throws -> NSDictionary {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return NSDictionary(dictionary: object.filter { $0.key != "selection" })
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
        #expect(try reportObject(json.stdout) == reportObject(try golden("report-v1.json")))
        let list = try Binary.run(["runs", "list", "--store", location], environment: env)
        #expect(list.stdout == (try golden("runs-v1.txt")))
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
