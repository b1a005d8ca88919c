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
}
