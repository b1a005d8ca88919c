import ArgumentParser
import VBenchGuestCLI
import FoundationEssentials
import VBenchCore
import VBenchPostgres
import VBenchStore
import VBenchStoreAPI

extension VBench.Runs {
    /// `vbench runs migrate --from results/vbench.sqlite --to postgres://…`
    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every run of one store into another (a host's SQLite into the fleet's PostgreSQL).",
            discussion: """
                Runs are copied whole with their receipts (which collector received them, when,
                from which peer), a batch per transaction, in run id order. Runs the destination
                has already are left alone and counted as such, so migrating again, or after an
                interruption, stores nothing twice. Afterwards every source run id is looked up
                in the destination; the source is never changed.
                Exit: 0 all runs are in the destination, 1 some are not or a store failed, 64 usage.
                """)

        @Option(help: ArgumentHelp("The store to copy from (a SQLite file or postgres://…).", valueName: "path|url"))
        var from: String

        @Option(help: ArgumentHelp("The store to copy into; a PostgreSQL database or a SQLite file, created when missing.", valueName: "path|url"))
        var to: String

        @Option(help: ArgumentHelp("Runs per transaction.", valueName: "n"))
        var batch: Int = 200

        func validate() throws {
            let source: StoreLocation, destination: StoreLocation
            do { source = try StoreLocation(from) } catch { throw ValidationError("--from: \(error.reason)") }
            do { destination = try StoreLocation(to) } catch { throw ValidationError("--to: \(error.reason)") }
            guard source != destination else { throw ValidationError("--from and --to name the same store (\(from))") }
            if case .sqlite(let path) = source, !FileStatusCheck.exists(path) {
                throw ValidationError("--from: no results store at \(path)")
            }
            guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be 1…10000; got \(batch)") }
        }

        func run() throws {
            let source: any RunStore, destination: any RunStore
            do {
                source = try RunStores.open(try StoreLocation(from), create: false)
                destination = try RunStores.open(try StoreLocation(to), create: true)
            } catch {
                throw VBenchFailure(.error, "\(error)")
            }
            defer { source.close(); destination.close() }
            var after: UUID?
            var read = 0, stored = 0, already = 0
            var missing: [UUID] = []
            let live = ProgressLine()
            while true {
                let page: [StoredRun]
                do { page = try source.export(after: after, limit: batch) } catch {
                    live.clear()
                    throw VBenchFailure(.error, "reading \(source.location) after run \(after.map { $0.uuidString.lowercased() } ?? "(start)"): \(error); nothing after it was copied; run again to continue")
                }
                if page.isEmpty { break }
                do {
                    let outcomes = try destination.store(batch: page.map { ($0.record, $0.receipt) })
                    stored += outcomes.filter { $0 == .stored }.count
                    already += outcomes.filter { $0 == .duplicate }.count
                } catch {
                    live.clear()
                    throw VBenchFailure(.error, "writing \(destination.location): \(error); \(stored) runs were copied before this batch; run again to continue (copied runs are not copied twice)")
                }
                let ids = page.map(\.record.runId)
                let present = try destination.contains(ids)
                missing += ids.filter { !present.contains($0) }
                read += page.count
                after = page.last?.record.runId
                live.show("runs read \(read), stored \(stored), already there \(already)")
            }
            live.clear()
            print("migrated \(read) runs from \(source.location) to \(destination.location): \(stored) stored, \(already) already there")
            guard missing.isEmpty else {
                throw VBenchFailure(.error, "\(missing.count) runs of the source are not in the destination after the copy (first: \(missing[0].uuidString.lowercased()))")
            }
            print("verified: all \(read) source runs are in the destination")
        }
    }
}
