import ArgumentParser
import VBenchBlock
import VBenchCore
import VBenchSystem

/// `vbench run`: measure a device family and write a RunRecord.
public struct RunCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Measure block I/O on a file or disk, or memory, and write a RunRecord.",
        discussion: """
            --device mem runs STREAM's copy, scale, add and triad (arrays of --size each,
            default four times the last-level caches; --repeat iterations, first dropped;
            --threads, default every online CPU, pinned), a pointer chase from 16 KiB up to
            the array size, and the first-touch page-fault rate.
            Without --rw the profile's workloads run; with --rw one custom workload runs.
            A file target is created, filled and removed afterwards (unless --keep).
            Writing to a block device needs --allow-destructive and is refused when the
            device is mounted, held, partitioned or carries a filesystem signature.
            """
    )

    @Option(help: ArgumentHelp("Device family to measure: blk, net (needs --peer), mem, or all (one record each).", valueName: "family"))
    var device: String = "blk"

    @Option(help: ArgumentHelp("--device mem: threads for STREAM (default: every online CPU).", valueName: "n"))
    var threads: Int?

    @Option(help: ArgumentHelp("Runs to make, each a fresh process with its own record, tagged runs.group, runs.index and runs.count: the samples `vbench compare` counts. Default: the calibrated recommendation, \(RecommendedRuns.blk) for blk, \(RecommendedRuns.net) for net, \(RecommendedRuns.mem) for mem; 1 for a single run.", valueName: "n"))
    var runs: Int?

    /// `--runs`, or the recommendation for the family.
    var runCount: Int { runs ?? RecommendedRuns.forDevice(device) }

    @Option(name: .customLong("test"), help: ArgumentHelp("Only these tests, comma-separated or repeated: net stream, rr, crr; mem stream (with its arrays' first touch), chase. Default: all.", valueName: "name"))
    var tests: [String] = []

    @OptionGroup var block: BlockOptions
    @OptionGroup var net: NetOptions
    @OptionGroup var output: OutputOptions

    /// `--test` values, split at commas.
    var testNames: Set<String> { Set(tests.flatMap { $0.split(separator: ",").map(String.init) }) }

    public func validate() throws {
        if output.store != nil && GuestCLI.store == nil {
            throw ValidationError("--store: this guest binary has no results store; its records are files under --out: send them to a collector with --send, or import them on the host with vbench import")
        }
        if !tests.isEmpty {
            let allowed: [String: Set<String>] = ["net": ["stream", "rr", "crr"], "mem": ["stream", "chase"]]
            guard let known = allowed[device] else {
                throw ValidationError("--test applies to --device net (stream, rr, crr) and --device mem (stream, chase); for blk use --rw")
            }
            if let bad = testNames.subtracting(known).sorted().first {
                throw ValidationError("--test \(bad): --device \(device) has \(known.sorted().joined(separator: ", "))")
            }
        }
        if net.direction != nil && device != "net" { throw ValidationError("--direction applies to --device net") }
        if let runs, !(1...10_000).contains(runs) { throw ValidationError("--runs must be 1…10000; got \(runs)") }
        if runCount > 1, let t = output.tags.first(where: { $0.hasPrefix("runs.") }) {
            throw ValidationError("--tag \(t): runs.* tags are set by --runs; use another key")
        }
        guard ["blk", "net", "mem", "all"].contains(device) else {
            throw ValidationError("--device must be blk, net, mem or all; got '\(device)'")
        }
        if device == "net" {
            try net.check()
            if let r = block.runtime, !(r > 0 && r <= 3600) { throw ValidationError("--runtime must be in (0, 3600] seconds; got \(r)") }
            if let r = block.repeat, !(1...1000).contains(r) { throw ValidationError("--repeat must be 1…1000; got \(r)") }
            return
        }
        if device == "all", net.peer != nil { try net.check() }
        if device == "all" {
            if threads != nil { throw ValidationError("--threads applies to --device mem; run it on its own") }
            try block.check()
        } else if device == "mem" {
            if let t = threads, !(1...1024).contains(t) { throw ValidationError("--threads must be 1…1024; got \(t)") }
            if let s = block.size {
                guard let b = ByteCount.parse(s), b >= 1 << 20, b <= 1 << 40 else {
                    throw ValidationError("--size must be a size from 1m to 1t such as 256m; got '\(s)'")
                }
            }
            if let r = block.repeat, !(2...1000).contains(r) { throw ValidationError("--repeat for --device mem must be 2…1000 (the first iteration is dropped); got \(r)") }
        } else {
            if threads != nil { throw ValidationError("--threads applies to --device mem; use --numjobs for block jobs") }
            try block.check()
        }
        if let send = output.send { try output.sender.check(send, option: "--send") }
    }

    public func run() throws {
        if runCount > 1 {
            let code = RepeatedRuns(count: runCount, arguments: Array(CommandLine.arguments.dropFirst()), output: output).run()
            if code != VBenchExit.ok { throw code }
            return
        }
        if device == "mem" {
            let only = testNames
            let code = MemRunService(sizeBytes: block.sizeBytes, threads: threads, iterations: block.repeat, output: output,
                                     stream: only.isEmpty || only.contains("stream"), chase: only.isEmpty || only.contains("chase")).run()
            if code != VBenchExit.ok { throw code }
            return
        }
        if device == "net" {
            let code = NetRunService(net: net, seconds: block.runtime ?? 3, repetitions: block.repeat ?? 3, output: output,
                                     tests: testNames.isEmpty ? nil : Set(testNames.compactMap(NetTest.init(rawValue:)))).run()
            if code != VBenchExit.ok { throw code }
            return
        }
        if device == "all" {
            // One record per family: blk with the block options, net when --peer is given
            // (3 s x 3), mem with its defaults (--size and --repeat mean other things there).
            note("--device all: blk\(net.peer != nil ? ", net" : " (net needs --peer)"), mem")
            var codes = [BlockRunService(options: block, output: output).run()]
            if net.peer != nil { codes.append(NetRunService(net: net, seconds: 3, repetitions: 3, output: output).run()) }
            codes.append(MemRunService(sizeBytes: nil, threads: nil, iterations: nil, output: output).run())
            let worst = codes.max { $0.rawValue < $1.rawValue } ?? VBenchExit.ok
            if worst != VBenchExit.ok { throw worst }
            return
        }
        let service = BlockRunService(options: block, output: output)
        let code = service.run()
        if code != VBenchExit.ok { throw code }
    }
}

