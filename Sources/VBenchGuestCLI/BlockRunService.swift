import ArgumentParser
import FoundationEssentials
import VBenchBlock
import VBenchCore
import VBenchProbe
import VBenchUplink
import VBenchSystem

/// Runs the block harness on each target and writes one RunRecord per target.
struct BlockRunService {
    var options: BlockOptions
    var output: OutputOptions

    /// Runs everything; returns the exit code.
    func run() -> ExitCode {
        let fs = RootedFileSystem()
        let probe = SystemProbe(fs: fs)
        let environment = probe.environment()
        let inventory = DeviceInventory(fs: fs, hypervisor: environment.hypervisor.vendor)
        let usageReader = DeviceUsageReader(fs: fs)
        let tags: [String: String]
        do { tags = try output.parsedTags() } catch { return fail("\(error)", code: VBenchExit.usage) }
        if environment.hypervisor.vendor == .none && !output.native {
            note("no hypervisor detected: this looks like bare metal; pass --native to record it as the baseline")
        }

        var targets: [String]
        if options.target == "auto" {
            let candidates = usageReader.autoTargets(inventory.disks())
            targets = candidates.filter { $0.refusal == nil }.map { "/dev/\($0.disk.name)" }
            if targets.isEmpty {
                let why = candidates.map { "\($0.disk.name) \($0.refusal ?? "")" }.joined(separator: "; ")
                return fail("--target auto found no disk it may use (\(why.isEmpty ? "no disks" : why)); name a file with --target PATH",
                            code: VBenchExit.error)
            }
        } else {
            targets = [options.target]
        }

        var worst = VBenchExit.ok
        for path in targets {
            let code = runTarget(path, environment: environment, inventory: inventory, usage: usageReader, tags: tags)
            if code.rawValue > worst.rawValue { worst = code }
        }
        return worst
    }

    private func runTarget(_ path: String, environment: Environment, inventory: DeviceInventory,
                           usage: DeviceUsageReader, tags: [String: String]) -> ExitCode {
        let workloads = options.workloads()
        let runId = UUID()
        let request = TargetRequest(
            path: path, sizeBytes: options.sizeBytes ?? (options.rw == nil ? options.profile.fileBytes : nil),
            writes: workloads.contains { $0.readPercent < 100 }, allowDestructive: options.allowDestructive,
            direct: !options.buffered, largestBlockBytes: workloads.map(\.blockSizeBytes).max() ?? 4096,
            smallestBlockBytes: workloads.map(\.blockSizeBytes).min(),
            fileNameInDirectory: "vbench-\(runId.uuidString.prefix(8).lowercased()).dat")
        let progress = ProgressLine()
        let start = Date()
        let target: PreparedTarget
        do {
            target = try BlockTargetPreparer.prepare(request, usage: { status in
                usage.usage(major: status.deviceNumber.major, minor: status.deviceNumber.minor)
            }, progress: { progress.show($0) })
        } catch {
            progress.clear()
            return fail("\(error)", code: VBenchExit.error)
        }
        if target.created && !options.keep { InterruptCleanup.arm(removing: target.path) }
        defer {
            InterruptCleanup.arm(removing: nil)
            if target.created && !options.keep {
                do { try BlockTargetPreparer.cleanUp(target) } catch { note("could not remove \(target.path): \(error)") }
            }
        }

        // The disk's I/O scheduler: recorded always, switched for the run with --ioscheduler.
        var scheduler = IOScheduler.of(major: target.deviceNumber.major, minor: target.deviceNumber.minor)
        var switchedFrom: IOScheduler?
        var environment = environment
        if let wanted = options.ioScheduler {
            guard let s = scheduler else {
                return fail("--ioscheduler \(wanted): \(path) is on device \(target.deviceNumber.major):\(target.deviceNumber.minor), which has no I/O scheduler to choose (tmpfs, overlayfs or a stacked device); run without --ioscheduler or put the target on a disk", code: VBenchExit.usage)
            }
            if let why = s.refusal(wanted) { return fail("--ioscheduler \(wanted): \(why)", code: VBenchExit.usage) }
            if s.current != wanted {
                guard ProcessControl.canOpenReadWrite(s.path) else {
                    return fail("--ioscheduler \(wanted): switching \(s.path) (now \(s.current)) needs root (the file is not writable here); run as root or without --ioscheduler", code: VBenchExit.error)
                }
                InterruptCleanup.arm(restoring: s.path, to: s.current)
                do { scheduler = try s.select(wanted) } catch {
                    InterruptCleanup.arm(restoring: nil)
                    return fail("--ioscheduler \(wanted): \(error)", code: VBenchExit.error)
                }
                switchedFrom = s
                note("\(s.path): \(s.current) → \(wanted) for this run")
                // The record's audit is the configuration the numbers were measured under.
                if environment.audit != nil {
                    environment.audit = SystemProbe(fs: RootedFileSystem()).recordedAudit(hypervisor: environment.hypervisor.vendor, onlineCpus: environment.onlineCpus)
                }
            }
        }
        defer {
            if let s = switchedFrom {
                do { _ = try s.select(s.current); note("\(s.path): back to \(s.current)") } catch {
                    note("could not switch \(s.path) back to \(s.current): \(error); do it with: echo \(s.current) > \(s.path)")
                }
                InterruptCleanup.arm(restoring: nil)
            }
        }

        let device = inventory.disk(holding: target.deviceNumber.major, target.deviceNumber.minor)
            ?? DeviceInfo(kind: "block", name: "\(target.deviceNumber.major):\(target.deviceNumber.minor)",
                          driver: nil, deviceClass: .virtual)
        let total = workloads.count
        var results: [WorkloadResult] = []
        for (i, spec) in workloads.enumerated() {
            let harness = BlockHarness(target: target, engine: options.engine) { event in
                progress.show(Self.describe(event, step: i + 1, of: total))
            }
            do {
                results.append(try harness.run(spec))
            } catch {
                progress.clear()
                switch error {
                case .jobFailed, .verifyFailed: return fail("\(error)", code: VBenchExit.benchmarkFailed)
                default: return fail("\(error)", code: VBenchExit.error)
                }
            }
        }
        progress.clear()

        var record = RunRecord(runId: runId, startTime: start, endTime: Date(),
                               role: output.native ? .native : .guest, tool: ToolInfo(), tags: tags,
                               environment: environment, device: device, family: "blk",
                               target: target.info, workloads: results)
        record.target?.ioScheduler = scheduler?.current
        if options.engine != .libaio { record.tags["engine"] = options.engine.rawValue }
        return emit(record)
    }

    private func emit(_ record: RunRecord) -> ExitCode {
        output.emit(record, table: BlockTable.render(record))
    }

    static func describe(_ e: BlockHarness.ProgressEvent, step: Int, of total: Int) -> String {
        let elapsed = Double(e.elapsedNs) / 1e9
        let planned = e.plannedNs.map { " / \(formatFixed(Double($0) / 1e9, digits: 1)) s" } ?? " s"
        let rate = elapsed > 0 ? "  \(BlockTable.formatCount(Double(e.completedOps) / elapsed)) IOPS" : ""
        return "[\(step)/\(total)] \(e.workload) rep \(e.repetition)/\(e.repetitions)  \(formatFixed(elapsed, digits: 1))\(planned)\(rate)"
    }
}

/// A line for the user on standard error.
public func note(_ text: String) {
    writeStandardError("vbench: \(text)\n")
}

extension String {
    public func replacingSlashes() -> String { String(map { $0 == "/" ? "_" : $0 }) }
}
