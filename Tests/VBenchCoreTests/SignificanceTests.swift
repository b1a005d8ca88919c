import Foundation
import Testing
@testable import VBenchCore

@Suite struct SignificanceTests {
    /// Every relabeling by bitmask: an independent count to check the combination walk against.
    static func bruteForce(_ a: [Double], _ b: [Double]) -> Double {
        let all = a + b, n = a.count, total = all.count
        let observed = abs(a.reduce(0, +) / Double(n) - b.reduce(0, +) / Double(b.count))
        var hits = 0, seen = 0
        for mask in 0..<(1 << total) where mask.nonzeroBitCount == n {
            var sa = 0.0, sb = 0.0
            for i in 0..<total { if mask & (1 << i) != 0 { sa += all[i] } else { sb += all[i] } }
            seen += 1
            if abs(sa / Double(n) - sb / Double(total - n)) >= observed - 1e-12 { hits += 1 }
        }
        return Double(hits) / Double(seen)
    }

    @Test func exactTestCountsEveryRelabeling() throws {
        // Fully separated groups: only the observed labeling and its mirror are as extreme.
        let three = try #require(Significance.permutationTest([1, 2, 3], [4, 5, 6]))
        #expect(three.exact && three.rounds == 20 && three.pValue == 0.1 && three.smallestPossible == 0.1)
        let five = try #require(Significance.permutationTest([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]))
        #expect(five.rounds == 252 && abs(five.pValue - 2.0 / 252) < 1e-15 && five.pValue < 0.01)
        // Overlapping samples (Student's sleep data, drugs 1 and 2), unequal sizes, ties: against brute force.
        let drug1: [Double] = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
        let drug2: [Double] = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
        let sleep = try #require(Significance.permutationTest(drug1, drug2))
        #expect(sleep.exact && sleep.rounds == 184_756)
        #expect(abs(sleep.pValue - Self.bruteForce(drug1, drug2)) < 1e-12)
        // Welch's t gives p = 0.079 for these data; the permutation test agrees closely.
        #expect(sleep.pValue > 0.06 && sleep.pValue < 0.10, "\(sleep.pValue)")
        let uneven = try #require(Significance.permutationTest([5, 7, 7, 9], [1, 3, 3, 5, 6, 8]))
        #expect(abs(uneven.pValue - Self.bruteForce([5, 7, 7, 9], [1, 3, 3, 5, 6, 8])) < 1e-12)
        #expect(uneven.smallestPossible == 1.0 / 210)
        #expect(Significance.permutationTest([], [1]) == nil && Significance.permutationTest([1, .nan], [1]) == nil)
    }

