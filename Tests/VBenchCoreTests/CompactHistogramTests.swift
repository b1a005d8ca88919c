import Foundation
import Testing
@testable import VBenchCore

/// The compact histogram form: bit-exact round trips on random histograms, against the JSON
/// list form too, and a clear error for every way the bytes can be wrong.
@Suite struct CompactHistogramTests {
    /// Same buckets, counts, extremes and sum (the dense arrays may differ in trailing zeros).
    static func same(_ a: LatencyHistogram, _ b: LatencyHistogram) -> Bool {
        a.precisionBits == b.precisionBits && a.totalCount == b.totalCount && a.minValue == b.minValue
            && a.maxValue == b.maxValue && a.sum == b.sum
            && a.nonEmptyBuckets.map { [$0.lower, $0.count] } == b.nonEmptyBuckets.map { [$0.lower, $0.count] }
    }

    static func random(_ rng: inout SeededGenerator) -> LatencyHistogram {
        let shape = Int.random(in: 0...3, using: &rng)
        // Up to 16 bits where values stay below 2^24; wide values keep the dense array small.
        var h = LatencyHistogram(precisionBits: Int.random(in: 1...(shape < 2 ? 16 : 10), using: &rng))
        let n = Int.random(in: 0...2_000, using: &rng)
        for _ in 0..<n {
            let v: UInt64 = switch shape {
            case 0: UInt64.random(in: 0...2_000, using: &rng)                                   // small, exact region
            case 1: UInt64(exp(Double.random(in: 9...16, using: &rng)))                         // latency-like, log-normal-ish
            case 2: UInt64.random(in: 0...UInt64.max / 4096, using: &rng)                       // wide
            default: UInt64.random(in: 0...1, using: &rng) == 0 ? 0 : UInt64.max - UInt64.random(in: 0...3, using: &rng)  // extremes
            }
            h.record(v, count: UInt64.random(in: 1...(shape == 3 ? 2 : 1_000_000), using: &rng))
        }
        return h
    }

    @Test func randomHistogramsRoundTripBitExact() throws {
        var rng = SeededGenerator(seed: 20261201)
        for trial in 0..<100 {
            let h = Self.random(&rng)
            let bytes = h.compactEncoded()
            let back = try LatencyHistogram(compact: bytes)
            #expect(Self.same(h, back), "trial \(trial): bits \(h.precisionBits), \(h.totalCount) values")
            #expect(back.standardPercentiles() == h.standardPercentiles())
            #expect(try Self.same(LatencyHistogram(compactBase64: h.compactBase64()), h))
            // The same histogram as the JSON list form gives.
            let json = try JSONDecoder().decode(LatencyHistogram.self, from: JSONEncoder().encode(h))
            #expect(Self.same(json, back))
            // Merging decoded copies is merging the originals.
            var m1 = h, m2 = back
            try m1.merge(h)
            try m2.merge(back)
            #expect(Self.same(m1, m2))
        }
    }

    @Test func itIsSmallerThanTheJSONList() throws {
        var h = LatencyHistogram()
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<200_000 { h.record(UInt64(exp(Double.random(in: 10.5...13.5, using: &rng)))) }
        let json = try JSONEncoder().encode(h).count
        let compact = h.compactBase64().utf8.count
        #expect(h.nonEmptyBuckets.count > 500)
        #expect(compact * 3 < json, "compact \(compact) B against JSON \(json) B for \(h.nonEmptyBuckets.count) buckets")
    }

