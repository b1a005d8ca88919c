import FoundationEssentials
import VBenchCore
import VBenchWire

/// Records that were not acknowledged, one JSON file per run id in a folder (results/spool/).
/// Writing a file is atomic (temporary file, fsync, rename): a crash leaves the old state.
public struct Spool: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Adds records (a record already spooled is replaced by the same content).
    public func add(_ records: [RunRecord]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for r in records {
            let path = file(for: r.runId)
            let temp = path + ".tmp"
            try r.jsonData().write(to: URL(fileURLWithPath: temp), options: [.atomic])
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temp, toPath: path)
        }
    }

    /// Every spooled record; files that are not valid records are reported, not deleted.
    public func load() throws -> (records: [RunRecord], unreadable: [String]) {
        guard FileManager.default.fileExists(atPath: directory) else { return ([], []) }
        var records: [RunRecord] = []
        var unreadable: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() where name.hasSuffix(".json") {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path), let r = try? RunRecord.decode(data) else {
                unreadable.append(path)
                continue
            }
            records.append(r)
        }
        return (records, unreadable)
    }

    /// Removes the records that were acknowledged.
    public func remove(_ runIds: some Sequence<UUID>) throws {
        for id in runIds where FileManager.default.fileExists(atPath: file(for: id)) {
            try FileManager.default.removeItem(atPath: file(for: id))
        }
    }

    func file(for id: UUID) -> String { directory + "/" + id.uuidString.lowercased() + ".json" }
}

/// Sends records and whatever waits in the spool; keeps in the spool what was not acknowledged.
public struct Delivery: Sendable {
    public let uplink: Uplink
    public let spool: Spool

    public init(uplink: Uplink, spool: Spool) {
        self.uplink = uplink
        self.spool = spool
    }

    public struct Outcome: Sendable, Equatable {
        public var stored: Int
        public var duplicates: Int
        public var spooled: Int
        public var failure: String?
    }

    /// At-least-once: spool first, send, then remove what was acknowledged.
    public func deliver(_ records: [RunRecord]) throws -> Outcome {
        try spool.add(records)
        let pending = try spool.load().records
        var acks: [UUID: Ack.Status] = [:]
        var failure: String?
        do {
            let outcome = try uplink.deliver(pending)
            acks = outcome.acks
            if !outcome.refusals.isEmpty { failure = outcome.refusals.joined(separator: "; ") }
        } catch { failure = "\(error)" }
        try spool.remove(acks.keys)
        let left = pending.count - acks.count
        if left > 0 && failure == nil { failure = "\(left) record(s) not acknowledged" }
        return Outcome(stored: acks.values.filter { $0 == .stored }.count,
                       duplicates: acks.values.filter { $0 == .duplicate }.count, spooled: left, failure: failure)
    }
}
