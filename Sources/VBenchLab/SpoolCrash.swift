import Foundation
import VBenchCollector
import VBenchCore
import VBenchStoreAPI
import VBenchSystem
import VBenchWire

/// What `vbench lab crash` found: every record a guest said it had spooled before QEMU was
/// SIGKILLed must reach the store whole, once, after the next boots of the same disk resend it.
public struct SpoolCrashResult: Sendable {
    /// Boots ended by SIGKILL (the last boot only resends and powers off).
    public var kills: Int
    /// Records the guest reported spooled (`spooled ID`) before a kill.
    public var reported: Set<UUID>
    /// Records of the test in the store after the last boot.
    public var stored: Set<UUID>
    /// Stored records whose workloads do not hash to their `lab.check.sha256`.
    public var corrupt: Set<UUID>
    /// Acks of records the store already held (a resend of an acknowledged record).
    public var duplicates: Int
    /// Records being spooled when the kill came (not reported): stored whole or never, either is right.
    public var interrupted: Int
    /// What the last boot's resend said (`stored N, already stored N, still spooled 0`).
    public var finalResend: String?
    public var consoles: [String]

    public var lost: Set<UUID> { reported.subtracting(stored) }
    /// No record lost, none corrupt, and the spool empty at the end.
    public var passed: Bool { lost.isEmpty && corrupt.isEmpty && finalResend?.hasSuffix("still spooled 0") == true }
}

