import FoundationEssentials
import VBenchCore
import VBenchWire
import VBenchSystem

/// Records that were not acknowledged, one JSON file per run id in a folder (results/spool/).
/// Each file is written through `AtomicFile`: a temporary file, fsync, rename over the old one,
/// fsync of the folder. A crash at any point leaves the old file or the new one, whole, and
/// never a moment with neither; removing an acknowledged record is made durable the same way.
public struct Spool: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Adds records (a record already spooled is replaced by the same content). Stops at the
    /// first record that cannot be written (a full disk, say) and names it: the records spooled
    /// before, in this call or earlier, stay as they were.
    public func add(_ records: [RunRecord]) throws(SpoolError) {
        do { try AtomicFile.makeDirectories(directory) } catch { throw SpoolError(directory: directory, runId: nil, reason: "\(error)") }
        for r in records {
            let data: Data
            do { data = try r.jsonData() } catch { throw SpoolError(directory: directory, runId: r.runId, reason: "\(error)") }
            do { try AtomicFile.write(Array(data), to: file(for: r.runId), replace: true) } catch {
                throw SpoolError(directory: directory, runId: r.runId, reason: "\(error)")
            }
        }
    }

    /// Every spooled record; files that are not valid records are reported, not deleted.
    /// A temporary file a writer left behind (killed between its write and the rename) is put in
    /// place when it holds a whole record that is not spooled already, and removed otherwise:
    /// a half-written temporary file holds nothing that was ever reported spooled.
    public func load() throws -> (records: [RunRecord], unreadable: [String]) {
        let fm = FileManager.default
        guard fm.fileExists(atPath: directory) else { return ([], []) }
        var names = try fm.contentsOfDirectory(atPath: directory).sorted()
        var recovered = false
        for name in names {
            // .json.tmp: the spool before 2026-12-06; .json.tmp-PID: AtomicFile's, of a process that is gone.
            let legacy = name.hasSuffix(".json.tmp")
            guard legacy || (name.contains(".json.tmp-") && AtomicFile.isStaleTemporary(name)) else { continue }
            let path = directory + "/" + name
            let final = directory + "/" + String(name[..<(name.firstRange(of: ".json.tmp")?.lowerBound ?? name.endIndex)]) + ".json"
            if !fm.fileExists(atPath: final), let data = fm.contents(atPath: path), (try? RunRecord.decode(data)) != nil {
                try fm.moveItem(atPath: path, toPath: final)
                recovered = true
            } else {
                try? fm.removeItem(atPath: path)
            }
        }
        if recovered {
            try AtomicFile.syncFolder(directory)
            names = try fm.contentsOfDirectory(atPath: directory).sorted()
        }
        var records: [RunRecord] = []
        var unreadable: [String] = []
        for name in names where name.hasSuffix(".json") {
            let path = directory + "/" + name
            guard let data = fm.contents(atPath: path), let r = try? RunRecord.decode(data) else {
                unreadable.append(path)
                continue
            }
            records.append(r)
        }
        return (records, unreadable)
    }

    /// Removes the records that were acknowledged, durably.
    public func remove(_ runIds: some Sequence<UUID>) throws {
        var removed = false
        for id in runIds where FileManager.default.fileExists(atPath: file(for: id)) {
            try FileManager.default.removeItem(atPath: file(for: id))
            removed = true
        }
        if removed { try AtomicFile.syncFolder(directory) }
    }

    func file(for id: UUID) -> String { directory + "/" + id.uuidString.lowercased() + ".json" }
}

/// A record that could not be spooled, and why; what was spooled before is untouched.
public struct SpoolError: CausedError, Sendable {
    public var cause: FailureCause { .error }
    public var directory: String
    public var runId: UUID?
    public var reason: String
    public var description: String {
        let what = runId.map { "record \($0.uuidString.lowercased())" } ?? "records"
        return "cannot spool \(what) in \(directory): \(reason); free space there or spool elsewhere (--spool DIR, or --out DIR for run); the records spooled before are kept"
    }
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
