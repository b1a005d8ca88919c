import Foundation
import Testing
import VBenchCore
import VBenchStore
import VBenchStoreAPI
import VBenchTestSupport

/// The fleet from the command line: a host's SQLite store moved into PostgreSQL, then read
/// back selected and grouped by the host that received each run.
@Suite struct FleetCLITests {
    @Test func aPasswordInTheURLIsRefusedAndNotEchoed() throws {
        let r = try Binary.run(["runs", "list", "--store", "postgres://vbench:s3cret@127.0.0.1:5432/vbench"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("PGPASSWORD") && r.stderr.contains("passfile") && !r.stderr.contains("s3cret"), "\(r.stderr)")
        let scheme = try Binary.run(["runs", "list", "--store", "mysql://vbench@db/vbench"])
        #expect(scheme.status == 64 && scheme.stderr.contains("unknown scheme"))
    }

    @Test(.enabled(if: PostgresTestServer.testsRun, "no PostgreSQL server can start here"))
    func migrateMovesAHostStoreWithoutLossOrDuplicatesAndReadersGroupByHost() throws {
        let server = try PostgresTestServer.shared.get()
        let url = try server.makeDatabase()
        defer { server.dropDatabase(url) }
        let env = ["PGPASSWORD": server.password]
        let dir = try ScratchFolder()
        let sqlite = dir.path + "/host.sqlite"
        do {
            let store = try SQLiteRunStore(path: sqlite)
            defer { store.close() }
            // Two hosts, two kernels; after the upgrade hv-b's guests lost 20 % and hv-a's did not.
            for host in ["hv-a", "hv-b"] {
                let receipt = Receipt(peer: "vsock:cid=3", receivedAt: Date(timeIntervalSince1970: 1_800_000_500), collectorHost: host,
                                      collectorKernel: "6.18")
                for k in 0..<5 {
                    let wobble = 1 + 0.01 * Double(k)
                    _ = try store.store(Synthetic.record(iops: Synthetic.around(25_000 * wobble, 3), kernel: "6.1.0-55-amd64"), receipt: receipt)
                    let after = host == "hv-b" ? 20_000.0 : 25_000.0
                    _ = try store.store(Synthetic.record(iops: Synthetic.around(after * wobble, 3), kernel: "6.1.0-56-amd64"), receipt: receipt)
                }
            }
        }
        let first = try Binary.run(["runs", "migrate", "--from", sqlite, "--to", url, "--batch", "7"], environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("migrated 20 runs") && first.stdout.contains("20 stored, 0 already there"), "\(first.stdout)")
        #expect(first.stdout.contains("verified: all 20 source runs are in the destination"))
        let again = try Binary.run(["runs", "migrate", "--from", sqlite, "--to", url], environment: env)
        #expect(again.status == 0 && again.stdout.contains("0 stored, 20 already there"), "\(again.stdout)\(again.stderr)")
        #expect(try server.psql("SELECT count(*) FROM runs", database: String(url.split(separator: "/").last!)) == "20")

        let list = try Binary.run(["runs", "list", "--store", url, "--host", "hv-b"], environment: env)
        #expect(list.status == 0 && list.stdout.split(separator: "\n").count == 11, "\(list.stdout)\(list.stderr)")
        #expect(list.stdout.contains("hv-b") && !list.stdout.contains("hv-a"))

        let report = try Binary.run(["report", "--store", url, "--group-by", "host"], environment: env)
        #expect(report.status == 0 && report.stdout.contains("== host: hv-a ==") && report.stdout.contains("== host: hv-b =="),
                "\(report.stdout)\(report.stderr)")

        let json = try Binary.run(["report", "--store", url, "--group-by", "host", "--format", "json"], environment: env)
        let groups = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(groups?.compactMap { ($0["group"] as? [String: String])?["value"] } == ["hv-a", "hv-b"], "\(json.stdout.prefix(300))")
        #expect(groups?.allSatisfy { $0["report"] is [String: Any] } == true)

        let compare = try Binary.run(["compare", "kernel=6.1.0-55-amd64", "kernel=6.1.0-56-amd64", "--store", url, "--group-by", "host"],
                                     environment: env)
        #expect(compare.status == 2, "\(compare.stdout)\(compare.stderr)")
        let sections = compare.stdout.components(separatedBy: "== host: ")
        #expect(sections.count == 3)
        #expect(sections.first { $0.hasPrefix("hv-a") }?.contains("REGRESSION") == false)
        #expect(sections.first { $0.hasPrefix("hv-b") }?.contains("REGRESSION") == true)
        let onlyA = try Binary.run(["compare", "kernel=6.1.0-55-amd64,host=hv-a", "kernel=6.1.0-56-amd64,host=hv-a", "--store", url],
                                   environment: env)
        #expect(onlyA.status == 0, "\(onlyA.stdout)\(onlyA.stderr)")

        let wrong = try Binary.run(["runs", "list", "--store", url], environment: ["PGPASSWORD": "wrong"])
        #expect(wrong.status != 0 && wrong.stderr.contains("password authentication failed"), "\(wrong.stderr)")
    }
}
