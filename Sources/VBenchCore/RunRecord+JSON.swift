import FoundationEssentials

/// Why a record could not be read.
public enum RecordError: Error, Equatable, CustomStringConvertible {
    case unsupportedSchemaVersion(Int)
    case malformed(String)

    public var description: String {
        switch self {
        case .unsupportedSchemaVersion(let v):
            "record schema version \(v) is not supported by vbench \(VBenchVersion.current) (it reads version \(RunRecord.currentSchemaVersion)); upgrade vbench"
        case .malformed(let why):
            "record is not valid RunRecord JSON: \(why)"
        }
    }
}

extension RunRecord {
    /// JSON with sorted keys and ISO 8601 times: pretty-printed for files and people, compact
    /// (about half the bytes) for the wire and the store.
    public func jsonData(pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
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
        guard version.schemaVersion == currentSchemaVersion else {
            throw .unsupportedSchemaVersion(version.schemaVersion)
        }
        do { return try decoder.decode(RunRecord.self, from: data) } catch {
            throw .malformed("\(error)")
        }
    }
}
