import FoundationEssentials
import Testing
@testable import VBenchCore
import VBenchTestSupport

@Suite struct ComparisonTests {
    func item(_ c: Comparison, _ metric: String = "iops", device: String = "virtio_blk") -> MetricComparison? {
        c.items.first { $0.metric == metric && $0.device == device }
    }

    @Test func aDropBeyondTheThresholdIsARegression() throws {
        let c = Comparator.compare(baseline: [Synthetic.record(iops: Synthetic.around(25_000, 6))],
                                   candidate: [Synthetic.record(iops: Synthetic.around(20_000, 6))])
        let i = try #require(item(c))
        #expect(i.verdict == .regression && i.sampleUnit == "repetitions")
        #expect(abs(i.change! + 0.2) < 0.005 && i.test!.exact && i.test!.pValue < 0.01)
        #expect(i.changeLow! < -0.19 && i.changeHigh! > -0.21 && i.changeHigh! < -0.18)
        #expect(c.regressions.count == 2, "IOPS and bandwidth")  // bandwidth follows IOPS here
        #expect(!c.baselineMissing)
        // The same drop the other way is an improvement.
        let up = Comparator.compare(baseline: [Synthetic.record(iops: Synthetic.around(20_000, 6))],
                                    candidate: [Synthetic.record(iops: Synthetic.around(25_000, 6))])
        #expect(item(up)?.verdict == .improvement && up.regressions.isEmpty)
    }

    @Test func significantButSmallChangesAndNoiseAreNotRegressions() throws {
        // 3 % lower with 0.1 % noise: significant, but under the 5 % default threshold.
        let small = Comparator.compare(baseline: [Synthetic.record(iops: Synthetic.around(25_000, 6, spread: 0.001))],
                                       candidate: [Synthetic.record(iops: Synthetic.around(24_250, 6, spread: 0.001))])
        let s = try #require(item(small))
        #expect(s.verdict == .unchanged && s.test!.pValue < 0.01 && s.note?.contains("within the 5") == true)
        // With the strict preset (2 %) the same data is a regression.
        let strict = Comparator.compare(baseline: [Synthetic.record(iops: Synthetic.around(25_000, 6, spread: 0.001))],
                                        candidate: [Synthetic.record(iops: Synthetic.around(24_250, 6, spread: 0.001))],
                                        thresholds: Thresholds.preset("strict")!)
        #expect(item(strict)?.verdict == .regression)
        // 10 % lower but within 30 % noise: not significant.
        let noisy = Comparator.compare(baseline: [Synthetic.record(iops: Synthetic.around(25_000, 6, spread: 0.3))],
                                       candidate: [Synthetic.record(iops: Synthetic.around(22_500, 6, spread: 0.3).reversed())])
        #expect(item(noisy)?.verdict == .unchanged && item(noisy)!.test!.pValue > 0.01)
    }

    @Test func tooFewSamplesSaysSoInsteadOfGuessing() throws {
        let c = Comparator.compare(baseline: [Synthetic.record(iops: [25_000, 25_100, 24_900])],
                                   candidate: [Synthetic.record(iops: [10_000, 10_100, 9_900])])
        let i = try #require(item(c))
        #expect(i.verdict == .tooFewSamples && i.test!.smallestPossible == 0.1)
        #expect(i.note?.contains("at least 5 per side") == true, "\(i.note ?? "")")
        #expect(c.regressions.isEmpty && c.inconclusive.count == 2)
        #expect(Comparator.minimumPerSide(alpha: 0.01) == 5 && Comparator.minimumPerSide(alpha: 0.05) == 4)
    }

    @Test func recordsAreTheSamplesWhenBothSidesHaveSeveral() throws {
        // Five boots a side: each record's mean is one sample, so boot-to-boot drift counts.
        let base = (0..<5).map { b in Synthetic.record(iops: Synthetic.around(25_000 * (1 + 0.02 * Double(b % 3)), 3)) }
        let cand = (0..<5).map { b in Synthetic.record(iops: Synthetic.around(21_000 * (1 + 0.02 * Double(b % 3)), 3)) }
        let c = Comparator.compare(baseline: base, candidate: cand)
        let i = try #require(item(c))
        #expect(i.sampleUnit == "records" && i.baseline.count == 5 && i.candidate.count == 5)
        #expect(i.verdict == .regression && abs(i.test!.pValue - 2.0 / 252) < 1e-12)
    }

