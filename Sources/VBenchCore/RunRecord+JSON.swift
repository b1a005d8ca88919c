import FoundationEssentials

/// Why a record could not be read.
public enum RecordError: Error, Equatable, CustomStringConvertible {
    case unsupportedSchemaVersion(Int)
    case malformed(String)

    public var description: String {
        switch self {
        case .unsupportedSchemaVersion(let v):
            "record schema version \(v) is not supported by vbench \(VBenchVersion.current) (it reads versions \(RunRecord.readableSchemaVersions.lowerBound)–\(RunRecord.readableSchemaVersions.upperBound)); upgrade vbench"
        case .malformed(let why):
            "record is not valid RunRecord JSON: \(why)"
        }
    }
}

extension RunRecord {
    /// The schema versions `decode` reads.
    public static let readableSchemaVersions = 1...currentSchemaVersion

    /// JSON with sorted keys and ISO 8601 times: pretty-printed for files and people, compact
    /// (about half the bytes) for the wire and the store. `schemaVersion` 1 writes the older,
    /// larger form for a collector that reads only that.
    public func jsonData(pretty: Bool = true, schemaVersion: Int = RunRecord.currentSchemaVersion) throws -> Data {
        try Self.encoder(pretty: pretty, schemaVersion: schemaVersion).encode(self)
    }

    /// The encoder `jsonData` uses, for encoding several records (a lab's records.json).
    public static func encoder(pretty: Bool = true, schemaVersion: Int = RunRecord.currentSchemaVersion) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.userInfo[.recordSchemaVersion] = schemaVersion
        return encoder
    }

    /// Reads a record, checking its schema version first.
    public static func decode(_ data: Data) throws(RecordError) -> RunRecord {
        struct Version: Decodable { var schemaVersion: Int }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let version: Version
        do { version = try decoder.decode(Version.self, from: data) } catch {
            throw .malformed("no schemaVersion: \(error)")
        }
        guard readableSchemaVersions.contains(version.schemaVersion) else {
            throw .unsupportedSchemaVersion(version.schemaVersion)
        }
        let record: RunRecord
        do { record = try decoder.decode(RunRecord.self, from: data) } catch {
            throw .malformed("\(error)")
        }
        if let problem = record.problem() { throw .malformed(problem) }
        return record
    }

    /// The byte ranges of a JSON array's top-level elements (one scan: strings and nesting
    /// tracked, nothing parsed), or nil when `data` is not an array. Lets an importer decode
    /// each record of a records.json alone and keep its text as received.
    public static func arrayElements(_ data: Data) -> [Range<Int>]? {
        data.withUnsafeBytes { raw -> [Range<Int>]? in
            let b = raw.bindMemory(to: UInt8.self)
            var i = 0
            func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09 { i += 1 } }
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "[") else { return nil }
            i += 1
            var out: [Range<Int>] = []
            var depth = 0, inString = false, escaped = false
            skipSpace()
            var start = i
            // The element from `start` to `i` (trailing blanks cut), then past the separator.
            func closeElement() {
                var end = i
                while end > start, [0x20, 0x0a, 0x0d, 0x09].contains(b[end - 1]) { end -= 1 }
                out.append(start..<end)
                i += 1
                skipSpace()
            }
            if i < b.count, b[i] == UInt8(ascii: "]") { return [] }
            while i < b.count {
                let c = b[i]
                if inString {
                    if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                } else {
                    switch c {
                    case UInt8(ascii: "\""): inString = true
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"): depth -= 1
                    case UInt8(ascii: "]") where depth == 0:
                        closeElement()
                        return i == b.count ? out : nil
                    case UInt8(ascii: "]"): depth -= 1
                    case UInt8(ascii: ",") where depth == 0:
                        closeElement()
                        start = i
                        continue
                    default: break
                    }
                    if depth < 0 { return nil }
                }
                i += 1
            }
            return nil
        }
    }

    /// The `schemaVersion` a record's JSON declares at its top level, read without decoding it
    /// (the first `"schemaVersion"` key; vbench writes keys sorted, before `tags`), or nil.
    public static func declaredSchemaVersion(_ json: some StringProtocol) -> Int? {
        guard let key = json.firstRange(of: "\"schemaVersion\"") else { return nil }
        var digits = ""
        var seenColon = false
        for ch in json[key.upperBound...] {
            if ch == " " || ch == "\n" || ch == "\t" || ch == "\r" { if digits.isEmpty { continue } else { break } }
            if ch == ":" && !seenColon && digits.isEmpty { seenColon = true; continue }
            guard seenColon, ch.isASCII, ch.isNumber else { break }
            digits.append(ch)
            if digits.count > 3 { return nil }
        }
        return Int(digits)
    }

    /// The known workload families.
    public static let families: Set<String> = ["blk", "net", "mem"]

    /// What makes a decoded record unfit to store, or nil when it is sound: a known family,
    /// at least one workload whose kind matches it, repetitions present and numbered, finite
    /// non-negative metrics, times in order, and sizes a benchmark run can have.
    public func problem() -> String? {
        guard Self.families.contains(family) else { return "family '\(family)' is not one of blk, net, mem" }
        guard !workloads.isEmpty else { return "the record holds no workloads" }
        guard workloads.count <= 1_000 else { return "\(workloads.count) workloads (at most 1000)" }
        guard endTime >= startTime else { return "endTime is before startTime" }
        guard tags.count <= 256, tags.allSatisfy({ $0.key.utf8.count <= 256 && $0.value.utf8.count <= 4096 }) else {
            return "too many or too long tags (at most 256, keys up to 256 bytes, values up to 4096)"
        }
        for w in workloads {
            if w.spec.kind != family {
                return "workload '\(w.name)' is a \(w.spec.kind) workload in a \(family) record"
            }
            guard !w.repetitions.isEmpty else { return "workload '\(w.name)' has no repetitions" }
            guard w.repetitions.count <= 10_000 else { return "workload '\(w.name)' has \(w.repetitions.count) repetitions (at most 10000)" }
            for (i, rep) in w.repetitions.enumerated() {
                guard rep.index == i else { return "workload '\(w.name)': repetition \(i) says index \(rep.index)" }
                for (key, value) in rep.metrics where !value.isFinite || value < 0 {
                    return "workload '\(w.name)' repetition \(i): metric \(key) is \(value) (must be finite and not negative)"
                }
            }
        }
        return nil
    }
}
