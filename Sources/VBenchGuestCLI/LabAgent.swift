import ArgumentParser
import FoundationEssentials
import NIOCore
import VBenchCore
import VBenchSystem
import VBenchUplink
import VBenchWire

/// `vbench lab agent --job job.json`: what a lab guest runs. The lab's appliance starts it;
/// it is of no use outside a lab guest (it formats the disks of its job).
public struct LabAgentCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a lab job inside a lab guest (the lab's appliance starts it).",
        discussion: """
            Reads the job vbench lab wrote (disks by serial, NICs by MAC, the workloads, tags,
            throttle and pass plans), runs every step, sends the records after each, and reports
            each step's outcome to the lab's collector as a typed event. It overwrites the disks
            its job names: run it only in a guest the lab booted.
            """
    )

    @Option(help: ArgumentHelp("The job file vbench lab wrote.", valueName: "path"))
    var job: String

    @Option(help: ArgumentHelp("Folder for records, the spool and logs.", valueName: "dir"))
    var out: String = "/out"

    public func run() throws {
        guard let data = FileManager.default.contents(atPath: job) else {
            throw VBenchFailure(.usage, "cannot read the job \(job); vbench lab writes it into the guest as /job/job.json")
        }
        let plan: LabJob
        do { plan = try LabJob.decode(data) } catch {
            throw VBenchFailure(.usage, "\(job) is not a lab job: \(error)", underlying: error)
        }
        guard let executable = ChildProcess.currentExecutable() else {
            throw VBenchFailure(.error, "cannot find this executable (/proc/self/exe) to start its runs")
        }
        let folder = String(job[..<(job.lastIndex(of: "/") ?? job.startIndex)])
        var agent = LabAgent(job: plan, executable: executable, out: out, jobFolder: folder.isEmpty ? "." : folder)
        try agent.run()
    }
}

/// The guest binary's `lab`: only the agent (the full vbench's `lab` has it beside the host's
/// commands).
public struct GuestLabCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "The lab's guest side (the host's lab commands are in the full vbench).",
        subcommands: [LabAgentCommand.self]
    )
}

/// Runs a `LabJob` step by step; every outcome becomes a `LabEvent` for the lab.
public struct LabAgent {
    public let job: LabJob
    /// This vbench, started for each run (a run that crashes does not take the agent with it).
    public let executable: String
    public let out: String
    /// Where the job's files (transport check, benchmark records) are.
    public let jobFolder: String
    /// sysfs and procfs, under a root that tests replace.
    public let fs: RootedFileSystem
    /// The first failed send's status, else 0.
    public private(set) var sendStatus: Int32 = 0
    /// The throttle limits by slot, once read from the control port.
    public private(set) var limits: [Int: Int]?
    /// Seconds a run may outlive SIGKILL before it is left behind as stuck.
    public var killGrace: Double = 15
    /// Slots whose run outlived SIGKILL: its I/O never completed, so later passes are skipped.
    public private(set) var stalled: Set<Int> = []

    public init(job: LabJob, executable: String, out: String, jobFolder: String, fs: RootedFileSystem = RootedFileSystem()) {
        self.job = job
        self.executable = executable
        self.out = out
        self.jobFolder = jobFolder
        self.fs = fs
    }

    public mutating func run() throws {
        if let crash = job.spoolCrash {
            spoolCrash(crash)
            return
        }
        if let probe = job.probe {
            probeAndShip(probe)
            return
        }
        try AtomicFile.makeDirectories("\(out)/runs")
        for step in job.steps { diskStep(step) }
        if let net = job.network { netStep(net) }
        if job.vsockLoopback { vsockLoopback() }
        for b in job.transportBench { benchSend(b) }
        if let t = job.transportCheck { transportCheck(t) }
        emit(.done(sendStatus: Int(sendStatus)))
    }

    // MARK: Disks

    /// The block device whose serial is `serial` (sysfs `serial`, `device/serial` or the SCSI
    /// VPD page 0x80), whatever the kernel named it.
    public func disk(serial: String) -> String? {
        for name in fs.list("/sys/block").sorted() {
            for file in ["serial", "device/serial", "device/vpd_pg80"] {
                if let text = fs.readString("/sys/block/\(name)/\(file)"), text.contains(serial) { return "/dev/\(name)" }
            }
        }
        return nil
    }

