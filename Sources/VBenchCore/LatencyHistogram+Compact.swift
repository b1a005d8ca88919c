import CZlib
import FoundationEssentials

/// A compact binary form of a histogram, for records and stores that keep many of them.
///
/// Layout (every integer an unsigned LEB128 varint unless said otherwise), format 1:
///
///     byte     format (1)
///     byte     precisionBits (1…16)
///     varint   count, min (0 when empty), max, sum
///     varint   k, the number of non-empty buckets
///     k ×      varint gap (bucket index − previous index − 1; the first is the index itself),
///              varint bucket count (≥ 1)
///
/// Format 2 is format 1's bytes after the format byte, deflated: `byte 2, varint length of
/// those bytes, zlib stream`. Format 3 deflates the same varints in columns: precisionBits,
/// count, min, max, sum, k, then the k gaps, then the k counts (`byte 3, varint length of that
/// body, zlib stream`). Gaps look like gaps and counts like counts, so deflate finds more to
/// share: on the committed lab records a histogram is 11 % smaller than in format 2. The
/// encoder writes format 3 or format 1, whichever is smaller; format 2 is still read.
///
/// Bucket indexes ascend, so the gaps are small and most take one byte; counts are exact, so
/// every percentile and every merge is bit-for-bit what the JSON list form gives.
extension LatencyHistogram {
    /// The plain varint format byte.
    public static let compactFormat: UInt8 = 1
    /// The deflated format byte: `2`, varint length of the plain body, then the body deflated
    /// (a zlib stream, RFC 1950). Written when it is smaller, which it is for any histogram of
    /// more than a few dozen buckets (a quick-profile lab record's histograms shrink by half).
    public static let compactDeflatedFormat: UInt8 = 2
    /// The deflated column format byte: `3`, varint length of the column body, then that body
    /// deflated. What the encoder writes when deflating pays.
    public static let compactColumnsFormat: UInt8 = 3
    /// The largest plain body a deflated histogram may claim (a guard against zip bombs):
    /// far above any real one (every bucket of 16 precision bits at full counts).
    static let compactMaxBodyBytes = 64 << 20

    /// The compact binary form (see the type's documentation for the layout): deflated in
    /// columns (format 3) when that is smaller, else plain (format 1).
    public func compactEncoded() -> [UInt8] {
        let body = compactBody()
        if body.count > 48, let packed = Deflate.compress(compactBody(columns: true)) {
            var out: [UInt8] = [Self.compactColumnsFormat]
            Self.appendVarint(UInt64(body.count), to: &out)
            if out.count + packed.count < body.count + 1 {
                out += packed
                return out
            }
        }
        return [Self.compactFormat] + body
    }

    /// Everything after the format byte of the plain form: the header, then gap and count per
    /// bucket; with `columns`, the header, every gap, then every count (format 3's body before
    /// deflating). Both hold the same varints, so they are the same length.
    func compactBody(columns: Bool = false) -> [UInt8] {
        var out: [UInt8] = [UInt8(precisionBits)]
        out.reserveCapacity(24 + counts.count / 4)
        for v in [totalCount, totalCount == 0 ? 0 : minValue, maxValue, sum] { Self.appendVarint(v, to: &out) }
        var buckets = 0
        for c in counts where c != 0 { buckets += 1 }
        Self.appendVarint(UInt64(buckets), to: &out)
        var previous = -1
        for (i, c) in counts.enumerated() where c != 0 {
            Self.appendVarint(UInt64(i - previous - 1), to: &out)
            if !columns { Self.appendVarint(c, to: &out) }
            previous = i
        }
        if columns {
            for c in counts where c != 0 { Self.appendVarint(c, to: &out) }
        }
        return out
    }

    /// The compact form as base64, for JSON.
    public func compactBase64() -> String {
        Data(compactEncoded()).base64EncodedString()
    }

    /// Reads the compact binary form (either format); throws `CompactHistogramError` naming
    /// what is wrong for truncated, trailing or inconsistent bytes, never a partial histogram.
    public init(compact bytes: some Collection<UInt8>) throws(CompactHistogramError) {
        var reader = VarintReader(bytes: Array(bytes))
        let format = try reader.byte("format")
        switch format {
        case Self.compactFormat:
            try self.init(body: &reader)
        case Self.compactDeflatedFormat, Self.compactColumnsFormat:
            let length = try reader.varint("body length")
            guard length > 0, length <= UInt64(Self.compactMaxBodyBytes) else {
                throw .inconsistent("deflated body claims \(length) bytes (at most \(Self.compactMaxBodyBytes))")
            }
            guard let body = Deflate.decompress(reader.rest, length: Int(length)) else {
                throw .inconsistent("deflated body does not inflate to the \(length) bytes it claims")
            }
            var inner = VarintReader(bytes: body)
            try self.init(body: &inner, columns: format == Self.compactColumnsFormat)
        default:
            throw .unknownFormat(format)
        }
    }

