import ArgumentParser
import FoundationEssentials
import VBenchCore
import VBenchProbe
import VBenchPostgres
import VBenchStore
import VBenchSystem

extension VBench {
    /// `vbench import`: bring vbench records and fio results into the store.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add RunRecord JSON files, fio --output-format=json or iperf3 -J results to the store.",
            discussion: """
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

        @Argument(help: ArgumentHelp("Files to import.", valueName: "file"))
        var files: [String]

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("name at least one file to import") }
            for t in tags where !t.contains("=") { throw ValidationError("--tag must be key=value; got '\(t)'") }
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
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    note("cannot read \(file); skipped")
                    failed = true
                    continue
                }
                do {
                    for record in try records(in: data, file: file, tags: tagMap) {
                        let outcome = try store.store(record, receipt: Receipt(peer: "import:\(file)", receivedAt: Date(),
                                                                               collectorHost: hostName(), collectorKernel: Signals.kernelRelease()))
                        let n = record.workloads.count
                        print("\(file): \(record.runId.uuidString.prefix(8).lowercased()) \(outcome.rawValue) (\(record.tool.name), \(n) workload\(n == 1 ? "" : "s"))")
                    }
                } catch {
                    note("\(error)")
                    failed = true
                }
            }
            if failed { throw VBenchExit.error }
        }

        private func records(in data: Data, file: String, tags: [String: String]) throws -> [RunRecord] {
            let head = String(decoding: data.prefix(4096), as: UTF8.self)
            if head.contains("\"schemaVersion\"") {
                return [try RunRecord.decode(data)]
            }
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
                return try FioImport.records(from: data, file: file, environment: environment, device: device, role: role, tags: tags)
            }
            if IperfImport.looksLikeIperf(head) {
                var device: DeviceInfo?
                if here, let name = self.device ?? IperfImport.localAddress(in: data).flatMap(Interfaces.name(holding:)) {
                    device = inventory.nic(named: name)
                    if device == nil { throw ImportError(file: file, reason: "this machine has no interface '\(name)' (see vbench probe)") }
                }
                return try IperfImport.records(from: data, file: file, environment: environment, device: device, role: role, tags: tags)
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