    /// The `vbench run` arguments of one disk's step.
    public func runArguments(_ step: LabJob.Step, device: String, throttleIOPS: Int?) -> [String] {
        let b = job.block
        var args = ["run", "--target", device, "--device", "blk", "--runs", "1", "--allow-destructive", "--profile", b.profile, "--out", out]
        if let rw = b.rw { args += ["--rw", rw, "--bs", b.bs ?? "4k", "--iodepth", "\(b.iodepth ?? 32)"] }
        if let r = b.runtimeSeconds { args += ["--runtime", "\(r)"] }
        if let r = step.repetitions ?? b.repetitions { args += ["--repeat", "\(r)"] }
        if let r = step.rampSeconds { args += ["--ramp", "\(r)"] }
        if let s = step.ioscheduler { args += ["--ioscheduler", s] }
        var tags = job.tags
        if let d = job.disks.first(where: { $0.slot == step.slot }) { tags.merge(d.tags) { $1 } }
        tags.merge(step.tags) { $1 }
        if let t = throttleIOPS { tags["lab.throttle.iops"] = "\(t)" }
        for (k, v) in tags.sorted(by: { $0.key < $1.key }) { args += ["--tag", "\(k)=\(v)"] }
        return args
    }

    /// `d1=22500 d2=17500` → [1: 22500, 2: 17500]; nil when a word is not `dSLOT=IOPS`.
    public static func parseLimits(_ line: String) -> [Int: Int]? {
        var out: [Int: Int] = [:]
        for word in line.split(separator: " ") {
            let kv = word.split(separator: "=")
            guard kv.count == 2, kv[0].first == "d", let slot = Int(kv[0].dropFirst()), let iops = Int(kv[1]) else { return nil }
            out[slot] = iops
        }
        return out
    }

    mutating func diskStep(_ step: LabJob.Step) {
        guard let disk = job.disks.first(where: { $0.slot == step.slot }) else { return }
        guard !stalled.contains(disk.slot) else {
            say("skip \(disk.model) slot \(disk.slot): an earlier run on it is stuck in device I/O")
            return
        }
        guard let device = self.disk(serial: disk.serial) else {
            emit(.diskRun(slot: disk.slot, model: disk.model, device: nil, exitStatus: 127))
            return
        }
        var iops: Int?
        if disk.throttled {
            if limits == nil, let port = job.controlPort {
                say("waiting for throttles")
                let line = (try? ControlFile.firstLine(of: port, seconds: 300)) ?? nil
                limits = line.flatMap(Self.parseLimits) ?? [:]
                emit(.throttles(iops: limits ?? [:]))
            }
            iops = limits?[disk.slot]
        }
        say("run \(disk.model) on \(device)")
        let (status, stuck) = runSelf(runArguments(step, device: device, throttleIOPS: iops), log: "run-\(disk.slot)", seconds: job.block.boundSeconds)
        emit(.diskRun(slot: disk.slot, model: disk.model, device: device, exitStatus: Int(status)))
        if stuck {
            stalled.insert(disk.slot)
            emit(.diskStalled(slot: disk.slot, model: disk.model, device: device))
        }
        sendRecords(after: disk.model)
    }

    // MARK: NICs

    /// The interface whose MAC is `mac`.
    public func interface(mac: String) -> String? {
        fs.list("/sys/class/net").sorted().first { fs.readString("/sys/class/net/\($0)/address")?.trimmed() == mac.lowercased() }
    }

