import Testing
@testable import VBenchCore

@Suite struct StatisticsTests {
    @Test func welfordMatchesTextbookData() throws {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample variance 32/7.
        let s = RunningStatistics([2, 4, 4, 4, 5, 5, 7, 9])
        #expect(s.mean == 5)
        #expect(abs((s.variance ?? 0) - 32.0 / 7.0) < 1e-12)
        #expect(s.min == 2 && s.max == 9)
    }

    @Test func mergedStatisticsEqualOnePass() {
        var rng = SeededGenerator(seed: 3)
        let xs = (0..<1000).map { _ in Double.random(in: -1e6...1e6, using: &rng) }
        var a = RunningStatistics(xs[..<300])
        a.merge(RunningStatistics(xs[300...]))
        let whole = RunningStatistics(xs)
        #expect(a.count == whole.count)
        #expect(abs(a.mean - whole.mean) < 1e-6)
        #expect(abs((a.variance ?? 0) - (whole.variance ?? 0)) / (whole.variance ?? 1) < 1e-9)
    }

    @Test(arguments: [
        (1.0, 12.7062047364), (2.0, 4.30265272975), (4.0, 2.77644510520), (9.0, 2.26215716280),
        (29.0, 2.04522964213), (120.0, 1.97993040505),
    ])
    func studentTQuantilesMatchTables(df: Double, expected: Double) {
        #expect(abs(StudentT.quantile(0.975, degreesOfFreedom: df) - expected) < 1e-6)
    }

    @Test func studentTIsSymmetric() {
        #expect(abs(StudentT.cdf(0, degreesOfFreedom: 5) - 0.5) < 1e-12)
        #expect(abs(StudentT.quantile(0.025, degreesOfFreedom: 7) + StudentT.quantile(0.975, degreesOfFreedom: 7)) < 1e-9)
    }

    @Test func summaryOfKnownData() throws {
        // Five repetitions of IOPS.
        let s = try #require(MetricSummary([100, 102, 98, 101, 99]))
        #expect(s.n == 5)
        #expect(s.median == 100)
        #expect(s.mean == 100)
        #expect(abs(s.stddev - 1.5811388300841898) < 1e-12)
        #expect(abs(s.cov - 0.015811388300841898) < 1e-12)
        // mean ± t(0.975, 4) · s / √5 = 100 ± 2.7764451 · 0.7071068
        #expect(abs((s.ci95Low ?? 0) - 98.03676) < 1e-4)
        #expect(abs((s.ci95High ?? 0) - 101.96324) < 1e-4)
        #expect(s.min == 98 && s.max == 102)
    }

    @Test func summaryOfOneSampleHasNoInterval() throws {
        let s = try #require(MetricSummary([42]))
        #expect(s.ci95Low == nil && s.ci95High == nil && s.stddev == 0 && s.cov == 0)
        #expect(MetricSummary([]) == nil)
        #expect(MetricSummary([1, .nan]) == nil)
    }

    @Test func confidenceIntervalCoversTheMeanAtItsNominalRate() {
        // 2000 samples of n = 5 from a known normal-ish distribution: about 95 % must cover.
        var rng = SeededGenerator(seed: 11)
        var covered = 0
        let trials = 2000
        for _ in 0..<trials {
            let xs = (0..<5).map { _ in normal(&rng) * 10 + 50 }
            guard let s = MetricSummary(xs), let lo = s.ci95Low, let hi = s.ci95High else { continue }
            if lo <= 50 && 50 <= hi { covered += 1 }
        }
        let rate = Double(covered) / Double(trials)
        #expect(rate > 0.93 && rate < 0.97, "coverage \(rate)")
    }
}

/// A standard normal sample by summing twelve uniforms (Irwin–Hall), good enough here.
func normal(_ rng: inout SeededGenerator) -> Double {
    var s = 0.0
    for _ in 0..<12 { s += Double.random(in: 0..<1, using: &rng) }
    return s - 6
}
