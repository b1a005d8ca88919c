import ArgumentParser
import VBenchGuestCLI
import Foundation
import VBenchCore
import VBenchProbe
import VBenchReport
import VBenchStore
import VBenchStoreAPI
import VBenchSystem

extension VBench {
    /// `vbench report`: guest against native, virtio against emulated, over stored runs.
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report guest vs native ratios with 95 % intervals and virtio vs emulated side by side.",
            discussion: """
                Over the runs the filters select (or a records file with --from): per workload,
                device and metric, the guest value, the native baseline, the ratio with its 95 %
                interval, the ratio to the paravirtual device, n and CoV; warnings for noisy
                metrics and missing baselines; ⚠ beside numbers measured under a costly
                configuration the guest audit warned about (emulated device, slow clocksource,
                a scheduler on a paravirtual disk), with how many runs carried it; the probe's
                advice where an emulated device was measured. Formats: text, markdown, html (self-contained, SVG charts), json, csv.
                """)

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var selection: SelectionOptions

        @Option(help: ArgumentHelp("Read records from this file or folder (a lab run's records.json) instead of the store.", valueName: "path"))
        var from: String?

        @Option(help: ArgumentHelp("text, markdown, html, json or csv.", valueName: "format"))
        var format: String = "text"

        @Option(help: ArgumentHelp("Write the report to this file (atomically) instead of standard output.", valueName: "path"))
        var output: String?

        @Option(name: .customLong("group-by"), help: ArgumentHelp("One section per host (collector), hypervisor, kernel or device class; native runs are every group's baseline.", valueName: "key"))
        var groupBy: GroupKey?

        @Option(name: .customLong("cov-threshold"), help: ArgumentHelp("Mark metrics whose coefficient of variation is above this many percent.", valueName: "percent"))
        var covThreshold: Double = 10

        func validate() throws {
            guard ["text", "markdown", "html", "json", "csv"].contains(format) else {
                throw ValidationError("--format must be text, markdown, html, json or csv; got \(format)")
            }
            if groupBy != nil && format == "html" {
                throw ValidationError("--group-by makes one report per group; html holds one: select a group (--host, --kernel, …) or use markdown")
            }
            guard covThreshold > 0 && covThreshold < 1000 else { throw ValidationError("--cov-threshold is a percentage in (0, 1000); got \(covThreshold)") }
        }

        func run() throws {
            let query = try selection.query()
            let inputs: [(value: String?, input: ReportInput)]
            let described: String
            let metricKeys = { (family: String) in ReportBuilder.metrics(family: family).map(\.key) }
            if let path = from {
                let records = try RunSelection.parse(path, common: query).records(store: { try storeOptions.open() }, common: query)
                inputs = ReportFacts(records: records, metrics: metricKeys, partition: groupBy.map { key in { key.partition.value($0) } })
                    .inputs(by: groupBy?.partition)
                described = path
            } else {
                // Grouped in SQL: the store sends one row per group and metric, never the runs.
                let keys = Array(Set(["blk", "net", "mem"].flatMap(metricKeys))).sorted()
                inputs = try storeOptions.open().reportFacts(query, metrics: keys, partition: groupBy?.partition,
                                                             latency: format == "html" || format == "json").inputs(by: groupBy?.partition)
                described = CommandLine.arguments.dropFirst(2).joined(separator: " ").isEmpty ? "all runs" : CommandLine.arguments.dropFirst(2).joined(separator: " ")
            }
            let total = inputs.reduce(0) { $0 + $1.input.runs }
            guard total > 0 else {
                throw VBenchFailure(.error, "no runs match\(from.map { " in \($0)" } ?? ""); check the filters (vbench runs list takes the same ones)")
            }
            var texts: [(String, String)] = []
            var jsonGroups: [String] = []
            for (value, input) in inputs {
                var advice: [String] = []
                for (device, hypervisor) in input.emulated {
                    if let a = Advisor.advice(for: device, hypervisor: hypervisor), !advice.contains(a.message) { advice.append(a.message) }
                }
                let title = value.map { "\(described) · \(groupBy!.rawValue) \($0)" } ?? described
                let report = ReportBuilder.build(input, selection: title, covThreshold: covThreshold / 100, advice: advice)
                var body: String
                switch format {
                case "markdown": body = ReportRender.markdown(report)
                case "html": body = HTMLRender.page(report)
                case "csv": body = ReportRender.csv(report)
                case "json":
                    let enc = JSONEncoder()
                    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                    body = String(decoding: try enc.encode(report), as: UTF8.self)
                    if let value, let key = groupBy {
                        jsonGroups.append(GroupedOutput.json(key: key.rawValue, value: value, field: "report", body))
                    }
                    body += "\n"
                default: body = ReportRender.text(report)
                }
                if let value, let key = groupBy, format == "text" || format == "markdown" {
                    body = GroupedOutput.heading(key: key.rawValue, value: value, markdown: format == "markdown") + body + "\n"
                }
                texts.append((value ?? "", body))
            }
            let text: String
            if let key = groupBy {
                switch format {
                case "json": text = GroupedOutput.jsonArray(jsonGroups)
                case "csv": text = GroupedOutput.csv(texts, key: key.rawValue)
                default: text = texts.map(\.1).joined()
                }
            } else {
                text = texts.first?.1 ?? ""
            }
            if let path = output {
                try AtomicFile.write(Array(text.utf8), to: path, replace: true)
                note("report (\(format), \(total) runs) written to \(path)")
            } else {
                print(text, terminator: "")
            }
        }
    }
}