    @Test func latencyPolarityAndDevicesAreKeptApart() throws {
        let base = [Synthetic.record(iops: Synthetic.around(25_000, 6), p99Ns: Synthetic.around(1_000_000, 6)),
                    Synthetic.record(iops: Synthetic.around(4_000, 6), driver: "ata_piix")]
        let cand = [Synthetic.record(iops: Synthetic.around(25_000, 6), p99Ns: Synthetic.around(1_500_000, 6)),
                    Synthetic.record(iops: Synthetic.around(4_000, 6), driver: "ata_piix")]
        let c = Comparator.compare(baseline: base, candidate: cand)
        #expect(item(c, "latP99Ns")?.verdict == .regression, "higher p99 is worse")
        #expect(item(c)?.verdict == .unchanged && item(c, device: "ata_piix")?.verdict == .unchanged)
        #expect(c.items.filter { $0.device == "ata_piix" }.count == 2, "IDE has IOPS and bandwidth, no p99")
        // Only the asked metric.
        #expect(Comparator.compare(baseline: base, candidate: cand, metrics: ["iops"]).items.allSatisfy { $0.metric == "iops" })
    }

    @Test func oneSidedItemsAndAMissingBaseline() throws {
        let c = Comparator.compare(baseline: [Synthetic.record(iops: Synthetic.around(25_000, 6))],
                                   candidate: [Synthetic.record(iops: Synthetic.around(25_000, 6)),
                                               Synthetic.record(iops: Synthetic.around(5_000, 6), workload: "randread-4k-qd1")])
        let missing = c.items.filter { $0.verdict == .missing }
        #expect(missing.count == 2 && missing.allSatisfy { $0.workload == "randread-4k-qd1" && $0.note == "not in the baseline" })
        #expect(!c.baselineMissing)
        #expect(Comparator.compare(baseline: [], candidate: [Synthetic.record(iops: [1, 2, 3, 4, 5])]).baselineMissing)
        #expect(Comparator.compare(baseline: [Synthetic.record(iops: [1, 2], workload: "other")],
                                   candidate: [Synthetic.record(iops: [1, 2, 3])]).baselineMissing)
    }

    @Test func thresholdsReadPresetsFilesAndRefuseNonsense() throws {
        #expect(Thresholds.preset("default")!.threshold(for: "iops") == 0.05)
        #expect(Thresholds.preset("default")!.threshold(for: "latP99Ns") == 0.10)
        #expect(Thresholds.preset("relaxed")!.minChange == 0.10 && Thresholds.preset("lax") == nil)
        let t = try JSONDecoder().decode(Thresholds.self, from: Data(#"{"minChange":0.08,"metrics":{"iops":0.03}}"#.utf8))
        #expect(t.alpha == 0.01 && t.threshold(for: "iops") == 0.03 && t.threshold(for: "bwBytesPerSec") == 0.08)
        #expect(Thresholds(alpha: 1.5).problem()?.contains("alpha") == true)
        #expect(Thresholds(minChange: -0.1).problem()?.contains("minChange") == true)
        #expect(Thresholds(metrics: ["iops": .nan]).problem()?.contains("iops") == true)
        #expect(Thresholds().problem() == nil)
    }

    @Test func tailLatencyFromHistogramsWhenRepetitionsHaveNoP99Metric() throws {
        // Request/response records keep p99 only in each repetition's histogram.
        let lat = (1...100).map { UInt64($0) * 10_000 }
        let c = Comparator.compare(baseline: [Synthetic.record(iops: Synthetic.around(1_000, 6), latencyNs: lat)],
                                   candidate: [Synthetic.record(iops: Synthetic.around(1_000, 6), latencyNs: lat.map { $0 * 2 })])
        let p99 = try #require(item(c, "latP99Ns"))
        #expect(p99.baselineMean! > 900_000 && p99.baselineMean! < 1_100_000, "nanoseconds, not a bit pattern: \(p99.baselineMean!)")
        #expect(abs(p99.change! - 1) < 0.01 && p99.verdict == .regression)
    }
}
