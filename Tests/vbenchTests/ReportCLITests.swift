import Foundation
import Testing
import VBenchCore
import VBenchTestSupport

/// `vbench report` and `vbench capacity` end to end on a records file.
@Suite struct ReportCLITests {
    static func recordsFile(_ dir: ScratchFolder) throws -> String {
        let lat: [UInt64] = (1...100).map { UInt64($0) * 20_000 }
        let path = dir.path + "/records.json"
        try CompareCLITests.write([
            Synthetic.record(iops: Synthetic.around(80_000, 3), role: .native, latencyNs: lat.map { $0 / 4 }),
            Synthetic.record(iops: Synthetic.around(25_000, 3), latencyNs: lat),
            Synthetic.record(iops: Synthetic.around(4_000, 3), driver: "ata_piix", latencyNs: lat.map { $0 * 6 }),
        ], to: path)
        return path
    }

    @Test func everyFormatFromARecordsFile() throws {
        let dir = try ScratchFolder()
        let file = try Self.recordsFile(dir)
        let text = try Binary.run(["report", "--from", file])
        #expect(text.status == 0 && text.stdout.contains("randread-4k-qd32 IOPS: virtio_blk 31 %, ata_piix 5 % of native"), "\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("Advice:"), "the probe's advice for the emulated disk")
        let html = dir.path + "/report.html"
        let h = try Binary.run(["report", "--from", file, "--format", "html", "--output", html])
        #expect(h.status == 0 && h.stdout.isEmpty && h.stderr.contains("written to"))
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("data-kind=\"ratio-bars\"") && page.contains("data-kind=\"latency-curves\""))
        let json = try Binary.run(["report", "--from", file, "--format", "json"])
        #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["schemaVersion"] as? Int == 1)
        let csv = try Binary.run(["report", "--from", file, "--format", "csv"])
        #expect(csv.stdout.hasPrefix("FAMILY,WORKLOAD,DEVICE,CLASS,METRIC,VALUE"))
        // Filters apply to files too; nothing selected is an error, a bad format a usage error.
        let none = try Binary.run(["report", "--from", file, "--kernel", "9.9"])
        #expect(none.status == 1 && none.stderr.contains("no runs match"))
        #expect(try Binary.run(["report", "--from", file, "--format", "pdf"]).status == 64)
    }

    @Test func capacityAnswersWithItsBindingResource() throws {
        let dir = try ScratchFolder()
        let file = try Self.recordsFile(dir)
        let r = try Binary.run(["capacity", "--from", file, "--need", "blk.randread.iops=5000", "--host-cores", "2", "--p99-max", "5ms"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("blk.randread.iops=5000 on virtio_blk: 10 guests; cpu binds first"), "\(r.stdout)")
        #expect(r.stdout.contains("blk.randread.iops=5000 on ata_piix: 0 guests; guest binds first"))
        #expect(r.stdout.contains("Model and assumptions:"))
        let json = try Binary.run(["capacity", "--from", file, "--need", "blk.randread.iops=5000", "--host-cores", "2", "--format", "json"])
        #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["answers"] != nil)
        for (args, message) in [(["--need", "blk.randread.iops"], "expected family.workload.metric=VALUE"),
                                (["--need", "blk.randread.iops=1", "--p99-max", "fast"], "--p99-max must be a duration"),
                                ([], "--need is required")] {
            let bad = try Binary.run(["capacity", "--from", file] + args)
            #expect(bad.status == 64 && bad.stderr.contains(message), "\(args): \(bad.stderr)")
        }
        let nothing = try Binary.run(["capacity", "--from", file, "--need", "net.stream.bps=1e9"])
        #expect(nothing.status == 1 && nothing.stderr.contains("no net workload"))
    }
}
