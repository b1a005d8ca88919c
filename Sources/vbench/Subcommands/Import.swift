import ArgumentParser
import FoundationEssentials
import VBenchCore
import VBenchProbe
import VBenchStore
import VBenchSystem

extension VBench {
    /// `vbench import`: bring vbench records and fio results into the store.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add RunRecord JSON files, or fio --output-format=json results, to the store.",
            discussion: """
                fio results become one record per file, one workload per fio job, tagged
                imported=fio. Without --here the machine is unknown (class unknown); with --here
                the environment and the disk fio names come from probing this machine.
                """
        )

        @OptionGroup var storeOptions: StoreOptions

        @Flag(help: "fio ran on this machine: take the environment and the device from the probe.")
        var here = false

        @Flag(help: "Mark imported fio runs as the native baseline.")
        var native = false

        @Option(name: .customLong("tag"), help: ArgumentHelp("A label for imported fio runs (repeatable).", valueName: "key=value"))
        var tags: [String] = []

        @Argument(help: ArgumentHelp("Files to import.", valueName: "file"))
        var files: [String]

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("name at least one file to import") }
            for t in tags where !t.contains("=") { throw ValidationError("--tag must be key=value; got '\(t)'") }
        }

        func run() throws {
            let store = try SQLiteRunStore(path: storeOptions.store)
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
                        print("\(file): \(record.runId.uuidString.prefix(8).lowercased()) \(outcome.rawValue) (\(record.tool.name), \(record.workloads.count) workloads)")
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
            if head.contains("\"fio version\"") {
                var environment = Environment(hostname: "unknown", kernelRelease: "unknown", cpuModel: "unknown", onlineCpus: 0,
                                              memoryBytes: 0, numaNodes: 0, hypervisor: HypervisorInfo(vendor: .unknown))
                var device: DeviceInfo?
                if here {
                    let fs = RootedFileSystem()
                    environment = SystemProbe(fs: fs).environment()
                    let fio = try? JSONDecoder().decode(DiskNames.self, from: data)
                    if let name = fio?.diskUtil?.first?.name {
                        device = DeviceInventory(fs: fs, hypervisor: environment.hypervisor.vendor).disk(named: name)
                    }
                }
                return try FioImport.records(from: data, file: file, environment: environment, device: device,
                                             role: native ? .native : .guest, tags: tags)
            }
            if head.contains("\"intervals\"") && head.contains("\"start\"") {
                throw ImportError(file: file, reason: "iperf3 results are imported once the network harness exists (it brings the net record model); not imported")
            }
            throw ImportError(file: file, reason: "neither a RunRecord nor fio JSON output")
        }

        struct DiskNames: Decodable {
            struct Disk: Decodable { var name: String }
            var diskUtil: [Disk]?
            enum CodingKeys: String, CodingKey { case diskUtil = "disk_util" }
        }
    }
}
