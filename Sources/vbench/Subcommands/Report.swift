import ArgumentParser
import Foundation
import VBenchCore
import VBenchProbe
import VBenchReport
import VBenchStore
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
                metrics and missing baselines; the probe's advice where an emulated device was
                measured. Formats: text, markdown, html (self-contained, SVG charts), json, csv.
                """)

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var selection: SelectionOptions

        @Option(help: ArgumentHelp("Read records from this file or folder (a lab run's records.json) instead of the store.", valueName: "path"))
        var from: String?

        @Option(help: ArgumentHelp("text, markdown, html, json or csv.", valueName: "format"))
        var format: String = "text"

        @Option(help: ArgumentHelp("Write the report to this file (atomically) instead of standard output.", valueName: "path"))
        var output: String?

        @Option(name: .customLong("cov-threshold"), help: ArgumentHelp("Mark metrics whose coefficient of variation is above this many percent.", valueName: "percent"))
        var covThreshold: Double = 10

        func validate() throws {
            guard ["text", "markdown", "html", "json", "csv"].contains(format) else {
                throw ValidationError("--format must be text, markdown, html, json or csv; got \(format)")
            }
            guard covThreshold > 0 && covThreshold < 1000 else { throw ValidationError("--cov-threshold is a percentage in (0, 1000); got \(covThreshold)") }
        }

        func run() throws {
            let query = try selection.query()
            let records: [RunRecord]
            let described: String
            if let path = from {
                records = try RunSelection.parse(path, common: query).records(store: { try storeOptions.open() }, common: query)
                described = path
            } else {
                let store = try storeOptions.open()
                records = try store.runs(query).compactMap { try store.record($0.runId) }
                described = CommandLine.arguments.dropFirst(2).joined(separator: " ").isEmpty ? "all runs" : CommandLine.arguments.dropFirst(2).joined(separator: " ")
            }
            guard !records.isEmpty else {
                throw fail("no runs match\(from.map { " in \($0)" } ?? ""); check the filters (vbench runs list takes the same ones)", code: VBenchExit.error)
            }
            var advice: [String] = []
            for r in records where r.role == .guest && r.device.deviceClass == .emulated {
                if let a = Advisor.advice(for: r.device, hypervisor: r.environment.hypervisor.vendor), !advice.contains(a.message) { advice.append(a.message) }
            }
            let report = ReportBuilder.build(records, selection: described, covThreshold: covThreshold / 100, advice: advice)
            let text: String
            switch format {
            case "markdown": text = ReportRender.markdown(report)
            case "html": text = HTMLRender.page(report)
            case "csv": text = ReportRender.csv(report)
            case "json":
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                text = String(decoding: try enc.encode(report), as: UTF8.self) + "\n"
            default: text = ReportRender.text(report)
            }
            if let path = output {
                try AtomicFile.write(Array(text.utf8), to: path, replace: true)
                note("report (\(format), \(records.count) runs) written to \(path)")
            } else {
                print(text, terminator: "")
            }
        }
    }
}
