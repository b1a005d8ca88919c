/// JSON form: `{"precisionBits", "count", "min", "max", "sum", "buckets": [[lower, count], …]}`.
/// Only non-empty buckets are written; `lower` is the bucket's lower bound in the recorded unit.
extension LatencyHistogram: Codable {
    private enum CodingKeys: String, CodingKey {
        case precisionBits, count, min, max, sum, buckets
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(precisionBits, forKey: .precisionBits)
        try c.encode(totalCount, forKey: .count)
        try c.encode(totalCount == 0 ? 0 : minValue, forKey: .min)
        try c.encode(maxValue, forKey: .max)
        try c.encode(sum, forKey: .sum)
        try c.encode(nonEmptyBuckets.map { [$0.lower, $0.count] }, forKey: .buckets)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let bits = try c.decode(Int.self, forKey: .precisionBits)
        guard (1...16).contains(bits) else {
            throw DecodingError.dataCorruptedError(forKey: .precisionBits, in: c,
                debugDescription: "precisionBits must be 1…16; got \(bits)")
        }
        self.init(precisionBits: bits)
        let pairs = try c.decode([[UInt64]].self, forKey: .buckets)
        for pair in pairs {
            guard pair.count == 2 else {
                throw DecodingError.dataCorruptedError(forKey: .buckets, in: c,
                    debugDescription: "each bucket must be [lower, count]")
            }
            let index = Self.bucketIndex(of: pair[0], precisionBits: bits)
            guard Self.bucketRange(of: index, precisionBits: bits).lower == pair[0] else {
                throw DecodingError.dataCorruptedError(forKey: .buckets, in: c,
                    debugDescription: HistogramError.bucketNotOnBoundary(pair[0]).description)
            }
            record(pair[0], count: pair[1])
        }
        // Bucket lower bounds lose the exact extremes and sum: restore them from the record.
        let count = try c.decode(UInt64.self, forKey: .count)
        guard count == totalCount else {
            throw DecodingError.dataCorruptedError(forKey: .count, in: c,
                debugDescription: "count \(count) differs from the bucket total \(totalCount)")
        }
        if count > 0 {
            minValue = try c.decode(UInt64.self, forKey: .min)
            maxValue = try c.decode(UInt64.self, forKey: .max)
        }
        sum = try c.decode(UInt64.self, forKey: .sum)
    }
}
