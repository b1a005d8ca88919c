import FoundationEssentials
import Testing
@testable import VBenchCore
import VBenchTestSupport

@Suite struct ComparisonTests {
    func item(_ c: Comparison, _ metric: String = "iops", device: String = "virtio_blk") -> MetricComparison? {
        c.items.first { $0.metric == metric && $0.device == device }
    }

    /// Runs whose means follow `Synthetic.around(mean, n, spread:)`, each with three repetitions.
    func runs(_ mean: Double, _ n: Int = 6, spread: Double = 0.01, driver: String = "virtio_blk", p99: Double? = nil,
              workload: String = "randread-4k-qd32") -> [RunRecord] {
        Synthetic.around(mean, n, spread: spread).map { m in
            Synthetic.record(iops: [m * 1.001, m, m * 0.999], p99Ns: p99.map { [$0, $0, $0] }, driver: driver, workload: workload)
        }
    }

    /// The same driver behind two collectors is two devices: hv-a's unchanged disk is not
    /// averaged with hv-b's regressed one, and a side holding only the other host pairs with nothing.
    @Test func devicesAreKeyedByTheCollectorThatReceivedThem() throws {
        func on(_ host: String, _ records: [RunRecord]) -> [RunRecord] {
            records.map { var r = $0; r.tags[Comparator.collectorHostTag] = host; return r }
        }
        let c = Comparator.compare(baseline: on("hv-a", runs(25_000)) + on("hv-b", runs(25_000)),
                                   candidate: on("hv-a", runs(25_000)) + on("hv-b", runs(20_000)))
        #expect(item(c, device: "virtio_blk@hv-a")?.verdict == .unchanged)
        #expect(item(c, device: "virtio_blk@hv-b")?.verdict == .regression)
        #expect(item(c, device: "virtio_blk") == nil)
        let apart = Comparator.compare(baseline: on("hv-a", runs(25_000)), candidate: on("hv-b", runs(25_000)))
        #expect(apart.items.allSatisfy { $0.baseline.isEmpty || $0.candidate.isEmpty })
        // One collector: the device keeps its plain name.
        #expect(item(Comparator.compare(baseline: on("hv-a", runs(25_000)), candidate: on("hv-a", runs(20_000)))) != nil)
    }

    @Test func aDropBeyondTheThresholdIsARegression() throws {
        let c = Comparator.compare(baseline: runs(25_000), candidate: runs(20_000))
        let i = try #require(item(c))
        #expect(i.verdict == .regression && i.sampleUnit == .runs && i.baseline.count == 6)
        #expect(abs(i.change! + 0.2) < 0.005 && i.test!.exact && i.test!.pValue < 0.01)
        #expect(i.changeLow! < -0.19 && i.changeHigh! > -0.21 && i.changeHigh! < -0.18)
        #expect(i.detectableChange! > 0.05 && i.detectableChange! < 0.08, "\(i.detectableChange!)")
        #expect(c.regressions.count == 2, "IOPS and bandwidth")  // bandwidth follows IOPS here
        #expect(!c.baselineMissing)
        // The same drop the other way is an improvement.
        let up = Comparator.compare(baseline: runs(20_000), candidate: runs(25_000))
        #expect(item(up)?.verdict == .improvement && up.regressions.isEmpty)
    }

    @Test func significantButSmallChangesAndNoiseAreNotRegressions() throws {
        // 3 % lower with 0.1 % noise: significant, but under the 5 % default threshold.
        let small = Comparator.compare(baseline: runs(25_000, spread: 0.001), candidate: runs(24_250, spread: 0.001))
        let s = try #require(item(small))
        #expect(s.verdict == .unchanged && s.test!.pValue < 0.01 && s.note?.contains("within the 5") == true)
        // With the strict preset (2 %) the same data is a regression.
        let strict = Comparator.compare(baseline: runs(25_000, spread: 0.001), candidate: runs(24_250, spread: 0.001),
                                        thresholds: Thresholds.preset("strict")!)
        #expect(item(strict)?.verdict == .regression)
        // 10 % lower but within 30 % noise: not significant, and the detectable change says so.
        let noisy = Comparator.compare(baseline: runs(25_000, spread: 0.3), candidate: runs(22_500, spread: 0.3).reversed())
        #expect(item(noisy)?.verdict == .unchanged && item(noisy)!.test!.pValue > 0.01)
        #expect(item(noisy)!.detectableChange! > 0.3, "a 10 % change is far below what 6 noisy runs can see")
    }

