import ArgumentParser
import VBenchGuestCLI
import Foundation
import VBenchCore
import VBenchReport
import VBenchStore
import VBenchStoreAPI
import VBenchSystem

extension SampleUnit: ExpressibleByArgument {}
extension DriftModel: ExpressibleByArgument {}

extension VBench {
    /// `vbench compare BASELINE CANDIDATE`: regression checks with a significance test.
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two selections of runs metric by metric; exit 2 when the candidate regressed.",
            discussion: """
                Each side is a selection over the store, key=value[,key=value…] with keys family,
                role, class, driver, kernel, hypervisor, host, since, until, or any tag (lab.kernel=…),
                or a records file (results/lab/RUN/records.json) or folder. The options below
                filter both sides.

                Per workload, device driver, role and metric (IOPS, bandwidth, p99; goodput,
                transactions, connections; memory bandwidth and latency), a two-sided permutation
                test with runs as the samples (each record's mean): whatever moves a run as a whole
                is part of the spread. A regression is p < alpha and a change beyond the threshold
                in the metric's bad direction. Too few runs to reach alpha at all gives "too few
                runs" with the number needed, not a verdict. Every metric states the change it
                can detect (80 % power) at the sizes given.

                A history baseline: last=K takes the K latest runs of each machine and device
                before the candidate's first (kernel=6.1.0-55-amd64,last=30). With several
                groups of runs a side (runs.group: one vbench run --runs N each) that differ
                beyond their runs, groups are the samples, so drift between sessions is in the
                test; --drift linear fits a trend instead.

                A guest against the native host is refused: that is `vbench report` (×NATIVE).

                Exit: 0 no regression (or too few runs), 2 regression, 5 baseline missing,
                1 error, 64 usage (also a guest/native pairing).
                """)

        @Argument(help: ArgumentHelp("The baseline: key=value,… or a records file.", valueName: "baseline"))
        var baseline: String
        @Argument(help: ArgumentHelp("The candidate: key=value,… or a records file.", valueName: "candidate"))
        var candidate: String

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var selection: SelectionOptions

        @Option(help: ArgumentHelp("strict (2 %), default (5 %), relaxed (10 %), or a JSON file {\"alpha\":0.01,\"minChange\":0.05,\"metrics\":{\"latP99Ns\":0.1}}.", valueName: "preset|file"))
        var thresholds: String = "default"

        @Option(help: ArgumentHelp("Significance level (overrides the thresholds').", valueName: "p"))
        var alpha: Double?

        @Option(name: .customLong("min-change"), help: ArgumentHelp("Smallest change that counts, in percent (overrides the thresholds' default).", valueName: "percent"))
        var minChange: Double?

        @Option(name: .customLong("metric"), help: ArgumentHelp("Only this metric key (iops, bwBytesPerSec, latP99Ns, throughputBitsPerSec, …); repeatable.", valueName: "key"))
        var metrics: [String] = []

        @Option(name: .customLong("workload"), help: ArgumentHelp("Only this workload (randread-4k-qd32, stream-recv-p1-128k, …); repeatable.", valueName: "name"))
        var workloads: [String] = []

        @Option(help: ArgumentHelp("text, markdown or json.", valueName: "format"))
        var format: String = "text"

        @Option(help: ArgumentHelp("Also write the report to this file (atomically).", valueName: "path"))
        var output: String?

        @Option(help: ArgumentHelp("runs (each run's mean is a sample; groups of runs (runs.group) take over when a side has several and they differ beyond their runs; repetitions stand in only when shown to carry the run-to-run spread), groups, or repetitions (every repetition a sample, as if independent; a caveat is printed).", valueName: "unit"))
        var unit: SampleUnit = .runs

        @Option(help: ArgumentHelp("none (samples exchangeable; drift between sessions enters as their spread), linear (a trend through both sides, the change a step on top: interrupted time series, Freedman–Lane permutation) or auto (linear where the times allow).", valueName: "model"))
        var drift: DriftModel = .none

        @Option(help: ArgumentHelp("Where to learn how far a whole session shifts on this machine (for one session a side): auto (this machine's earlier runs.group sessions in the store, when the sides come from it), none, a selection or a records folder.", valueName: "source"))
        var sessions: String = "auto"

        @Option(name: .customLong("group-by"), help: ArgumentHelp("Compare each host (collector), hypervisor, kernel or device class on its own; exit 2 when any regressed.", valueName: "key"))
        var groupBy: GroupKey?

        func validate() throws {
            guard ["text", "markdown", "json"].contains(format) else { throw ValidationError("--format must be text, markdown or json; got \(format)") }
            if let a = alpha, !(a > 0 && a < 1) { throw ValidationError("--alpha must be in (0, 1); got \(a)") }
            if let m = minChange, !(m >= 0 && m < 1000) { throw ValidationError("--min-change is a percentage in [0, 1000); got \(m)") }
        }

        func loadThresholds() throws -> Thresholds {
            var t: Thresholds
            if let preset = Thresholds.preset(thresholds) {
                t = preset
            } else {
                guard let data = FileManager.default.contents(atPath: thresholds) else {
                    throw ValidationError("--thresholds \(thresholds): not strict, default or relaxed, and no readable file at that path")
                }
                do { t = try JSONDecoder().decode(Thresholds.self, from: data) } catch {
                    throw ValidationError("--thresholds \(thresholds): not a thresholds file (\(error)); expected {\"alpha\":0.01,\"minChange\":0.05,\"metrics\":{\"latP99Ns\":0.1}}")
                }
            }
            if let a = alpha { t.alpha = a }
            if let m = minChange { t.minChange = m / 100 }
            if let p = t.problem() { throw ValidationError("--thresholds \(thresholds): \(p)") }
            return t
        }

        /// Earlier sessions (runs with a runs.group) of the machines compared, started before the
        /// candidate: what `--sessions` names, or by default the store's, when a side comes from it.
        /// The metrics compare judges: --metric, else every family's defaults (what a store reads).
        var judged: [String] {
            metrics.isEmpty ? Array(Set(["blk", "net", "mem"].flatMap { Comparator.defaultMetrics(family: $0).map(\.key) })).sorted() : metrics
        }

        func sessionHistory(base: RunSelection, cand: RunSelection, baseline b: [CompareRun], candidate c: [CompareRun],
                            common: RunQuery, store: () throws -> any RunStore) throws -> [CompareRun] {
            let hosts = Set((b + c).map(\.hostname))
            let before = c.map(\.startTime).min()
            var found: [CompareRun]
            switch sessions {
            case "none": return []
            case "auto":
                guard base.query != nil || cand.query != nil else { return [] }
                // The same family and role as the sides, before the candidate; the newest 300
                // runs are enough to see how sessions shift (and reading whole records is not free).
                var q = common
                q.until = before
                q.limit = 300
                let families = Set((b + c).map(\.family)), roles = Set((b + c).map(\.role))
                if families.count == 1 { q.family = families.first }
                if roles.count == 1 { q.role = roles.first }
                do { found = try store().compareRuns(q, metrics: judged) } catch { return [] }
            default:
                let source = try RunSelection.parse(sessions, common: common)
                do { found = try source.compareRuns(store: store, common: common, metrics: judged) } catch let e as SelectionError {
                    throw SelectionError("--sessions: \(e.message)")
                }
            }
            return found.filter { r in
                r.group != nil && hosts.contains(r.hostname)
                    && (before.map { r.startTime < $0 } ?? true)
            }
        }

        func run() throws {
            let common = try selection.query()
            let t = try loadThresholds()
            let base = try RunSelection.parse(baseline, common: common)
            let cand = try RunSelection.parse(candidate, common: common)
            var opened: (any RunStore)?
            let store = { () throws -> any RunStore in
                if let s = opened { return s }
                let s = try storeOptions.open()
                opened = s
                return s
            }
            var (b, c): ([CompareRun], [CompareRun])
            do {
                b = try base.compareRuns(store: store, common: common, metrics: judged)
                c = try cand.compareRuns(store: store, common: common, metrics: judged)
            } catch let e as any CausedError {
                throw e
            } catch {
                throw VBenchFailure(.error, "reading the runs: \(error)")
            }
            if cand.last != nil { throw ValidationError("last=K selects a history baseline; put it on the baseline (the first selection)") }
            guard !c.isEmpty else { throw VBenchFailure(.error, "the candidate '\(candidate)' selects no runs; check the selection (vbench runs list takes the same filters)") }
            if let k = base.last {
                b = RunHistory.last(k, of: b, before: c.map(\.startTime).min())
            }
            if let problem = Comparator.pairingProblem(baseline: b, candidate: c) {
                throw VBenchFailure(.usage, problem)
            }
            let driftModel = drift
            let history = try sessionHistory(base: base, cand: cand, baseline: b, candidate: c, common: common, store: store)
            // A store's runs carry moments only: read the repetitions of the items that may test them.
            let onlyMetrics = metrics.isEmpty ? nil : Set(metrics), onlyWorkloads = workloads.isEmpty ? nil : Set(workloads)
            func baseGroups() -> [String: [CompareRun]] {
                Dictionary(RunGrouping.partition(b, by: groupBy).map { ($0.value ?? "", $0.records) }, uniquingKeysWith: +)
            }
            var need = Set<UUID>()
            let firstBase = baseGroups()
            for (value, candidateGroup) in RunGrouping.partition(c, by: groupBy) {
                need.formUnion(Comparator.repetitionsNeeded(baseline: firstBase[value ?? ""] ?? [], candidate: candidateGroup, alpha: t.alpha,
                                                            metrics: onlyMetrics, workloads: onlyWorkloads, unit: unit))
            }
            let unread = (b + c).filter { need.contains($0.runId) && $0.workloads.contains { $0.metrics.values.contains { $0.values == nil } } }
            if !unread.isEmpty {
                let values: [UUID: [Int: [String: [Double]]]]
                do { values = try store().repetitions(unread.map { ($0.runId.uuidString, $0.runId) }.sorted { $0.0 < $1.0 }.map(\.1), metrics: judged) } catch {
                    throw VBenchFailure(.error, "reading the repetitions: \(error)")
                }
                for i in b.indices { if let v = values[b[i].runId] { b[i].setRepetitions(v) } }
                for i in c.indices { if let v = values[c[i].runId] { c[i].setRepetitions(v) } }
            }
            // One comparison per group of the candidate (the whole selection without --group-by).
            let baseGroups = unread.isEmpty ? firstBase : baseGroups()
            var parts: [String] = []
            var jsonParts: [String] = []
            var missing: [String] = []
            var regressed = false
            for (value, candidateGroup) in RunGrouping.partition(c, by: groupBy) {
                let baselineGroup = baseGroups[value ?? ""] ?? []
                let comparison = Comparator.compare(baseline: baselineGroup, candidate: candidateGroup, thresholds: t,
                                                    metrics: onlyMetrics, workloads: onlyWorkloads, unit: unit, drift: driftModel,
                                                    sessionHistory: history)
                let label = value.map { " (\(groupBy!.rawValue) \($0))" } ?? ""
                var body: String
                switch format {
                case "markdown": body = CompareReport.markdown(comparison, baseline: baseline + label, candidate: candidate + label)
                case "json":
                    let enc = JSONEncoder()
                    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                    body = String(decoding: try enc.encode(comparison), as: UTF8.self)
                    if let value, let key = groupBy {
                        jsonParts.append(GroupedOutput.json(key: key.rawValue, value: value, field: "comparison", body))
                    }
                    body += "\n"
                default: body = TableRenderer.text(CompareReport.table(comparison, baseline: baseline + label, candidate: candidate + label)) + "\n"
                }
                if let value, let key = groupBy, format != "json" {
                    body = GroupedOutput.heading(key: key.rawValue, value: value, markdown: format == "markdown") + body + "\n"
                }
                parts.append(body)
                if comparison.baselineMissing { missing.append(value ?? "") }
                if !comparison.regressions.isEmpty { regressed = true }
            }
            let text = groupBy != nil && format == "json" ? GroupedOutput.jsonArray(jsonParts) : parts.joined()
            print(text, terminator: "")
            if let path = output { try AtomicFile.write(Array(text.utf8), to: path, replace: true) }
            if !missing.isEmpty {
                if groupBy == nil {
                    throw VBenchFailure(.baselineMissing, b.isEmpty ? "the baseline '\(baseline)' selects no runs" : "nothing in the baseline '\(baseline)' matches the candidate's workloads and devices")
                }
                throw VBenchFailure(.baselineMissing, "no baseline for \(groupBy!.rawValue) \(missing.joined(separator: ", ")) in '\(baseline)'")
            }
            if regressed { throw VBenchExit.regression }
        }
    }
}
