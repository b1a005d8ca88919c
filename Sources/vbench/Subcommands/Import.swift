import ArgumentParser
import VBenchGuestCLI
import Synchronization
import Foundation
import VBenchCore
import VBenchProbe
import VBenchPostgres
import VBenchStore
import VBenchStoreAPI
import VBenchSystem

extension VBench {
    /// `vbench import`: bring vbench records and fio results into the store.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add RunRecord JSON files, lab records.json arrays and folders, fio --output-format=json or iperf3 -J results to the store.",
            discussion: """
                A file may hold one RunRecord or an array of them (a lab run's records.json); a
                folder is searched for *.json files holding records (other JSON files in it are
                skipped with a note). Records of schema version 1 and 2 are read; records are
                stored in batches of 256, each batch in one transaction. A bad element of an
                array is named by its index; the records before it are stored (each whole: a
                second import skips them as duplicates).

                fio results become one record per file, one workload per fio job, tagged
                imported=fio. iperf3 client results (-J) become one record with one network
                stream workload, tagged imported=iperf3. Without --here the machine is unknown
                (class unknown); with --here the environment comes from probing this machine,
                and the device from fio's disk_util or the interface holding iperf3's local
                address (or --device).
                """
        )

        @OptionGroup var storeOptions: StoreOptions

        @Flag(help: "fio ran on this machine: take the environment and the device from the probe.")
        var here = false

        @Flag(help: "Mark imported fio and iperf3 runs as the native baseline.")
        var native = false

        @Option(help: ArgumentHelp("With --here: the disk or interface the imported tool used, when its output does not name it.", valueName: "name"))
        var device: String?

        @Option(name: .customLong("tag"), help: ArgumentHelp("A label for imported fio and iperf3 runs (repeatable).", valueName: "key=value"))
        var tags: [String] = []

        @Option(name: .customLong("host-label"), help: ArgumentHelp("Store the runs as received by this collector (default: this host's name), e.g. when bringing in another host's lab results.", valueName: "name"))
        var hostLabel: String?

        @Argument(help: ArgumentHelp("Files or folders to import.", valueName: "path"))
        var files: [String]

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("name at least one file to import") }
            for t in tags where !t.contains("=") { throw ValidationError("--tag must be key=value; got '\(t)'") }
            if let h = hostLabel, h.isEmpty || h.count > 200 { throw ValidationError("--host-label must be 1…200 characters") }
            if device != nil && !here { throw ValidationError("--device names a device of this machine: use it with --here") }
        }

        func run() throws {
            let store = try RunStores.open(try StoreLocation(storeOptions.store), create: true)
            defer { store.close() }
            var tagMap: [String: String] = [:]
            for t in tags {
                let p = t.split(separator: "=", maxSplits: 1)
                tagMap[String(p[0])] = p.count > 1 ? String(p[1]) : ""
            }
            var failed = false
            var counts: [StoreOutcome: Int] = [:]
            var pending: [(file: String, record: RunRecord, json: String?)] = []
            let host = hostLabel ?? hostName(), kernel = Signals.kernelRelease()
            let receipt = { (file: String, json: String?) in
                Receipt(peer: "import:\(file)", receivedAt: Date(), collectorHost: host, collectorKernel: kernel, receivedJSON: json)
            }
            func flush() throws {
                guard !pending.isEmpty else { return }
                let outcomes = try store.store(batch: pending.map { ($0.record, receipt($0.file, $0.json)) })
                for (item, outcome) in zip(pending, outcomes) {
                    counts[outcome, default: 0] += 1
                    let n = item.record.workloads.count
                    print("\(item.file): \(item.record.runId.uuidString.prefix(8).lowercased()) \(outcome.rawValue) (\(item.record.tool.name), \(n) workload\(n == 1 ? "" : "s"))")
                }
                pending.removeAll(keepingCapacity: true)
            }
            for (file, explicit) in try expand(files) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    note("cannot read \(file); skipped")
                    failed = true
                    continue
                }
                do {
                    // Records come in chunks and are stored as they come: memory holds one chunk
                    // (a decoded histogram is far larger than its compact text), not the file.
                    var any = false
                    try forEachChunk(in: data, file: file, tags: tagMap, folderMember: !explicit) { chunk in
                        for (record, json) in chunk {
                            any = true
                            pending.append((file, record, json))
                            if pending.count >= 256 { try flush() }
                        }
                    }
                    if !any && !explicit {
                        note("\(file) holds no records; skipped")
                        continue
                    }
                } catch {
                    note("\(error)")
                    failed = true
                }
            }
            do { try flush() } catch {
                note("\(error)")
                failed = true
            }
            if counts.values.reduce(0, +) > 1 {
                note("imported \(counts[.stored] ?? 0) run(s), \(counts[.duplicate] ?? 0) already stored")
            }
            if failed { throw VBenchExit.error }
        }

        /// The files to read: each named file, and each folder's *.json files (recursively,
        /// sorted), marked as not named explicitly.
        private func expand(_ paths: [String]) throws -> [(String, Bool)] {
            var out: [(String, Bool)] = []
            for path in paths {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw ValidationError("no file or folder at \(path)")
                }
                guard isDirectory.boolValue else { out.append((path, true)); continue }
                let members = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? [])
                    .filter { $0.hasSuffix(".json") }.sorted()
                guard !members.isEmpty else { throw ValidationError("the folder \(path) holds no .json files") }
                out += members.map { (path + "/" + $0, false) }
            }
            return out
        }

        /// The records of a file, each with its JSON text when that is compact (stored as is,
        /// not encoded again).
        private func forEachChunk(in data: Data, file: String, tags: [String: String], folderMember: Bool,
                                  emit: ([(RunRecord, String?)]) throws -> Void) throws {
            try emit(try records(in: data, file: file, tags: tags, folderMember: folderMember, chunked: emit))
        }

        /// Returns the records of a file; an array's records go to `chunked` in chunks of 256
        /// (decoded on every core) and are not returned.
        private func records(in data: Data, file: String, tags: [String: String], folderMember: Bool,
                             chunked: ([(RunRecord, String?)]) throws -> Void) throws -> [(RunRecord, String?)] {
            let head = String(decoding: data.prefix(4096), as: UTF8.self)
            if head.contains("\"schemaVersion\"") {
                @Sendable func one(_ bytes: Data) throws(RecordError) -> (RunRecord, String?) {
                    let record = try RunRecord.decode(bytes)
                    let compact = !bytes.contains(0x0a)
                    return (record, compact ? String(decoding: bytes, as: UTF8.self) : nil)
                }
                guard let elements = RunRecord.arrayElements(data) else {
                    do { return [try one(data)] } catch { throw ImportError(file: file, reason: error.description) }
                }
                // Decoding is most of an import's work: each chunk's elements are decoded on every core.
                for start in stride(from: 0, to: elements.count, by: 256) {
                    let part = Array(elements[start..<min(start + 256, elements.count)])
                    let results = Mutex([Result<(RunRecord, String?), ImportError>?](repeating: nil, count: part.count))
                    DispatchQueue.concurrentPerform(iterations: part.count) { i in
                        let result: Result<(RunRecord, String?), ImportError>
                        do { result = .success(try one(data.subdata(in: part[i]))) } catch {
                            result = .failure(ImportError(file: file, reason: "element \(start + i) of the array: \(error)"))
                        }
                        results.withLock { $0[i] = result }
                    }
                    try chunked(try results.withLock { $0 }.map { try $0!.get() })
                }
                return []
            }
            if folderMember { return [] }  // a lab summary or another tool's JSON beside the records
            let unknown = Environment(hostname: "unknown", kernelRelease: "unknown", cpuModel: "unknown", onlineCpus: 0,
                                      memoryBytes: 0, numaNodes: 0, hypervisor: HypervisorInfo(vendor: .unknown))
            let fs = RootedFileSystem()
            let environment = here ? SystemProbe(fs: fs).environment() : unknown
            let inventory = DeviceInventory(fs: fs, hypervisor: environment.hypervisor.vendor)
            let role: RunRole = native ? .native : .guest
            if head.contains("\"fio version\"") {
                var device: DeviceInfo?
                if here, let name = self.device ?? (try? JSONDecoder().decode(DiskNames.self, from: data))?.diskUtil?.first?.name {
                    device = inventory.disk(named: name)
                    if device == nil { throw ImportError(file: file, reason: "this machine has no disk '\(name)' (see vbench probe)") }
                }
                return try FioImport.records(from: data, file: file, environment: environment, device: device, role: role, tags: tags).map { ($0, nil) }
            }
            if IperfImport.looksLikeIperf(head) {
                var device: DeviceInfo?
                if here, let name = self.device ?? IperfImport.localAddress(in: data).flatMap(Interfaces.name(holding:)) {
                    device = inventory.nic(named: name)
                    if device == nil { throw ImportError(file: file, reason: "this machine has no interface '\(name)' (see vbench probe)") }
                }
                return try IperfImport.records(from: data, file: file, environment: environment, device: device, role: role, tags: tags).map { ($0, nil) }
            }
            throw ImportError(file: file, reason: "neither a RunRecord, fio --output-format=json nor iperf3 -J output")
        }

        struct DiskNames: Decodable {
            struct Disk: Decodable { var name: String }
            var diskUtil: [Disk]?
            enum CodingKeys: String, CodingKey { case diskUtil = "disk_util" }
        }
    }
}