    @Test func tooFewRunsSaysSoInsteadOfGuessing() throws {
        let c = Comparator.compare(baseline: runs(25_000, 3), candidate: runs(10_000, 3))
        let i = try #require(item(c))
        #expect(i.verdict == .tooFewRuns && i.test == nil && i.baselineRuns == 3)
        #expect(i.note?.contains("3 vs 3 runs") == true && i.note?.contains("2/C(6, 3) = 0.1000") == true, "\(i.note ?? "")")
        #expect(i.note?.contains("vbench run --runs") == true, "\(i.note ?? "")")
        #expect(c.regressions.isEmpty && c.inconclusive.count == 2)
        #expect(Comparator.minimumPerSide(alpha: 0.01) == 5 && Comparator.minimumPerSide(alpha: 0.05) == 4)
    }

    @Test func runsAreTheSamples() throws {
        // Five runs a side: each run's mean is one sample, so run-to-run spread counts.
        let base = (0..<5).map { b in Synthetic.record(iops: Synthetic.around(25_000 * (1 + 0.02 * Double(b % 3)), 3)) }
        let cand = (0..<5).map { b in Synthetic.record(iops: Synthetic.around(21_000 * (1 + 0.02 * Double(b % 3)), 3)) }
        let c = Comparator.compare(baseline: base, candidate: cand)
        let i = try #require(item(c))
        #expect(i.sampleUnit == .runs && i.baseline.count == 5 && i.candidate.count == 5)
        #expect(i.verdict == .regression && abs(i.test!.pValue - 2.0 / 252) < 1e-12)
    }

    @Test func latencyPolarityAndDevicesAreKeptApart() throws {
        let base = runs(25_000, p99: 1_000_000) + runs(4_000, driver: "ata_piix")
        let cand = runs(25_000, p99: 1_500_000).reversed() + runs(4_000, driver: "ata_piix").reversed()
        let c = Comparator.compare(baseline: base, candidate: cand)
        #expect(item(c, "latP99Ns")?.verdict == .regression, "higher p99 is worse")
        #expect(item(c)?.verdict == .unchanged && item(c, device: "ata_piix")?.verdict == .unchanged)
        #expect(c.items.filter { $0.device == "ata_piix" }.count == 2, "IDE has IOPS and bandwidth, no p99")
        // Only the asked metric.
        #expect(Comparator.compare(baseline: base, candidate: cand, metrics: ["iops"]).items.allSatisfy { $0.metric == "iops" })
    }

    @Test func oneSidedItemsAndAMissingBaseline() throws {
        let c = Comparator.compare(baseline: runs(25_000), candidate: runs(25_000) + runs(5_000, workload: "randread-4k-qd1"))
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
        let c = Comparator.compare(baseline: (0..<6).map { _ in Synthetic.record(iops: Synthetic.around(1_000, 3), latencyNs: lat) },
                                   candidate: (0..<6).map { _ in Synthetic.record(iops: Synthetic.around(1_000, 3), latencyNs: lat.map { $0 * 2 }) })
        let p99 = try #require(item(c, "latP99Ns"))
        #expect(p99.baselineMean! > 900_000 && p99.baselineMean! < 1_100_000, "nanoseconds, not a bit pattern: \(p99.baselineMean!)")
        #expect(abs(p99.change! - 1) < 0.01 && p99.verdict == .regression)
    }
}
