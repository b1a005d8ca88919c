import Testing
@testable import VBenchCore

/// A seeded generator so property tests are repeatable.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct LatencyHistogramTests {
    @Test func documentedBoundIsAtMostOneThousandth() {
        #expect(LatencyHistogram.relativeErrorBound(precisionBits: LatencyHistogram.defaultPrecisionBits) <= 0.001)
    }

    @Test func bucketRangesTileTheValueSpace() {
        let p = 10
        var expectedLower: UInt64 = 0
        var broken: [Int] = []
        for index in 0..<(40 << p) {
            let (lower, upper) = LatencyHistogram.bucketRange(of: index, precisionBits: p)
            if lower != expectedLower
                || LatencyHistogram.bucketIndex(of: lower, precisionBits: p) != index
                || LatencyHistogram.bucketIndex(of: upper - 1, precisionBits: p) != index {
                broken.append(index)
            }
            expectedLower = upper
        }
        #expect(broken.isEmpty, "buckets not tiling: \(broken.prefix(5))")
    }

    @Test(arguments: [4, 7, 10, 12])
    func everyReportedValueIsWithinTheBound(bits: Int) {
        var rng = SeededGenerator(seed: UInt64(bits))
        let bound = LatencyHistogram.relativeErrorBound(precisionBits: bits)
        var worst = 0.0
        var worstValue: UInt64 = 0
        for _ in 0..<200_000 {
            // Log-uniform values from 1 ns to about 1000 s.
            let magnitude = UInt64.random(in: 0...50, using: &rng)
            let value = UInt64.random(in: 0...(UInt64(1) << magnitude), using: &rng)
            let reported = LatencyHistogram.reportedValue(of: value, precisionBits: bits)
            let error = abs(Double(reported) - Double(value)) / Double(max(value, 1))
            if error > worst { worst = error; worstValue = value }
        }
        #expect(worst <= bound, "value \(worstValue) off by \(worst) at \(bits) bits")
        // The bound is tight: the worst case comes close to it.
        #expect(worst > bound * 0.9)
    }

    @Test func percentileReportsTheBucketValue() {
        var h = LatencyHistogram()
        for v: UInt64 in [1000, 5_000_017, 5_000_018, 9_999_999] { h.record(v) }
        #expect(h.value(atPercentile: 50) == LatencyHistogram.reportedValue(of: 5_000_017, precisionBits: 10))
        #expect(h.value(atPercentile: 0) == 1000)
        #expect(h.value(atPercentile: 100) == 9_999_999)
    }

    @Test func percentilesMatchExactValuesOnRandomSamples() {
        var rng = SeededGenerator(seed: 42)
        for trial in 0..<10 {
            let n = Int.random(in: 1...5000, using: &rng)
            var samples: [UInt64] = (0..<n).map { _ in
                // A skewed, latency-like distribution: 20 µs … 20 ms.
                UInt64(20_000 * pow2(Double.random(in: 0...10, using: &rng)))
            }
            var h = LatencyHistogram()
            for s in samples { h.record(s) }
            samples.sort()
            for p in [1.0, 25, 50, 90, 99, 99.9, 99.99, 100] {
                let rank = max(1, Int((p / 100 * Double(n)).rounded(.up)))
                let exact = samples[rank - 1]
                let got = h.value(atPercentile: p) ?? 0
                let error = abs(Double(got) - Double(exact)) / Double(exact)
                #expect(error <= 0.001, "trial \(trial) p\(p): exact \(exact), got \(got)")
            }
            #expect(h.minValue == samples.first)
            #expect(h.maxValue == samples.last)
            #expect(h.totalCount == UInt64(n))
            #expect(h.sum == samples.reduce(0, +))
        }
    }

    @Test func mergingEqualsRecordingEverythingIntoOne() throws {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<10 {
            var parts = [LatencyHistogram(), LatencyHistogram(), LatencyHistogram()]
            var whole = LatencyHistogram()
            for _ in 0..<Int.random(in: 0...3000, using: &rng) {
                let v = UInt64.random(in: 0...(1 << UInt64.random(in: 1...40, using: &rng)), using: &rng)
                parts[Int.random(in: 0...2, using: &rng)].record(v)
                whole.record(v)
            }
            var merged = LatencyHistogram()
            for p in parts.shuffled(using: &rng) { try merged.merge(p) }
            #expect(merged.totalCount == whole.totalCount)
            #expect(merged.sum == whole.sum)
            #expect(merged.nonEmptyBuckets.map(\.lower) == whole.nonEmptyBuckets.map(\.lower))
            #expect(merged.nonEmptyBuckets.map(\.count) == whole.nonEmptyBuckets.map(\.count))
            for p in [50.0, 99, 99.9] {
                #expect(merged.value(atPercentile: p) == whole.value(atPercentile: p))
            }
        }
    }

    @Test func mergingDifferentPrecisionsIsRefused() {
        var a = LatencyHistogram(precisionBits: 10)
        let b = LatencyHistogram(precisionBits: 8)
        #expect(throws: HistogramError.precisionMismatch(10, 8)) { try a.merge(b) }
    }

    /// Histograms of different precisions (an imported tool's, an older record's) merge
    /// exactly at the coarser one: the result equals recording every value at that precision.
    /// They once were merged with `try?`, which dropped a repetition's latencies from p99 unseen.
    @Test func differentPrecisionsAbsorbExactlyAtTheCoarserOne() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (state >> 20) % 50_000_000  // up to 50 ms in ns: many octaves
        }
        for (fine, coarse) in [(10, 7), (12, 10), (8, 1), (16, 9)] {
            var a = LatencyHistogram(precisionBits: fine), b = LatencyHistogram(precisionBits: coarse), want = LatencyHistogram(precisionBits: coarse)
            for _ in 0..<5_000 { let v = next(); a.record(v); want.record(v) }
            for _ in 0..<3_000 { let v = next(); b.record(v); want.record(v) }
            var x = a
            x.absorb(b)          // the finer one becomes coarser
            var y = b
            y.absorb(a)          // the coarser one takes the finer
            #expect(x == want && y == want, "precisions \(fine) and \(coarse)")
            #expect(a.reduced(toPrecision: coarse).totalCount == a.totalCount && a.reduced(toPrecision: fine) == a)
        }
    }

    @Test func jsonRoundTripKeepsEverything() throws {
        var h = LatencyHistogram()
        for v: UInt64 in [0, 1, 999, 1024, 1025, 123_456, 9_999_999_999] { h.record(v, count: 3) }
        let data = try JSONEncoderForTests.encode(h)
        let back = try JSONDecoderForTests.decode(LatencyHistogram.self, from: data)
        #expect(back == h)
    }

    @Test func corruptBucketsAreRejected() {
        let json = #"{"precisionBits":10,"count":2,"min":1025,"max":2049,"sum":3074,"buckets":[1025,1,2049,1]}"#
        #expect(throws: (any Error).self) {
            try JSONDecoderForTests.decode(LatencyHistogram.self, from: Array(json.utf8))
        }
    }

    @Test func emptyHistogramHasNoPercentiles() {
        #expect(LatencyHistogram().value(atPercentile: 50) == nil)
        #expect(LatencyHistogram().mean == nil)
    }
}

func pow2(_ x: Double) -> Double {
    var r = 1.0
    var e = x
    while e >= 1 { r *= 2; e -= 1 }
    // 2^e for 0 ≤ e < 1 by a short series, enough for test data.
    return r * (1 + e * 0.6931471805599453 + e * e * 0.2402265069591007 + e * e * e * 0.0555041086648216)
}