    mutating func netStep(_ plan: LabJob.NetworkPlan) {
        // Loose reverse-path checks: the peer's replies come back on the NIC that asked.
        for conf in fs.list("/proc/sys/net/ipv4/conf") {
            try? ControlFile.write("2", to: fs.hostPath("/proc/sys/net/ipv4/conf/\(conf)/rp_filter"))
        }
        var up: [(LabJob.Nic, String)] = []
        for nic in plan.nics {
            guard let ifc = interface(mac: nic.mac) else {
                emit(.nic(model: nic.model, interface: nil, driver: nil))
                continue
            }
            let added = ip(["addr", "add", "\(nic.address)/24", "dev", ifc]) == 0 && ip(["link", "set", ifc, "up"]) == 0
            let driver = fs.readLink("/sys/class/net/\(ifc)/device/driver").map { String($0.split(separator: "/").last ?? "") }
            emit(.nic(model: nic.model, interface: ifc, driver: driver))
            if added { up.append((nic, ifc)) }
        }
        guard !up.isEmpty else {
            emit(.netRun(exitStatus: 127))
            return
        }
        // Carrier on every link (e1000 negotiates for a moment), at most 15 s; then the routes.
        for _ in 0..<30 {
            if up.allSatisfy({ fs.readString("/sys/class/net/\($0.1)/carrier")?.trimmed() == "1" }) { break }
            Clock.sleep(nanoseconds: 500_000_000)
        }
        for (nic, ifc) in up {
            _ = ip(["route", "add", "\(plan.peer)/32", "via", nic.gateway, "dev", ifc, "metric", "\(nic.metric)"])
        }
        say("run net on \(up.map(\.1).joined(separator: " "))")
        var args = ["run", "--device", "net", "--runs", "1", "--peer", plan.peer, "--iface", "auto",
                    "--runtime", "\(plan.runtimeSeconds)", "--repeat", "\(plan.repetitions)", "--out", out]
        for (k, v) in job.tags.merging(plan.tags, uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) { args += ["--tag", "\(k)=\(v)"] }
        let status = runSelf(args, log: "run-net", seconds: plan.boundSeconds).status
        emit(.netRun(exitStatus: Int(status)))
        sendRecords(after: "net")
    }

    /// `ip` (iproute2, or busybox's) with `arguments`; its exit status.
    func ip(_ arguments: [String]) -> Int32 {
        let candidates = ["/sbin/ip", "/bin/ip", "/usr/sbin/ip", "/usr/bin/ip"]
        let found = candidates.first { fs.isLive && FileManager.default.isExecutableFile(atPath: $0) }
        let (path, args) = found.map { ($0, arguments) } ?? ("/bin/busybox", ["ip"] + arguments)
        let r = try? ChildProcess.run(path, args, stdout: .file("/tmp/ip.log"), stderr: .file("/tmp/ip.err"), seconds: 30)
        return r?.ending.status ?? 127
    }

    // MARK: Sending

    /// Sends the records written so far, then moves them out of the way: a disk that hangs
    /// later loses nothing measured before it.
    mutating func sendRecords(after: String) {
        let folder = "\(out)/runs"
        let files = jsonFiles(folder)
        guard !files.isEmpty else { return }
        let (records, _) = self.records(files, in: folder)
        let (status, report) = deliver(records, to: job.sendTo, spool: "\(out)/spool", seconds: 120)
        if status == 0 {
            try? AtomicFile.makeDirectories("\(out)/sent")
            for f in files { try? FileManager.default.moveItem(atPath: "\(folder)/\(f)", toPath: "\(out)/sent/\(f)") }
        } else if sendStatus == 0 {
            sendStatus = status
        }
        emit(.send(after: after, exitStatus: Int(status), report: report))
    }

    /// Delivers `records` through a spool at `spool`: 0 and send's summary, or 1 and why not.
    func deliver(_ records: [RunRecord], to target: String, spool: String, seconds: Double) -> (Int32, String) {
        do {
            let uplink = Uplink(endpoint: try Endpoint(target), timeout: .nanoseconds(Int64(seconds * 1e9)))
            let o = try Delivery(uplink: uplink, spool: Spool(directory: spool)).deliver(records)
            let summary = "stored \(o.stored), already stored \(o.duplicates), still spooled \(o.spooled)"
            return o.failure == nil && o.spooled == 0 ? (0, summary) : (1, o.failure.map { "\($0); \(summary)" } ?? summary)
        } catch {
            return (1, "\(error)")
        }
    }

    /// The `.json` files in `folder`, by name.
    func jsonFiles(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }

    /// The records in `files` of `folder` (a file that is not a record is passed over), and
    /// their bytes on disk.
    func records(_ files: [String], in folder: String) -> (records: [RunRecord], bytes: Int) {
        var records: [RunRecord] = []
        var bytes = 0
        for f in files {
            guard let data = FileManager.default.contents(atPath: "\(folder)/\(f)") else { continue }
            bytes += data.count
            if let r = try? RunRecord.decode(data) { records.append(r) }
        }
        return (records, bytes)
    }