extension LabRunner {
    /// The spool's crash test. One ext4 disk image (made here with mkfs.ext4, a file) carries the
    /// guest's spool from boot to boot. Each boot mounts it, resends what earlier boots spooled
    /// (`vbench send --to <uplink> --spool`), then spools this boot's records one by one with
    /// `vbench send` to a socket nobody listens on, printing `spooled ID` after each; the lab
    /// SIGKILLs QEMU the moment the k-th line of the boot appears (k = 1…recordsPerBoot in turn,
    /// so kills land between records and in the middle of the next one's write). After `kills`
    /// boots a last one resends and powers off. The records are synthetic (`lab.check=spool-crash`,
    /// their workloads hashed), so each stored copy can be checked whole.
    ///
    /// `control`: the same boots with the records copied into the spool folder by busybox `cp`
    /// (no fsync, no rename), to show that the test catches a spool that is not durable.
    public func spoolCrash(kills: Int, recordsPerBoot: Int, accel: Acceleration, control: Bool = false) throws -> SpoolCrashResult {
        guard let store else { throw LabError("the crash test needs a results store") }
        guard kills >= 1, (1...50).contains(recordsPerBoot) else { throw LabError("--kills must be at least 1 and --per-boot 1…50") }
        let dir = try options.cache.makeDirectory("runs/\(options.runId)/crash")
        let image = "\(dir)/spool.img"
        try? FileManager.default.removeItem(atPath: image)
        try backingFile(image, mib: 64)
        try Subprocess.check("mkfs.ext4", ["-q", "-F", "-L", "vbspool", image], timeout: 60, what: "making the spool disk (e2fsprogs)")
        defer { try? FileManager.default.removeItem(atPath: image) }

        var tags = options.extraTags
        tags["lab.run"] = options.runId
        tags["qemu.accel"] = accel.rawValue
        var expected: [UUID: Int] = [:]
        var result = SpoolCrashResult(kills: kills, reported: [], stored: [], corrupt: [], duplicates: 0, interrupted: 0, finalResend: nil, consoles: [])
        for boot in 0...kills {
            let last = boot == kills
            let bootDir = try options.cache.makeDirectory("runs/\(options.runId)/crash/boot-\(boot)")
            let socket = "\(bootDir)/uplink.sock"
            let channel = uplinkChannel(dir: bootDir, socket: socket)
            var files: [String: Data] = [:]
            var names: [String] = []
            if !last {
                for i in 0..<recordsPerBoot {
                    var t = tags
                    t["lab.boot"] = "\(boot)"
                    t["crash.index"] = "\(i)"
                    let r = try Self.transportCheckRecord(bytes: 6 << 10, tags: t, check: "spool-crash")
                    expected[r.runId] = boot
                    let name = r.runId.uuidString.lowercased()
                    names.append(name)
                    files["crash/\(name).json"] = try r.jsonData(pretty: false)
                }
            }
            // The kill comes after the k-th `spooled` line of this boot.
            let killAfter = boot % recordsPerBoot + 1
            let job = Self.spoolCrashJob(runId: options.runId, sendTo: channel.sendTo, records: names, last: last, control: control)
            let initrd = try bootInitrd(job: job, dir: bootDir, files: files)
            defer { try? FileManager.default.removeItem(atPath: initrd) }
            try? FileManager.default.removeItem(atPath: socket)
            var config = Collector.Configuration(endpoints: [channel.endpoint], collectorHost: hostName(),
                                                 collectorKernel: Signals.kernelRelease(), vsockAllowed: Signals.isVsockHost())
            config.allowedCIDs = channel.allowedCIDs
            config.idleTimeout = .seconds(Int64(options.bootTimeout) + 60)
            let collector = Collector(configuration: config, store: store)
            _ = try collector.start()
            let console = "\(bootDir)/console.log"
            let args = baseArguments(accel: accel, initrd: initrd, console: console)
                + ["-drive", "file=\(image),format=raw,if=none,id=spool,cache=none,aio=threads",
                   "-device", "virtio-blk-pci,drive=spool,serial=vbspool"]
                + channel.deviceArgs
            progress("crash boot \(boot) of \(kills + 1): \(last ? "resend and power off" : "resend, then spool \(recordsPerBoot) records; SIGKILL after the \(killAfter)\(killAfter == 1 ? "st" : killAfter == 2 ? "nd" : killAfter == 3 ? "rd" : "th")")")
            let o = try Subprocess.run("qemu-system-x86_64", args, timeout: options.bootTimeout,
                                       stdoutPath: "\(bootDir)/qemu.out", stderrPath: "\(bootDir)/qemu.err",
                                       killWhen: last ? nil : {
                                           let text = (try? String(contentsOfFile: console, encoding: .utf8)) ?? ""
                                           return ConsoleLines.markers(text).filter { $0.hasPrefix("spooled ") }.count >= killAfter
                                       })
            collector.stop()
            result.duplicates += collector.stats.duplicates
            result.consoles.append(console)
            let lines = ConsoleLines.markers((try? String(contentsOfFile: console, encoding: .utf8)) ?? "")
            if let failure = lines.first(where: { $0.hasPrefix("spool disk ") }) {
                throw LabError("crash boot \(boot): \(failure) (console: \(console))")
            }
            let resend = lines.first { $0.hasPrefix("resend exit ") }
            if last {
                guard !o.timedOut, o.status == 0 else {
                    throw LabError("crash boot \(boot): the last boot \(o.timedOut ? "timed out" : "exited with \(o.status)") (console: \(console))")
                }
                result.finalResend = resend.map { String($0.dropFirst("resend exit ".count)) }
            } else if !o.killed {
                throw LabError("crash boot \(boot): QEMU \(o.timedOut ? "timed out" : "ended (\(o.status))") before the \(killAfter) records were spooled (console: \(console))")
            }
            let spooled = lines.filter { $0.hasPrefix("spooled ") }.compactMap { UUID(uuidString: String($0.dropFirst("spooled ".count))) }
            result.reported.formUnion(spooled)
            if !last { result.interrupted += min(recordsPerBoot - spooled.count, 1) }
            log("crash boot \(boot): \(resend ?? "no resend line"); \(spooled.count) spooled\(o.killed ? ", then SIGKILL" : "")")
        }
        for row in try store.runs(RunQuery(tags: ["lab.run": options.runId, "lab.check": "spool-crash"])) {
            result.stored.insert(row.runId)
            guard let record = try store.record(row.runId), Self.transportCheckIntact(record), expected[row.runId] != nil else {
                result.corrupt.insert(row.runId)
                continue
            }
        }
        return result
    }

    /// The guest's side of one crash boot: the agent's `spoolCrash` step (the spool disk found
    /// by its serial, `vbspool`). `records` are the job's files (`crash/ID.json`).
    static func spoolCrashJob(runId: String, sendTo: String, records: [String], last: Bool, control: Bool = false) -> LabJob {
        LabJob(runId: runId, sendTo: sendTo, tags: [:], block: LabJob.BlockPlan(profile: "quick", boundSeconds: 0), disks: [], steps: [],
               spoolCrash: LabJob.SpoolCrash(serial: "vbspool", records: records.map { "crash/\($0).json" }, last: last, control: control))
    }
}