    @Test func largeHistogramsAreDeflatedAndReadBackBitExact() throws {
        var h = LatencyHistogram()
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<50_000 { h.record(UInt64(exp(Double.random(in: 10...14, using: &rng)))) }
        let bytes = h.compactEncoded()
        #expect(bytes[0] == LatencyHistogram.compactColumnsFormat)
        let plain = [LatencyHistogram.compactFormat] + h.compactBody()
        #expect(bytes.count < plain.count)
        #expect(try Self.same(LatencyHistogram(compact: bytes), h))
        #expect(try Self.same(LatencyHistogram(compact: plain), h))
        // Format 2 (what the first version-2 writers chose) is still read, and columns beat it.
        var rows: [UInt8] = [LatencyHistogram.compactDeflatedFormat]
        LatencyHistogram.appendVarint(UInt64(plain.count - 1), to: &rows)
        rows += try #require(Deflate.compress(h.compactBody()))
        #expect(try Self.same(LatencyHistogram(compact: rows), h))
        #expect(bytes.count < rows.count, "columns \(bytes.count) B against rows \(rows.count) B")
        #expect(h.compactBody(columns: true).count == plain.count - 1)
        // Cut anywhere, a flipped byte, or a body length that lies: refused by name.
        for n in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: CompactHistogramError.self, "cut at \(n)") { try LatencyHistogram(compact: bytes.prefix(n)) }
        }
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x5a
        #expect(throws: CompactHistogramError.self) { try LatencyHistogram(compact: flipped) }
        for format: UInt8 in [2, 3] {
            var bomb: [UInt8] = [format]
            LatencyHistogram.appendVarint(1 << 40, to: &bomb)
            do { _ = try LatencyHistogram(compact: bomb + bytes.dropFirst(4)); Issue.record("accepted") } catch {
                #expect(error.description.contains("claims 1099511627776 bytes"))
            }
        }
        // A column body whose counts were cut off (k gaps, fewer counts) is refused by name.
        let columns = h.compactBody(columns: true)
        let short = Array(columns.dropLast(3))
        var cut: [UInt8] = [LatencyHistogram.compactColumnsFormat]
        LatencyHistogram.appendVarint(UInt64(short.count), to: &cut)
        cut += try #require(Deflate.compress(short))
        do { _ = try LatencyHistogram(compact: cut); Issue.record("accepted") } catch {
            #expect(error.description.contains("ends inside count of bucket"), "\(error)")
        }
        // A small histogram stays plain: deflating would not pay.
        var small = LatencyHistogram()
        small.record(5_000)
        #expect(small.compactEncoded()[0] == LatencyHistogram.compactFormat)
    }

    @Test func anEmptyHistogramIsSevenBytes() throws {
        let h = LatencyHistogram()
        #expect(h.compactEncoded() == [1, 10, 0, 0, 0, 0, 0])
        #expect(try Self.same(LatencyHistogram(compact: h.compactEncoded()), h))
    }

    @Test func everyKindOfBadBytesIsNamed() throws {
        var h = LatencyHistogram()
        for v: UInt64 in [3, 1500, 1_000_000, 77_777_777] { h.record(v, count: 300) }
        let good = h.compactEncoded()
        // Every truncation is refused, never a partial histogram.
        for n in 0..<good.count {
            #expect(throws: CompactHistogramError.self, "cut at \(n)") { try LatencyHistogram(compact: good.prefix(n)) }
        }
        func error(_ bytes: [UInt8]) -> String {
            do { _ = try LatencyHistogram(compact: bytes); return "accepted" } catch { return error.description }
        }
        #expect(error(good + [0]).contains("1 bytes after its last bucket"))
        #expect(error([4] + good.dropFirst()).contains("format 4 is unknown"))
        #expect(error([1, 17] + good.dropFirst(2)).contains("precisionBits must be 1…16; got 17"))
        #expect(error([1, 10] + [UInt8](repeating: 0xff, count: 10) + [1]).contains("does not fit 64 bits"))
        // A count of zero in a bucket, and a total that disagrees with the buckets.
        var zero = [UInt8](good.prefix(2))
        for v: UInt64 in [1, 3, 3, 3, 1, 3, 0] { LatencyHistogram.appendVarint(v, to: &zero) }
        #expect(error(zero).contains("count of 0"))
        var total = [UInt8](good.prefix(2))
        for v: UInt64 in [2, 3, 3, 3, 1, 3, 1] { LatencyHistogram.appendVarint(v, to: &total) }
        #expect(error(total).contains("count 2 differs from the bucket total 1"))
        // min outside the first bucket.
        var extremes = [UInt8](good.prefix(2))
        for v: UInt64 in [1, 9, 3, 3, 1, 3, 1] { LatencyHistogram.appendVarint(v, to: &extremes) }
        #expect(error(extremes).contains("do not fall in the first and last buckets"))
        // A bucket beyond the last one at this precision.
        var beyond = [UInt8](good.prefix(2))
        for v: UInt64 in [1, 1, 1, 1, 1, UInt64(LatencyHistogram.bucketIndex(of: .max, precisionBits: 10)) + 1, 1] {
            LatencyHistogram.appendVarint(v, to: &beyond)
        }
        #expect(error(beyond).contains("beyond the last bucket"))
        #expect(throws: CompactHistogramError.notBase64) { try LatencyHistogram(compactBase64: "not base64!") }
    }
}