    @Test func sampledTestIsDeterministicAndSane() throws {
        var rng = SplitMix64(seed: 42)
        func normal(_ mu: Double, _ sigma: Double) -> Double {
            let u1 = Double(rng.next() >> 11) / Double(1 << 53) + 1e-300, u2 = Double(rng.next() >> 11) / Double(1 << 53)
            return mu + sigma * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        let a = (0..<20).map { _ in normal(100, 5) }, same = (0..<20).map { _ in normal(100, 5) }, lower = (0..<20).map { _ in normal(90, 5) }
        let far = try #require(Significance.permutationTest(a, lower))
        #expect(!far.exact && far.rounds == 20_000 && far.pValue == 1.0 / 20_001)
        let near = try #require(Significance.permutationTest(a, same))
        #expect(near.pValue > 0.05)
        #expect(Significance.permutationTest(a, same) == near, "seeded: the same data gives the same p")
    }

    /// Sampled relabelings stop at the 20th as extreme (Besag–Clifford): a large p comes after
    /// a few draws and agrees with the full 20,000; a small p still takes every round; over
    /// A/A trials the sequential p rejects at α as often as it should.
    @Test func sequentialStoppingKeepsThePValueValid() throws {
        var rng = SplitMix64(seed: 5)
        func normal() -> Double {
            let u1 = Double(rng.next() >> 11) / Double(1 << 53) + 1e-300, u2 = Double(rng.next() >> 11) / Double(1 << 53)
            return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        let a = (0..<20).map { _ in 100 + 5 * normal() }, b = (0..<20).map { _ in 100 + 5 * normal() }
        let quick = try #require(Significance.permutationTest(a, b))
        let full = try #require(Significance.permutationTest(a, b, stopAfterHits: nil))
        #expect(quick.rounds < 2_000 && full.rounds == 20_000, "\(quick.rounds) draws")
        #expect(abs(quick.pValue - full.pValue) < 4 * (full.pValue * (1 - full.pValue) / 20).squareRoot(), "\(quick.pValue) vs \(full.pValue)")
        try Self.checkAA(trials: 1_000, size: 20, label: "sequential (Besag–Clifford, h = 20)") { exp(0.5 * normal()) }
    }

    /// A/A: `trials` pairs of `size` samples from one distribution; at α = 0.01 and 0.05 the
    /// share the permutation test rejects is within binomial noise (3 SE) of α.
    static func checkAA(trials: Int, size: Int, label: String, _ draw: () -> Double) throws {
        var rejected01 = 0, rejected05 = 0
        for _ in 0..<trials {
            let x = (0..<size).map { _ in draw() }, y = (0..<size).map { _ in draw() }
            let p = try #require(Significance.permutationTest(x, y)).pValue
            if p < 0.01 { rejected01 += 1 }
            if p < 0.05 { rejected05 += 1 }
        }
        let (r01, r05) = (Double(rejected01) / Double(trials), Double(rejected05) / Double(trials))
        print("permutation \(label) A/A, \(trials) trials of \(size) vs \(size) lognormal: rejected \(r01) at 0.01, \(r05) at 0.05")
        #expect(r01 < 0.01 + 3 * (0.01 * 0.99 / Double(trials)).squareRoot(), "A/A at 0.01: \(r01)")
        #expect(abs(r05 - 0.05) < 3 * (0.05 * 0.95 / Double(trials)).squareRoot(), "A/A at 0.05: \(r05)")
    }

    /// Coverage of the ratio's 95 % interval by simulation: normal samples with known means.
    @Test func ratioIntervalCoversTheTrueRatio() {
        var rng = SplitMix64(seed: 7)
        func normal(_ mu: Double, _ sigma: Double) -> Double {
            let u1 = Double(rng.next() >> 11) / Double(1 << 53) + 1e-300, u2 = Double(rng.next() >> 11) / Double(1 << 53)
            return mu + sigma * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        for (n, m) in [(5, 5), (10, 4), (20, 20)] {
            var covered = 0
            let trials = 4000
            for _ in 0..<trials {
                let a = (0..<n).map { _ in normal(90, 9) }, b = (0..<m).map { _ in normal(100, 4) }
                let r = Significance.ratioOfMeans(a, b)!
                if r.low <= 0.9 && 0.9 <= r.high { covered += 1 }
            }
            let rate = Double(covered) / Double(trials)
            #expect(rate > 0.93 && rate < 0.97, "n=\(n), m=\(m): coverage \(rate)")
        }
        let one = Significance.ratioOfMeans([50], [100, 110])!
        #expect(abs(one.ratio - 50.0 / 105) < 1e-12 && one.degreesOfFreedom == nil && one.low == one.high)
        #expect(Significance.ratioOfMeans([0, 0], [1, 2]) == nil)
    }

    /// From 200 samples a side the test takes the permutation distribution's normal
    /// approximation: its p agrees with 20,000 sampled relabelings on normal and on skewed
    /// (lognormal) data, and over A/A trials it rejects at α as often as it should.
    @Test func largeSamplesUseTheNormalApproximationAndItIsCalibrated() throws {
        var rng = SplitMix64(seed: 11)
        func normal() -> Double {
            let u1 = Double(rng.next() >> 11) / Double(1 << 53) + 1e-300, u2 = Double(rng.next() >> 11) / Double(1 << 53)
            return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        for (label, draw) in [("normal", { 100 + 5 * normal() }), ("lognormal", { 100 * exp(0.5 * normal()) })] as [(String, () -> Double)] {
            for shift in [0.0, 0.01, 0.03] {
                let a = (0..<250).map { _ in draw() }, b = (0..<300).map { _ in draw() * (1 + shift) }
                let approx = try #require(Significance.permutationTest(a, b))
                #expect(approx.approximation != nil && approx.rounds == 0)
                let sampled = try #require(Significance.permutationTest(a, b, approximateFrom: .max, stopAfterHits: nil))
                #expect(sampled.approximation == nil && sampled.rounds == 20_000)
                // Within the sampled p's own Monte Carlo error (3 SE) plus 10 % of p.
                let se = (sampled.pValue * (1 - sampled.pValue) / 20_000).squareRoot()
                print("permutation \(label) shift \(shift): sampled p \(sampled.pValue), normal approximation p \(approx.pValue)")
                #expect(abs(approx.pValue - sampled.pValue) <= 3 * se + 0.1 * sampled.pValue + 1e-4,
                        "\(label) shift \(shift): sampled \(sampled.pValue), approximation \(approx.pValue)")
            }
        }
        try Self.checkAA(trials: 2_000, size: 200, label: "normal approximation") { 100 * exp(0.5 * normal()) }
    }
}
