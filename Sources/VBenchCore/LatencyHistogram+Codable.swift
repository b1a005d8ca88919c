/// JSON form: `{"precisionBits", "count", "min", "max", "sum", "buckets": [lower, count, lower, count, …]}`.
/// Only non-empty buckets are written, as a flat list of pairs (a flat list decodes several
/// times faster than nested ones); `lower` is the bucket's lower bound in the recorded unit.
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
        var flat: [UInt64] = []
        flat.reserveCapacity(nonEmptyBuckets.count * 2)
        for b in nonEmptyBuckets { flat.append(b.lower); flat.append(b.count) }
        try c.encode(flat, forKey: .buckets)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let bits = try c.decode(Int.self, forKey: .precisionBits)
        guard (1...16).contains(bits) else {
            throw DecodingError.dataCorruptedError(forKey: .precisionBits, in: c,
                debugDescription: "precisionBits must be 1…16; got \(bits)")
        }
        self.init(precisionBits: bits)
        let flat = try c.decode([UInt64].self, forKey: .buckets)
        guard flat.count.isMultiple(of: 2) else {
            throw DecodingError.dataCorruptedError(forKey: .buckets, in: c,
                debugDescription: "buckets must be pairs: lower, count, lower, count, …")
        }
        for i in stride(from: 0, to: flat.count, by: 2) {
            let pair = [flat[i], flat[i + 1]]
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