    mutating func benchSend(_ b: LabJob.BenchSend) {
        say("transport bench: \(b.files.count) \(b.size) records over \(b.transport)")
        let (recs, bytes) = records(b.files, in: jobFolder)
        let spool = "/tmp/bench-spool-\(b.transport)-\(b.size)"
        let t0 = uptime()
        let (status, report) = deliver(recs, to: b.to, spool: spool, seconds: 800)
        let t1 = uptime()
        try? FileManager.default.removeItem(atPath: spool)
        emit(.transportBench(transport: b.transport, size: b.size, exitStatus: Int(status), records: b.files.count, bytes: bytes,
                             seconds: t1 - t0, report: report))
    }

    mutating func transportCheck(_ file: String) {
        say("transport check: sending \(file)")
        let (recs, _) = records([file], in: jobFolder)
        let (status, report) = recs.isEmpty ? (1, "\(jobFolder)/\(file) is not a readable record")
            : deliver(recs, to: job.sendTo, spool: "/tmp/transport-spool", seconds: 800)
        emit(.transportCheck(exitStatus: Int(status), report: report))
    }

    /// AF_VSOCK on a real kernel: a collector inside this guest on vsock_loopback, the records
    /// sent to CID 1. Allowed because the lab booted this kernel; needs the full vbench.
    mutating func vsockLoopback() {
        let help = (try? ChildProcess.run(executable, ["collect", "--help"], stdout: .null, stderr: .null, seconds: 30))?.ending.status ?? 127
        guard help == 0 else {
            emit(.vsockLoopback(exitStatus: 127, report: "collector none: this vbench has no collect (the guest binary); pass a full static vbench as --binary for vsockLoopback"))
            return
        }
        let sent = jsonFiles("\(out)/sent")
        guard !sent.isEmpty,
              (try? ChildProcess.run("/bin/busybox", ["modprobe", "vsock_loopback"], stdout: .null, stderr: .null, seconds: 30))?.ending.status == 0,
              let collector = try? ChildProcess.spawn(executable, ["collect", "--listen", "vsock://any:5000", "--store", "/tmp/vsock.sqlite"],
                                                     stdin: .null, stdout: .file("/tmp/vsock-collect.log"), stderr: .file("/tmp/vsock-collect.err"))
        else {
            emit(.vsockLoopback(exitStatus: 1, report: "no records, no vsock_loopback module, or the collector did not start"))
            return
        }
        Clock.sleep(nanoseconds: 1_000_000_000)
        let recs = records(sent, in: "\(out)/sent").records
        let (status, report) = deliver(recs, to: "vsock://1:5000", spool: "/tmp/vsock-spool", seconds: 60)
        collector.terminate()
        _ = try? collector.wait(seconds: 30)
        let log = (FileManager.default.contents(atPath: "/tmp/vsock-collect.err").map { String(decoding: $0, as: UTF8.self) } ?? "")
        let stopped = log.split(separator: "\n").last { $0.contains("stopped: ") }.map { String($0[$0.firstRange(of: "stopped: ")!.lowerBound...]) }
        emit(.vsockLoopback(exitStatus: Int(status), report: "\(report); collector \(stopped ?? "said nothing")"))
    }

    // MARK: The spool's crash test

    /// One crash boot (see `LabJob.SpoolCrash`); console lines only.
    func spoolCrash(_ c: LabJob.SpoolCrash) {
        for module in ["crc32c_generic", "ext4"] { _ = busybox(["modprobe", module]) }
        guard let device = disk(serial: c.serial) else {
            say("spool disk not mounted (no disk with serial \(c.serial))")
            return
        }
        try? AtomicFile.makeDirectories(c.mountpoint)
        guard busybox(["mount", "-t", "ext4", device, c.mountpoint]) == 0 else {
            say("spool disk not mounted (\(device): mount -t ext4 failed)")
            return
        }
        let (status, report) = deliver([], to: job.sendTo, spool: c.spool, seconds: c.resendSeconds)
        say("resend exit \(status): \(report)")
        if c.last {
            _ = busybox(["umount", c.mountpoint])
            return
        }
        if c.control { try? AtomicFile.makeDirectories(c.spool) }
        for file in c.records {
            var name = Substring(file.split(separator: "/").last ?? Substring(file))
            if name.hasSuffix(".json") { name = name.dropLast(5) }
            if c.control {
                // The control: a plain copy, left to the guest's page cache.
                _ = busybox(["cp", "\(jobFolder)/\(file)", "\(c.spool)/\(name).json"])
            } else {
                // Through the spool's own write: temporary file, fsync, rename, folder fsync.
                let (records, _) = records([file], in: jobFolder)
                do { try Spool(directory: c.spool).add(records) } catch {
                    say("spool failed: \(error)")
                    return
                }
            }
            print("VBENCH-LAB: spooled \(name)")
            flushStandardOutput()
        }
        // The lab SIGKILLs QEMU on one of the lines above; this bound only matters if it does not.
        Clock.sleep(nanoseconds: 600_000_000_000)
    }

