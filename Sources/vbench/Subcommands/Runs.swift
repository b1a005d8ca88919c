import ArgumentParser
import VBenchGuestCLI
import FoundationEssentials
import VBenchCore
import VBenchReport
import VBenchPostgres
import VBenchStore
import VBenchStoreAPI

extension VBench {
    /// `vbench runs`: the stored runs.
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List, show and export stored runs.",
            subcommands: [List.self, Show.self, Export.self, Migrate.self]
        )
    }
}

/// Where the store is: a SQLite file or a PostgreSQL database.
struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The results store: a SQLite file, or postgres://USER@HOST:PORT/DATABASE (password from PGPASSWORD or a passfile, never the URL).",
                               valueName: "path|url"))
    var store: String = "results/vbench.sqlite"

    func validate() throws {
        do { _ = try StoreLocation(store) } catch { throw ValidationError(error.description) }
    }

    /// The store, which must exist already (readers).
    func open() throws -> any RunStore {
        let location = try StoreLocation(store)
        if case .sqlite(let path) = location, !FileStatusCheck.exists(path) {
            throw ValidationError("no results store at \(path); run `vbench run` first or pass --store PATH|postgres://…")
        }
        return try RunStores.open(location, create: false)
    }
}

/// Which runs.
struct SelectionOptions: ParsableArguments {
    @Option(help: "Only this family (blk).") var family: String?
    @Option(help: "Only guest or native runs.") var role: RunRole?
    @Option(name: .customLong("class"), help: "Only this device class (paravirtual, emulated, passthrough, native, virtual).")
    var deviceClass: DeviceClass?
    @Option(help: "Only devices with this driver or controller driver (virtio_blk, ata_piix, …).") var driver: String?
    @Option(help: "Only this kernel release.") var kernel: String?
    @Option(help: "Only this hypervisor (kvm, qemu-tcg, vmware, …, none).") var hypervisor: Hypervisor?
    @Option(help: ArgumentHelp("Only runs received by this collector (its --host-label, by default its host name).", valueName: "name"))
    var host: String?
    @Option(name: .customLong("tag"), help: ArgumentHelp("Only runs with this label (repeatable).", valueName: "key=value"))
    var tags: [String] = []
    @Option(help: ArgumentHelp("Only runs started at or after this time (ISO 8601).", valueName: "time")) var since: String?
    @Option(help: ArgumentHelp("Only runs started before this time (ISO 8601).", valueName: "time")) var until: String?

    func query(limit: Int? = nil) throws -> RunQuery {
        var tagMap: [String: String] = [:]
        for t in tags {
            let parts = t.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--tag must be key=value; got '\(t)'") }
            tagMap[String(parts[0])] = String(parts[1])
        }
        func date(_ text: String?, _ flag: String) throws -> Date? {
            guard let text else { return nil }
            guard let d = try? Date(text, strategy: .iso8601) else {
                throw ValidationError("\(flag) must be an ISO 8601 time such as 2026-11-27T13:00:00Z; got '\(text)'")
            }
            return d
        }
        return RunQuery(family: family, role: role, deviceClass: deviceClass, driver: driver, kernel: kernel,
                        hypervisor: hypervisor, collectorHost: host, tags: tagMap, since: try date(since, "--since"),
                        until: try date(until, "--until"), limit: limit)
    }
}

extension RunRole: ExpressibleByArgument {}
extension DeviceClass: ExpressibleByArgument {}
extension Hypervisor: ExpressibleByArgument {}

extension VBench.Runs {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List stored runs, newest first.")
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var selection: SelectionOptions
        @Option(help: "At most this many runs.") var limit: Int = 50

        func run() throws {
            let rows = try storeOptions.open().runs(try selection.query(limit: limit))
            var table = ReportTable(title: "", header: ["RUN", "STARTED", "FAMILY", "ROLE", "HYPERVISOR", "KERNEL", "DEVICE", "DRIVER", "CLASS", "HOST", "FROM"])
            for r in rows {
                table.append([String(r.runId.uuidString.prefix(8)).lowercased(), r.startTime.formatted(.iso8601), r.family,
                                   r.role.rawValue, r.hypervisor, r.kernel, r.device, r.driver ?? "-", r.deviceClass, r.collectorHost, r.peer])
            }
            print(rows.isEmpty ? "No runs match." : TableRenderer.text(table))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one stored run as its RunRecord JSON.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The run id (a full UUID, or the first 8 characters `runs list` shows).") var runId: String

        func run() throws {
            let store = try storeOptions.open()
            let id: UUID
            if let full = UUID(uuidString: runId) { id = full } else {
                let matches = try store.runs(RunQuery()).filter { $0.runId.uuidString.lowercased().hasPrefix(runId.lowercased()) }
                guard matches.count == 1 else {
                    throw ValidationError(matches.isEmpty ? "no stored run has id \(runId)"
                                                          : "\(runId) matches \(matches.count) runs; give more characters")
                }
                id = matches[0].runId
            }
            guard let record = try store.record(id) else { throw ValidationError("no stored run has id \(runId)") }
            print(String(decoding: try record.jsonData(), as: UTF8.self))
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export stored runs: JSON (an array of RunRecords) or CSV (one row per repetition and metric).")
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var selection: SelectionOptions
        @Option(help: "json or csv.") var format: ExportFormat = .json

        enum ExportFormat: String, ExpressibleByArgument, CaseIterable { case json, csv }

        func run() throws {
            let store = try storeOptions.open()
            let rows = try store.runs(try selection.query())
            switch format {
            case .json:
                let records = try rows.compactMap { try store.record($0.runId) }
                let texts = try records.map { String(decoding: try $0.jsonData(), as: UTF8.self) }
                print("[" + texts.joined(separator: ",\n") + "]")
            case .csv:
                print("run_id,start_time,role,hypervisor,kernel,device,driver,class,workload,repetition,metric,value")
                for row in rows {
                    guard let record = try store.record(row.runId) else { continue }
                    for w in record.workloads {
                        for rep in w.repetitions {
                            for (metric, value) in rep.metrics.sorted(by: { $0.key < $1.key }) {
                                let fields = [record.runId.uuidString.lowercased(), record.startTime.formatted(.iso8601),
                                              record.role.rawValue, record.environment.hypervisor.vendor.rawValue,
                                              record.environment.kernelRelease, record.device.name, record.device.driver ?? "",
                                              record.device.deviceClass.rawValue, w.name, "\(rep.index)", metric, "\(value)"]
                                print(fields.map(TableRenderer.csvField).joined(separator: ","))
                            }
                        }
                    }
                }
            }
        }
    }
}
