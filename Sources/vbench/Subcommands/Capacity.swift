import ArgumentParser
import VBenchGuestCLI
import Foundation
import VBenchCore
import VBenchReport
import VBenchStore
import VBenchStoreAPI
import VBenchSystem

extension VBench {
    /// `vbench capacity`: how many guests of a profile one host carries, and what binds first.
    struct Capacity: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Estimate how many guests of a profile one host carries, which resource binds first, and the headroom.",
            discussion: """
                From the guest and native runs the filters select (or --from a records file): per
                --need and guest device model, the bounds from the host's device (its native run),
                the host's CPU (the cost per operation a saturated guest shows), one guest's own
                maximum and, with --p99-max, its tail latency. The model and its assumptions are
                printed with the answer.
                """)

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var selection: SelectionOptions

        @Option(help: ArgumentHelp("Read records from this file or folder instead of the store.", valueName: "path"))
        var from: String?

        @Option(name: .customLong("need"), help: ArgumentHelp("What each guest needs: family.workload.metric=VALUE, e.g. blk.randread.iops=5000, net.stream.bps=1e9, mem.triad.bw=2e9 (repeatable).", valueName: "need"))
        var needs: [String] = []

        @Option(name: .customLong("p99-max"), help: ArgumentHelp("Largest acceptable p99 latency (e.g. 2ms, 500us).", valueName: "duration"))
        var p99Max: String?

        @Option(name: .customLong("host-cores"), help: ArgumentHelp("Cores of the host (default: the native runs' online CPUs, else this machine's).", valueName: "n"))
        var hostCores: Int?

        @Option(help: ArgumentHelp("text, markdown, html (with the sweep's USL curve) or json.", valueName: "format"))
        var format: String = "text"

        @Option(help: ArgumentHelp("Write to this file (atomically) instead of standard output.", valueName: "path"))
        var output: String?

        @Option(name: .customLong("group-by"), help: ArgumentHelp("One plan per host (collector), hypervisor, kernel or device class.", valueName: "key"))
        var groupBy: GroupKey?

        static func duration(_ text: String) -> Double? {
            let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)]
            for (u, scale) in units where text.hasSuffix(u) {
                if let v = Double(text.dropLast(u.count)), v > 0 { return v * scale }
            }
            return nil
        }

        func validate() throws {
            guard !needs.isEmpty else { throw ValidationError("--need is required, e.g. --need blk.randread.iops=5000") }
            for n in needs { if case .failure(let e) = CapacityNeed.parse(n) { throw ValidationError(e.description) } }
            if let p = p99Max, Self.duration(p) == nil { throw ValidationError("--p99-max must be a duration such as 2ms or 500us; got '\(p)'") }
            if let c = hostCores, !(1...4096).contains(c) { throw ValidationError("--host-cores must be 1…4096; got \(c)") }
            guard ["text", "markdown", "html", "json"].contains(format) else { throw ValidationError("--format must be text, markdown, html or json; got \(format)") }
            if groupBy != nil && format == "html" {
                throw ValidationError("--group-by makes one plan per group; html holds one: select a group (--host, --kernel, …) or use markdown")
            }
        }

        func run() throws {
            let query = try selection.query()
            // Only what the plan reads: per run its keys and the means of the needs' metrics and
            // of tail latency (from a store, its summary rows; no records built).
            let wanted = CapacityPlanner.metrics(needs.compactMap { try? CapacityNeed.parse($0).get() })
            let records: [CompareRun]
            if let path = from {
                records = try RunSelection.parse(path, common: query).records(store: { try storeOptions.open() }, common: query)
                    .map { CompareRun($0, metrics: wanted) }
            } else {
                records = try storeOptions.open().compareRuns(query, metrics: wanted)
            }
            guard !records.isEmpty else { throw VBenchFailure(.error, "no runs match; check the filters (vbench runs list takes the same ones)") }
            var parts: [String] = []
            var answered = false
            var warnings: [String] = []
            for (value, group) in RunGrouping.partition(records, by: groupBy) {
                // A native run's CPUs, where recorded (an imported fio or iperf3 result says 0).
                let cores = hostCores ?? group.first { $0.role == .native && $0.onlineCpus > 0 }?.onlineCpus ?? ProcessInfo.processInfo.activeProcessorCount
                let plan = CapacityPlanner.plan(group, needs: needs.compactMap { try? CapacityNeed.parse($0).get() }, hostCores: cores,
                                                p99MaxNs: p99Max.flatMap(Self.duration))
                answered = answered || !plan.answers.isEmpty
                warnings += plan.warnings
                var body: String
                switch format {
                case "markdown": body = CapacityRender.markdown(plan)
                case "html": body = CapacityRender.html(plan)
                case "json":
                    let enc = JSONEncoder()
                    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                    body = String(decoding: try enc.encode(plan), as: UTF8.self)
                    if let value, let key = groupBy {
                        body = GroupedOutput.json(key: key.rawValue, value: value, field: "plan", body)
                    } else {
                        body += "\n"
                    }
                default: body = CapacityRender.text(plan)
                }
                if let value, let key = groupBy, format != "json" {
                    body = GroupedOutput.heading(key: key.rawValue, value: value, markdown: format == "markdown") + body + "\n"
                }
                parts.append(body)
            }
            let text = groupBy != nil && format == "json" ? GroupedOutput.jsonArray(parts) : parts.joined()
            if let path = output {
                try AtomicFile.write(Array(text.utf8), to: path, replace: true)
                note("capacity plan (\(format)) written to \(path)")
            } else {
                print(text, terminator: "")
            }
            if !answered { throw VBenchFailure(.error, "nothing to plan from: \(warnings.joined(separator: "; "))") }
        }
    }
}