    /// busybox with `arguments` (the appliance's modprobe, mount, umount, cp), bounded; its exit status.
    func busybox(_ arguments: [String]) -> Int32 {
        (try? ChildProcess.run("/bin/busybox", arguments, stdout: .null, stderr: .file("/tmp/busybox.err"), seconds: 60))?.ending.status ?? 127
    }

    // MARK: Seeded boots

    /// One seeded boot (see `LabJob.ProbeShip`); console lines only.
    func probeAndShip(_ p: LabJob.ProbeShip) {
        let ship = "/tmp/ship"
        try? AtomicFile.makeDirectories(ship)
        let probe = (try? ChildProcess.run(executable, ["probe", "--json"], stdout: .file("\(ship)/probe.json"),
                                           stderr: .file("\(ship)/probe.err"), seconds: p.seconds))?.ending.status ?? 127
        say("probe exit \(probe)")
        if p.record {
            let record = (try? ChildProcess.run(executable, ["probe", "--record", "\(ship)/tree"], stdout: .file("\(ship)/record.log"),
                                                stderr: .file("\(ship)/record.log"), seconds: p.seconds))?.ending.status ?? 127
            say("record exit \(record)")
        }
        let archive = "/tmp/ship.tgz"
        guard busybox(["tar", "-c", "-z", "-f", archive, "-C", ship, "."]) == 0, let data = FileManager.default.contents(atPath: archive) else {
            say("not shipped: busybox tar -czf failed (/tmp/busybox.err)")
            return
        }
        // Raw, no echo: the port carries the bytes as written.
        _ = busybox(["stty", "-F", p.port, "raw", "-echo"])
        do {
            try ControlFile.write("VBENCH-BEGIN\n" + data.base64EncodedString(options: .lineLength76Characters) + "\nVBENCH-END\n", to: p.port)
            say("shipped \(data.count) bytes")
        } catch {
            say("not shipped: \(error)")
        }
    }

    // MARK: Runs, events, console

    /// Starts this vbench with `arguments`, output in /tmp/LOG.log, bounded; its exit status
    /// (124 when the bound ended it), and whether it outlived SIGKILL (stuck in device I/O,
    /// left behind). A failed run's last lines go to the console.
    func runSelf(_ arguments: [String], log: String, seconds: Double) -> (status: Int32, stuck: Bool) {
        let path = "/tmp/\(log).log"
        let r = try? ChildProcess.run(executable, arguments, stdout: .file(path), stderr: .file(path), seconds: seconds, killGrace: killGrace)
        let status = r?.ending.status ?? 127
        if status != 0, let text = FileManager.default.contents(atPath: path) {
            for line in String(decoding: text, as: UTF8.self).split(separator: "\n").suffix(15) { print(line) }
        }
        return (status, r?.stuck != nil)
    }

    func uptime() -> Double { fs.readString("/proc/uptime").flatMap { $0.split(separator: " ").first.flatMap { Double($0) } } ?? 0 }

    /// A line on the console for people reading the boot log (the lab reads events, not this).
    func say(_ text: String) {
        print("VBENCH-LAB: \(text) at \(uptime()) s")
        flushStandardOutput()
    }

    /// Tells the lab: the event to its collector (retried once), its text on the console.
    func emit(_ kind: LabEvent.Kind) {
        let event = LabEvent(uptimeSeconds: uptime(), kind: kind)
        say(event.text)
        for attempt in 0..<2 {
            do {
                let uplink = Uplink(endpoint: try Endpoint(job.sendTo), timeout: .seconds(60))
                let o = try uplink.deliver([], events: [event])
                if o.acks[event.id] != nil { return }
                if attempt == 1 { say("event not delivered: \(o.failure ?? "no acknowledgement")") }
            } catch {
                if attempt == 1 { say("event not delivered: \(error)") }
            }
            Clock.sleep(nanoseconds: 1_000_000_000)
        }
    }
}

extension String {
    func trimmed() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
