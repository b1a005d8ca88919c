import Foundation
import Testing
import VBenchCore
import VBenchTestSupport
@testable import VBenchReport

@Suite struct ReportTests {
    /// A lab-like selection: native, virtio-blk in two boots, IDE in one (noisy), and a workload
    /// without a native run.
    static func records() -> [RunRecord] {
        let lat: [UInt64] = (1...200).map { UInt64($0) * 10_000 }
        return [
            Synthetic.record(iops: Synthetic.around(80_000, 3), role: .native, latencyNs: lat.map { $0 / 4 }),
            Synthetic.record(iops: Synthetic.around(24_000, 3), tags: ["lab.boot": "0"], latencyNs: lat),
            Synthetic.record(iops: Synthetic.around(26_000, 3), tags: ["lab.boot": "1"], latencyNs: lat),
            Synthetic.record(iops: Synthetic.around(4_000, 3, spread: 0.3), driver: "ata_piix", latencyNs: lat.map { $0 * 6 }),
            Synthetic.record(iops: Synthetic.around(3_000, 3), workload: "randread-4k-qd1"),
            Synthetic.record(iops: Synthetic.around(2_500, 3), driver: "ata_piix", workload: "randread-4k-qd1"),
        ]
    }

    @Test func ratiosToNativeAndToVirtioWithIntervals() throws {
        let r = ReportBuilder.build(Self.records(), selection: "test", advice: ["sda uses ata_piix: attach it as virtio-blk"])
        let virtio = try #require(r.rows.first { $0.device == "virtio_blk" && $0.metric == "iops" && $0.workload == "randread-4k-qd32" })
        #expect(virtio.sampleUnit == "records" && virtio.n == 2)
        #expect(abs(virtio.mean - 25_000) < 100 && abs(virtio.toNative!.ratio - 25_000.0 / 80_000) < 0.003)
        #expect(virtio.toNative!.low < virtio.toNative!.ratio && virtio.toNative!.high > virtio.toNative!.ratio)
        let ide = try #require(r.rows.first { $0.device == "ata_piix" && $0.metric == "iops" && $0.workload == "randread-4k-qd32" })
        #expect(ide.sampleUnit == "repetitions" && ide.noisy && ide.deviceClass == .emulated)
        #expect(abs(ide.toParavirtual!.ratio - 4_000.0 / 25_000) < 0.01 && ide.paravirtualDevice == "virtio_blk")
        let native = try #require(r.rows.first { $0.role == .native && $0.metric == "iops" })
        #expect(native.device == "virtio_blk (native)" && native.toNative == nil)
        // Headlines: shares of native where there is one, of virtio_blk where not.
        #expect(r.headlines.contains("randread-4k-qd32 IOPS: virtio_blk 31 %, ata_piix 5 % of native"), "\(r.headlines)")
        #expect(r.headlines.contains("randread-4k-qd1 IOPS: virtio_blk 100 %, ata_piix 83 % of virtio_blk"), "\(r.headlines)")
        #expect(r.warnings.contains { $0.hasPrefix("ata_piix randread-4k-qd32 iops: CoV") })
        #expect(r.warnings.contains { $0.hasPrefix("no native baseline for blk randread-4k-qd1") })
        #expect(r.curves.count == 3, "native, virtio_blk and ata_piix of randread-4k-qd32 have histograms")
        #expect(r.runs == 6)
    }

    @Test func textMarkdownCSVAndJSON() throws {
        let r = ReportBuilder.build(Self.records(), selection: "lab.run=test", advice: ["sda uses ata_piix: attach it as virtio-blk"])
        try Golden.check(ReportRender.text(r), "report.txt")
        try Golden.check(ReportRender.markdown(r), "report.md")
        try Golden.check(ReportRender.csv(r), "report.csv")
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Golden.check(String(decoding: try pretty.encode(r), as: UTF8.self) + "\n", "report.json")
        let data = try JSONEncoder().encode(r)
        #expect(try JSONDecoder().decode(Report.self, from: data) == r)
        #expect((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["schemaVersion"] as? Int == 1)
    }

    @Test func htmlIsSelfContainedWithChartsPerWorkload() throws {
        let r = ReportBuilder.build(Self.records(), selection: "a<b & \"c\"", advice: [])
        let html = HTMLRender.page(r)
        try Golden.check(html, "report.html")
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "nothing run, nothing fetched")
        #expect(html.contains("a&lt;b &amp; &quot;c&quot;"))
        // randread-4k-qd32: bars for native, virtio_blk, ata_piix with whiskers; randread-4k-qd1: bars against virtio.
        #expect(html.components(separatedBy: "data-kind=\"ratio-bars\"").count - 1 == 2)
        #expect(html.components(separatedBy: "data-kind=\"latency-curves\"").count - 1 == 1)
        #expect(html.components(separatedBy: "<rect class=\"bar\"").count - 1 == 5)
        #expect(html.components(separatedBy: "<polyline class=\"curve\"").count - 1 == 3)
        #expect(html.contains("class=\"whisker\""))
    }
}