/// Where and how records are written.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the RunRecord JSON on standard output instead of the table.")
    var json = false

    @Option(help: ArgumentHelp("Folder for records (written under DIR/runs/).", valueName: "dir"))
    var out: String = "results"

    @Option(help: ArgumentHelp("The SQLite results store the record is also added to (default: DIR/vbench.sqlite; not in the guest binary, which keeps files only).", valueName: "path"))
    var store: String?

    /// The store path: `--store`, or `vbench.sqlite` in the `--out` folder.
    var storePath: String { store ?? out + "/vbench.sqlite" }

    @Option(help: ArgumentHelp("Also send the record to a collector: vsock://2:PORT, serial:/dev/virtio-ports/NAME, unix:PATH, tcp://HOST:PORT or tls://HOST:PORT. Unacknowledged records wait in DIR/spool/.", valueName: "endpoint"))
    var send: String?

    @OptionGroup var sender: SenderSecurityOptions

    @Flag(help: "Record this run as the native baseline (bare host) rather than a guest.")
    var native = false

    @Option(name: .customLong("tag"), help: ArgumentHelp("A label for the record, key=value (repeatable).", valueName: "key=value"))
    var tags: [String] = []

    func parsedTags() throws -> [String: String] {
        var out: [String: String] = [:]
        for t in tags {
            let parts = t.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ValidationError("--tag must be key=value; got '\(t)'")
            }
            out[String(parts[0])] = String(parts[1])
        }
        return out
    }
}

