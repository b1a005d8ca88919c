import ArgumentParser
import FoundationEssentials
import VBenchCore
import VBenchReport
import VBenchSystem

/// `vbench run --runs N`: N runs, each a fresh `vbench run` process with its own record, tagged
/// `runs.group` (one id for the invocation), `runs.index` (0…N−1) and `runs.count`. A fresh
/// process per run, because what moves a run as a whole (page placement of the arrays, the
/// file's blocks, thread placement) must vary between runs as it does between invocations, or
/// the run-to-run spread compare relies on would be understated.
struct RepeatedRuns {
    static let groupTag = "runs.group", indexTag = "runs.index", countTag = "runs.count"

    var count: Int
    var arguments: [String]
    var output: OutputOptions

    /// The invocation's arguments without `--runs N` / `--runs=N`.
    static func strippingRuns(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var skip = false
        for a in arguments {
            if skip { skip = false; continue }
            if a == "--runs" { skip = true; continue }
            if a.hasPrefix("--runs=") { continue }
            out.append(a)
        }
        return out
    }

    func run() -> ExitCode {
        guard let exe = ChildProcess.currentExecutable() else {
            return fail("--runs: cannot find this program (/proc/self/exe); run `vbench run` \(count) times with --tag instead", code: VBenchExit.error)
        }
        let group = String(UUID().uuidString.prefix(8)).lowercased()
        let base = Self.strippingRuns(arguments)
        // The parent only waits: SIGINT/SIGTERM are taken by sigtimedwait and passed to the
        // running child, and no further run starts.
        Signals.blockTermination()
        var stoppedBy: Int32?
        let started = Clock.monotonicNs()
        for i in 0..<count {
            note("run \(i + 1) of \(count) (\(Self.groupTag)=\(group))")
            let args = base + ["--runs", "1", "--tag", "\(Self.groupTag)=\(group)", "--tag", "\(Self.indexTag)=\(i)",
                               "--tag", "\(Self.countTag)=\(count)"]
            let child: ChildProcess
            do { child = try ChildProcess.spawn(exe, args) } catch {
                return fail("--runs: could not start run \(i + 1): \(error)", code: VBenchExit.error)
            }
            var ending: ChildProcess.Ending?
            while ending == nil {
                if let sig = Signals.waitForTermination(timeoutNs: 100_000_000) {
                    ProcessControl.signal(pid: child.pid, sig)
                    stoppedBy = sig
                }
                do { ending = try child.poll() } catch {
                    return fail("--runs: lost run \(i + 1): \(error)", code: VBenchExit.error)
                }
            }
            guard let ending else { break }
            if let sig = stoppedBy {
                note("stopped by signal \(sig) during run \(i + 1) of \(count); \(i) complete runs are recorded (\(Self.groupTag)=\(group))")
                return ExitCode(128 + sig)
            }
            if ending.status != 0 {
                note("run \(i + 1) of \(count) failed (exit \(ending.status)); \(i) complete runs are recorded (\(Self.groupTag)=\(group)); no further runs")
                return ExitCode(ending.status)
            }
            if i == 0 && count > 1 {
                let each = Double(Clock.monotonicNs() - started) / 1e9
                note("run 1 took \(Self.duration(each)); the other \(count - 1) take about \(Self.duration(each * Double(count - 1))) (--runs 1 for a single run)")
            }
        }
        if !output.json { printSummary(group: group) }
        return VBenchExit.ok
    }

    /// The records under `folder` (DIR/runs of `--out`): what the guest binary, which has no
    /// store, reads its runs back from. Files that are not records are passed over.
    static func files(in folder: String) throws -> [RunRecord] {
        guard FileManager.default.fileExists(atPath: folder) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: folder).sorted().filter { $0.hasSuffix(".json") }.compactMap {
            FileManager.default.contents(atPath: folder + "/" + $0).flatMap { try? RunRecord.decode($0) }
        }
    }

    static func duration(_ s: Double) -> String {
        s < 120 ? "\(Int(s.rounded())) s" : s < 7200 ? "\(Int((s / 60).rounded())) min" : "\(formatFixed(s / 3600, digits: 1)) h"
    }

    /// Per device and workload: each headline metric's mean over the runs, the spread between
    /// runs and inside them, and what that spread means for compare.
    func printSummary(group: String) {
        let records: [RunRecord]
        do {
            if let store = GuestCLI.store {
                records = try store.records(tagged: Self.groupTag, group, in: output.storePath)
            } else {
                records = try Self.files(in: output.out + "/runs").filter { $0.tags[Self.groupTag] == group }
            }
        } catch {
            note("could not read the runs back for the summary: \(error)")
            return
        }
        let table = RunSpreadTable.table(records, title: "\(count) runs (\(Self.groupTag)=\(group)); compare them with `vbench compare \(Self.groupTag)=\(group) …`")
        print(TableRenderer.text(table))
    }
}

/// The spread of repeated runs: what `vbench run --runs` ends with.
enum RunSpreadTable {
    static func table(_ records: [RunRecord], title: String) -> ReportTable {
        var t = ReportTable(title: title, header: ["DEVICE", "WORKLOAD", "METRIC", "MEAN", "RUNS", "RUN-TO-RUN COV", "WITHIN-RUN COV", "RUN SHARE"],
                            numeric: [3, 4, 5, 6, 7])
        struct Key: Hashable { var family: String, device: String, workload: String }
        var runs: [Key: [RunRecord]] = [:]
        var order: [Key] = []
        for r in records.sorted(by: { $0.startTime < $1.startTime }) {
            for w in r.workloads {
                let k = Key(family: r.family, device: r.device.distinguishingDriver, workload: w.name)
                if runs[k] == nil { order.append(k) }
                runs[k, default: []].append(r)
            }
        }
        for k in order {
            for m in Comparator.defaultMetrics(family: k.family) {
                let perRun = runs[k, default: []].compactMap { r in r.workloads.first { $0.name == k.workload }?.values(of: m.key) }.filter { !$0.isEmpty }
                guard !perRun.isEmpty else { continue }
                let means = perRun.map(Significance.mean)
                let mean = Significance.mean(means)
                let cov = means.count >= 2 && mean != 0 ? Significance.variance(means).squareRoot() / abs(mean) : nil
                let spread = RunSpread.estimate([perRun])
                t.append([k.device, k.workload, m.key, ValueFormat.format(mean, unit: m.unit), "\(means.count)",
                          cov.map { formatFixed($0 * 100, digits: 1) + "%" } ?? "-",
                          spread.map { formatFixed($0.repetitionCoV * 100, digits: 1) + "%" } ?? "-",
                          spread.map { formatFixed($0.icc * 100, digits: 0) + "%" } ?? "-"],
                         raw: [nil, nil, nil, mean, Double(means.count), cov, spread?.repetitionCoV, spread?.icc])
            }
        }
        t.notes = ["RUN SHARE: the share of the variance that lies between runs (intra-class correlation); near 100 % the repetitions inside a run agree while whole runs move, so only more runs, not more repetitions, tighten a comparison"]
        return t
    }
}