    private init(body reader: inout VarintReader, columns: Bool = false) throws(CompactHistogramError) {
        let bits = Int(try reader.byte("precisionBits"))
        guard (1...16).contains(bits) else { throw .precisionOutOfRange(bits) }
        self.init(precisionBits: bits)
        let count = try reader.varint("count"), minimum = try reader.varint("min")
        let maximum = try reader.varint("max"), total = try reader.varint("sum")
        let k = try reader.varint("bucket count")
        let lastIndex = UInt64(Self.bucketIndex(of: .max, precisionBits: bits))
        guard k <= lastIndex + 1 else { throw .inconsistent("\(k) non-empty buckets; at most \(lastIndex + 1) exist at \(bits) bits") }
        var index: UInt64 = 0
        var seen: UInt64 = 0
        var buckets: [(index: Int, count: UInt64)] = []
        // Every bucket takes at least one byte per varint, so k cannot pass what is left.
        buckets.reserveCapacity(Int(min(k, UInt64(reader.remaining))))
        func bucketCount(_ b: UInt64) throws(CompactHistogramError) -> UInt64 {
            let c = try reader.varint("count of bucket \(b)")
            guard c > 0 else { throw .inconsistent("bucket \(b) has a count of 0") }
            let (s, o) = seen.addingReportingOverflow(c)
            guard !o else { throw .inconsistent("bucket counts overflow") }
            seen = s
            return c
        }
        for b in 0..<k {
            let gap = try reader.varint("gap of bucket \(b)")
            let (next, over) = (b == 0 ? 0 : index + 1).addingReportingOverflow(gap)
            guard !over, next <= lastIndex else { throw .inconsistent("bucket \(b) lies beyond the last bucket (\(lastIndex))") }
            index = next
            // In columns the counts follow every gap; 0 holds the place until then.
            var c: UInt64 = 0
            if !columns { c = try bucketCount(b) }
            buckets.append((Int(index), c))
        }
        if columns {
            for b in 0..<buckets.count { buckets[b].count = try bucketCount(UInt64(b)) }
        }
        setCounts(buckets)
        guard reader.atEnd else { throw .trailingBytes(reader.remaining) }
        guard seen == count else { throw .inconsistent("count \(count) differs from the bucket total \(seen)") }
        if count > 0 {
            guard minimum <= maximum,
                  Self.bucketIndex(of: minimum, precisionBits: bits) == buckets.first?.index,
                  Self.bucketIndex(of: maximum, precisionBits: bits) == buckets.last?.index
            else { throw .inconsistent("min \(minimum) and max \(maximum) do not fall in the first and last buckets") }
            minValue = minimum
            maxValue = maximum
        }
        sum = total
    }

    /// Reads the base64 of the compact form.
    public init(compactBase64 text: String) throws(CompactHistogramError) {
        guard let bytes = Data(base64Encoded: text) else { throw .notBase64 }
        try self.init(compact: bytes)
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}

/// What is wrong with a compact histogram's bytes.
public enum CompactHistogramError: Error, Equatable, CustomStringConvertible {
    case truncated(String)
    case unknownFormat(UInt8)
    case precisionOutOfRange(Int)
    case varintTooLong(String)
    case trailingBytes(Int)
    case inconsistent(String)
    case notBase64

    public var description: String {
        switch self {
        case let .truncated(field): "compact histogram truncated: it ends inside \(field)"
        case let .unknownFormat(f): "compact histogram format \(f) is unknown (this vbench reads formats 1, 2 and 3); a newer vbench wrote it"
        case let .precisionOutOfRange(b): "compact histogram precisionBits must be 1…16; got \(b)"
        case let .varintTooLong(field): "compact histogram corrupt: \(field) does not fit 64 bits"
        case let .trailingBytes(n): "compact histogram corrupt: \(n) bytes after its last bucket"
        case let .inconsistent(what): "compact histogram corrupt: \(what)"
        case .notBase64: "compact histogram is not valid base64"
        }
    }
}

private struct VarintReader {
    let bytes: [UInt8]
    var offset = 0

    var atEnd: Bool { offset == bytes.count }
    var rest: ArraySlice<UInt8> { bytes[offset...] }
    var remaining: Int { bytes.count - offset }

    mutating func byte(_ field: @autoclosure () -> String) throws(CompactHistogramError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(field()) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint(_ field: @autoclosure () -> String) throws(CompactHistogramError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count else { throw .truncated(field()) }
            let b = bytes[offset]
            offset += 1
            // The tenth byte may carry only the top bit of 64.
            guard shift < 63 || (shift == 63 && b <= 1) else { throw .varintTooLong(field()) }
            value |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
    }
}

/// zlib's one-shot deflate and inflate.
enum Deflate {
    static func compress(_ input: [UInt8]) -> [UInt8]? {
        var capacity = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(capacity))
        let status = out.withUnsafeMutableBufferPointer { dst in
            input.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &capacity, src.baseAddress, uLong(src.count), Z_BEST_SPEED)
            }
        }
        guard status == Z_OK else { return nil }
        out.removeLast(out.count - Int(capacity))
        return out
    }

    /// Inflates exactly `length` bytes; nil for corrupt input, a different length or trailing bytes.
    static func decompress(_ input: ArraySlice<UInt8>, length: Int) -> [UInt8]? {
        guard !input.isEmpty else { return nil }
        var out = [UInt8](repeating: 0, count: length + 1)
        var produced = uLongf(out.count)
        var consumed = uLong(input.count)
        let status = out.withUnsafeMutableBufferPointer { dst in
            input.withUnsafeBufferPointer { src in
                uncompress2(dst.baseAddress, &produced, src.baseAddress, &consumed)
            }
        }
        guard status == Z_OK, Int(produced) == length, Int(consumed) == input.count else { return nil }
        out.removeLast()
        return out
    }
}