/// What to run against which target.
struct BlockOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A file, a folder, a block device, or auto (every unused disk).", valueName: "path|auto"))
    var target: String = "auto"

    @Option(help: "Workload set: quick, standard or full.")
    var profile: BlockProfile = .standard

    @Option(help: ArgumentHelp("Run one workload with this pattern instead of the profile: read, write, randread, randwrite, randrw.", valueName: "pattern"))
    var rw: IOPattern?

    @Option(help: ArgumentHelp("Block size of the --rw workload (512…16m).", valueName: "size"))
    var bs: String = "4k"

    @Option(help: ArgumentHelp("Operations in flight per job for --rw (1…4096).", valueName: "n"))
    var iodepth: Int = 32

    @Option(help: ArgumentHelp("Jobs (threads, one aio context each) for --rw (1…256).", valueName: "n"))
    var numjobs: Int = 1

    @Option(help: ArgumentHelp("Read share in percent for --rw randrw.", valueName: "percent"))
    var rwmixread: Int = 70

    @Option(help: ArgumentHelp("Measured seconds per repetition (overrides the profile).", valueName: "seconds"))
    var runtime: Double?

    @Option(help: ArgumentHelp("Seconds run before measuring, per repetition (overrides the profile).", valueName: "seconds"))
    var ramp: Double?

    @Option(help: ArgumentHelp("Repetitions per workload (overrides the profile).", valueName: "n"))
    var `repeat`: Int?

    @Option(help: ArgumentHelp("Size of the file vbench creates, or the part of an existing target used (e.g. 256m, 4g).", valueName: "size"))
    var size: String?

    @Option(name: .customLong("io-size"), help: ArgumentHelp("Bound each repetition by bytes per job instead of time.", valueName: "size"))
    var ioSize: String?

    @Flag(help: "Write a checksummed pattern and check it on every read and after writing.")
    var verify = false

    @Flag(help: "Go through the page cache instead of O_DIRECT.")
    var buffered = false

    @Flag(help: "Keep the file vbench created.")
    var keep = false

    @Flag(name: .customLong("allow-destructive"), help: "Allow writes to a block device or an existing file.")
    var allowDestructive = false

    @Option(help: "I/O engine: libaio, io_uring (liburing; file and buffers registered where the kernel allows), or null to measure the harness itself.")
    var engine: EngineKind = .libaio

    @Option(name: .customLong("submit-batch"), help: ArgumentHelp("Submit in fixed batches of n operations per io_submit (default: 1, 2, 4, … up to the queue depth).", valueName: "n"))
    var submitBatch: Int?

    @Option(help: ArgumentHelp("Seed of the offset generator.", valueName: "n"))
    var seed: UInt64 = 0x5eed

    @Option(name: .customLong("ioscheduler"), help: ArgumentHelp("Switch the disk holding the target to this I/O scheduler (none, mq-deadline, kyber, bfq) for the run and back afterwards, as fio's ioscheduler= (root).", valueName: "name"))
    var ioScheduler: String?

    /// Checks ranges and combinations; each message says what to pass instead.
    func check() throws {
        if rw != nil {
            guard let b = ByteCount.parse(bs) else { throw ValidationError("--bs must be a size such as 4k or 1m; got '\(bs)'") }
            guard (512...(16 << 20)).contains(b), b % 512 == 0 else {
                throw ValidationError("--bs must be a multiple of 512 from 512 to 16m; got \(bs)")
            }
            guard (1...4096).contains(iodepth) else { throw ValidationError("--iodepth must be 1…4096; got \(iodepth)") }
            guard (1...256).contains(numjobs) else { throw ValidationError("--numjobs must be 1…256; got \(numjobs)") }
            guard (0...100).contains(rwmixread) else { throw ValidationError("--rwmixread must be 0…100; got \(rwmixread)") }
            if let submitBatch, !(1...iodepth).contains(submitBatch) {
                throw ValidationError("--submit-batch must be 1…--iodepth (\(iodepth)); got \(submitBatch)")
            }
            guard UInt64(iodepth) * b <= 1 << 30 else {
                throw ValidationError("--iodepth × --bs needs \(ByteCount.human(UInt64(iodepth) * b)) of buffers per job; keep it at most 1 GiB")
            }
        }
        if let runtime, !(runtime > 0 && runtime <= 86_400) { throw ValidationError("--runtime must be more than 0 and at most 86400 seconds; got \(runtime)") }
        if let ramp, !(ramp >= 0 && ramp <= 3600) { throw ValidationError("--ramp must be 0…3600 seconds; got \(ramp)") }
        if let r = `repeat`, !(1...1000).contains(r) { throw ValidationError("--repeat must be 1…1000; got \(r)") }
        if let size, ByteCount.parse(size) == nil || ByteCount.parse(size) == 0 {
            throw ValidationError("--size must be a size such as 256m or 4g; got '\(size)'")
        }
        if let ioSize, ByteCount.parse(ioSize) == nil || ByteCount.parse(ioSize) == 0 {
            throw ValidationError("--io-size must be a size such as 64m; got '\(ioSize)'")
        }
        if ioSize != nil && runtime != nil { throw ValidationError("--io-size and --runtime both bound a repetition; pass one") }
        if target.isEmpty { throw ValidationError("--target must name a file, folder, block device or auto") }
        if let ioScheduler {
            guard IOScheduler.isName(ioScheduler) else {
                throw ValidationError("--ioscheduler must name a scheduler such as none, mq-deadline, kyber or bfq; got '\(ioScheduler)'")
            }
        }
    }

    /// The workloads this invocation asks for.
    func workloads() -> [BlockWorkloadSpec] {
        let io = ioSize.flatMap(ByteCount.parse)
        if let rw {
            let b = Int(ByteCount.parse(bs) ?? 4096)
            return [BlockWorkloadSpec(
                pattern: rw, blockSizeBytes: b, ioDepth: iodepth, numJobs: numjobs, readPercent: rwmixread,
                runtimeNs: io == nil ? seconds(runtime ?? profile.runtimeSeconds) : nil, sizeBytes: io,
                rampNs: seconds(ramp ?? profile.rampSeconds), repetitions: `repeat` ?? profile.repetitions,
                direct: !buffered, verify: verify, submitBatch: submitBatch, seed: seed)]
        }
        return profile.workloads(runtimeSeconds: runtime, rampSeconds: ramp, repetitions: `repeat`,
                                 ioSizeBytes: io, direct: !buffered, verify: verify, seed: seed)
    }

    /// Size of a created file, or the limit on an existing target.
    var sizeBytes: UInt64? { size.flatMap(ByteCount.parse) }
}

extension BlockProfile: ExpressibleByArgument {}
extension IOPattern: ExpressibleByArgument {}
extension EngineKind: ExpressibleByArgument {}
