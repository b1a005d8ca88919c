import Foundation
import Testing
import VBenchCore
import VBenchStore
import VBenchStoreAPI
import VBenchTestSupport

/// `vbench compare` end to end: record files and a real store, exit codes CI relies on.
@Suite struct CompareCLITests {
    static func write(_ records: [RunRecord], to path: String) throws {
        let parts = try records.map { String(decoding: try $0.jsonData(pretty: false), as: UTF8.self) }
        try Data(("[\n" + parts.joined(separator: ",\n") + "\n]\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test func exitCodesFollowTheVerdict() throws {
        let dir = try ScratchFolder()
        let base = dir.path + "/base.json", same = dir.path + "/same.json", worse = dir.path + "/worse.json"
        // Six runs a side (runs are the samples), three repetitions each.
        func runs(_ mean: Double, reversed: Bool = false) -> [RunRecord] {
            let means = Synthetic.around(mean, 6)
            return (reversed ? means.reversed() : means).map { Synthetic.record(iops: [$0 * 1.002, $0, $0 * 0.998]) }
        }
        try Self.write(runs(25_000), to: base)
        try Self.write(runs(25_000, reversed: true), to: same)
        try Self.write(runs(20_000), to: worse)

        let regression = try Binary.run(["compare", base, worse])
        #expect(regression.status == 2, "\(regression.stderr)")
        #expect(regression.stdout.contains("REGRESSION") && regression.stdout.contains("-20.0%"))
        let aa = try Binary.run(["compare", base, same])
        #expect(aa.status == 0 && aa.stdout.contains("verdict: no regression"), "\(aa.stdout)\(aa.stderr)")
        // A threshold above the drop passes it; the relaxed preset does not (10 % < 20 %).
        #expect(try Binary.run(["compare", base, worse, "--min-change", "25"]).status == 0)
        #expect(try Binary.run(["compare", base, worse, "--thresholds", "relaxed"]).status == 2)
        // Markdown for CI logs, also written to a file; JSON for machines.
        let md = dir.path + "/compare.md"
        let m = try Binary.run(["compare", base, worse, "--format", "markdown", "--output", md])
        #expect(m.status == 2 && m.stdout.hasPrefix("## vbench compare: REGRESSION"))
        #expect(try String(contentsOfFile: md, encoding: .utf8) == m.stdout)
        let j = try Binary.run(["compare", base, worse, "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any]
        #expect(object?["schemaVersion"] as? Int == 2 && (object?["items"] as? [Any])?.count == 2)
        // The detectable change is stated with every verdict.
        #expect(aa.stdout.contains("DETECTABLE") && aa.stdout.contains("detectable: true changes of"), "\(aa.stdout)")
    }

    @Test func selectionsOverTheStoreAndAMissingBaseline() throws {
        let dir = try ScratchFolder()
        let storePath = dir.path + "/vbench.sqlite"
        let store = try SQLiteRunStore(path: storePath)
        let receipt = Receipt(peer: "local", receivedAt: Date(), collectorHost: "h", collectorKernel: "k")
        for k in 0..<5 {
            _ = try store.store(Synthetic.record(iops: Synthetic.around(25_000 * (1 + 0.01 * Double(k)), 3), kernel: "6.1.0-55-amd64", tags: ["suite": "cmp"]), receipt: receipt)
            _ = try store.store(Synthetic.record(iops: Synthetic.around(21_000 * (1 + 0.01 * Double(k)), 3), kernel: "6.1.0-56-amd64", tags: ["suite": "cmp"]), receipt: receipt)
        }
        // Five runs a side: each run's mean is a sample (the exact test's p is 2/252).
        let r = try Binary.run(["compare", "kernel=6.1.0-55-amd64", "kernel=6.1.0-56-amd64", "--tag", "suite=cmp", "--store", storePath])
        #expect(r.status == 2 && r.stdout.contains("5/5 runs") && r.stdout.contains("0.0079"), "\(r.stdout)\(r.stderr)")
        let missing = try Binary.run(["compare", "kernel=6.1.0-54-amd64", "kernel=6.1.0-56-amd64", "--store", storePath])
        #expect(missing.status == 5 && missing.stderr.contains("the baseline 'kernel=6.1.0-54-amd64' selects no runs"), "\(missing.stderr)")
        let noCandidate = try Binary.run(["compare", "kernel=6.1.0-55-amd64", "kernel=9.9", "--store", storePath])
        #expect(noCandidate.status == 1 && noCandidate.stderr.contains("selects no runs"))
    }

    @Test func badInputIsAUsageError() throws {
        let dir = try ScratchFolder()
        try dir.write("/t.json", #"{"alpha": 2}"#)
        for (args, message) in [
            (["compare", "kernel=a", "kernel=b", "--thresholds", "severe"], "not strict, default or relaxed"),
            (["compare", "kernel=a", "kernel=b", "--thresholds", dir.path + "/t.json"], "alpha must be in (0, 1)"),
            (["compare", "kernel", "kernel=b"], "is not key=value"),
            (["compare", "role=host", "kernel=b"], "role must be guest or native"),
            (["compare", "a.json", "kernel=b"], "no such records file"),
            (["compare", "kernel=a", "kernel=b", "--format", "pdf"], "--format must be text, markdown or json"),
        ] {
            let r = try Binary.run(args + ["--store", dir.path + "/none.sqlite"])
            #expect(r.status == 64 && r.stderr.contains(message), "\(args): \(r.status) \(r.stderr)")
        }
    }
}
