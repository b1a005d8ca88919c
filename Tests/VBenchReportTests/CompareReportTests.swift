import Foundation
import Testing
import VBenchCore
import VBenchTestSupport
@testable import VBenchReport

/// The golden files of this test target.
let Golden = GoldenFiles(beside: #filePath)

extension GoldenFiles {
    /// Compares with the golden file; `VBENCH_UPDATE_GOLDEN=1` rewrites it.
    func check(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(text == (try golden(name, updatingWith: text)), "differs from Golden/\(name); rerun with VBENCH_UPDATE_GOLDEN=1 if intended",
                sourceLocation: sourceLocation)
    }
}

@Suite struct CompareReportTests {
    /// A kernel upgrade as compare sees it: virtio-blk lost 20 % IOPS, IDE unchanged, one
    /// workload only in the candidate, and a too-small side.
    static func comparison() -> Comparison {
        /// `n` runs whose means follow Synthetic.around, three repetitions each.
        func runs(_ iops: Double, _ n: Int = 6, p99: Double? = nil, driver: String = "virtio_blk", workload: String = "randread-4k-qd32") -> [RunRecord] {
            zip(Synthetic.around(iops, n), p99.map { Synthetic.around($0, n) } ?? Array(repeating: 0, count: n)).map { m, p in
                Synthetic.record(iops: [m * 1.002, m, m * 0.998], p99Ns: p99 == nil ? nil : [p, p, p], driver: driver, workload: workload)
            }
        }
        let base = runs(25_000, p99: 1_200_000) + runs(4_000, driver: "ata_piix") + runs(3_000, 3, workload: "randread-4k-qd1")
        let cand = runs(20_000, p99: 1_250_000).reversed() + runs(4_020, driver: "ata_piix").reversed()
            + runs(2_000, 3, workload: "randread-4k-qd1") + runs(2_500, workload: "seqread-1m-qd32")
        return Comparator.compare(baseline: base, candidate: cand)
    }

    @Test func textMarkdownAndCSVMatchTheirGoldenFiles() throws {
        let c = Self.comparison()
        let table = CompareReport.table(c, baseline: "kernel=6.1.0-55-amd64", candidate: "kernel=6.1.0-56-amd64")
        try Golden.check(TableRenderer.text(table) + "\n", "compare.txt")
        try Golden.check(CompareReport.markdown(c, baseline: "kernel=6.1.0-55-amd64", candidate: "kernel=6.1.0-56-amd64"), "compare.md")
        try Golden.check(TableRenderer.csv(table), "compare.csv")
        // Regressions sort first; the verdict line names the rule.
        #expect(table.rows.first?[10] == "REGRESSION" && CompareReport.verdict(c) == "REGRESSION")
        #expect(table.notes[0].contains("p < 0.010") && table.notes.contains { $0.contains("make at least 5 runs a side") })
        #expect(table.notes.contains { $0.hasPrefix("detectable: ") })
    }

    @Test func jsonCarriesTheSchemaVersionAndRoundTrips() throws {
        let c = Self.comparison()
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Golden.check(String(decoding: try pretty.encode(c), as: UTF8.self) + "\n", "compare.json")
        let data = try JSONEncoder().encode(c)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect(object?["schemaVersion"] as? Int == 2)
        #expect(try JSONDecoder().decode(Comparison.self, from: data) == c)
    }

    @Test func csvQuotesAndMarkdownEscapes() {
        var t = ReportTable(title: "t", header: ["NAME", "VALUE"], numeric: [1])
        t.append(["a,b \"c\"", "1.5k"], raw: [nil, 1500])
        t.append(["x|y", "0.25"], raw: [nil, 0.25])
        #expect(TableRenderer.csv(t) == "NAME,VALUE\r\n\"a,b \"\"c\"\"\",1500\r\nx|y,0.25\r\n")
        #expect(TableRenderer.markdown(t).contains("| x\\|y | 0.25 |") && TableRenderer.markdown(t).contains("|---|---:|"))
        #expect(TableRenderer.text(t) == "t\nNAME     VALUE\na,b \"c\"   1.5k\nx|y       0.25")
    }

    @Test func valuesAreFormattedByUnit() {
        #expect(ValueFormat.format(2.8e9, unit: "bit/s") == "2.80 Gbit/s")
        #expect(ValueFormat.format(312.6e6, unit: "B/s") == "312.6 MB/s")
        #expect(ValueFormat.format(1_640_000, unit: "ns") == "1.64 ms")
        #expect(ValueFormat.format(22_050, unit: "ops/s") == "22.1k ops/s")
        #expect(ValueFormat.percentChange(-0.2) == "-20.0%" && ValueFormat.pValue(0.00794) == "0.0079" && ValueFormat.pValue(0.00001) == "<0.0001")
    }
}
