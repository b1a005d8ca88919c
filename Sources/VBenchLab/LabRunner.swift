import Foundation
import Synchronization
import VBenchCollector
import VBenchCore
import VBenchStore
import VBenchStoreAPI
import VBenchSystem
import VBenchWire

/// How guests are accelerated.
public enum Acceleration: String, Sendable, CaseIterable {
    case auto, kvm, tcg
}

/// The guest-to-host channel of a lab boot.
public enum LabUplink: String, Sendable, CaseIterable {
    case virtioSerial = "virtio-serial"
    /// `vhost-vsock-pci`: the kernel's vhost on a host with /dev/vhost-vsock.
    case vsock
    /// `vhost-user-vsock-pci`: the collector itself is the device (any host, guest memory shared).
    case vhostUserVsock = "vhost-user-vsock"

    /// AF_VSOCK from the guest on every host: the kernel's vhost where /dev/vhost-vsock exists,
    /// else the collector's vhost-user device.
    public static var automatic: LabUplink { Signals.isVsockHost() ? .vsock : .vhostUserVsock }

    /// `--transport`'s words: vsock (the automatic choice), vhost-vsock, vhost-user-vsock, serial.
    public init?(transport: String) {
        switch transport {
        case "vsock", "auto": self = LabUplink.automatic
        case "vhost-vsock": self = .vsock
        case "vhost-user-vsock": self = .vhostUserVsock
        case "serial", "virtio-serial": self = .virtioSerial
        default: return nil
        }
    }
}

/// The outcome of one guest boot.
public struct BootResult: Sendable {
    public var index: Int
    public var disks: [DiskModel]
    public var nics: [NicModel]
    public var seconds: Double
    public var timedOut: Bool
    public var qemuStatus: Int32
    /// Per disk index, the first failing exit status of its runs, else 0 (nil: never reported).
    public var slotStatus: [Int: Int]
    /// Disks (by slot) whose run the guest could not end, with the device: its I/O never completed.
    public var stalledSlots: [Int: String] = [:]
    /// The exit status of the guest's `vbench run --device net` (nil: no NICs, or never reported).
    public var netStatus: Int?
    /// The guest interface of each NIC model (`nic virtio-net eth0` markers).
    public var nicInterfaces: [NicModel: String]
    /// What the peer said when it stopped (`stopped: N tests served, …`).
    public var serveReport: String?
    /// Throttled boots: disk index → the IOPS limit set, the reference IOPS, or why it failed.
    public var throttles: [Int: Int] = [:]
    public var throttleReference: Double?
    public var throttleFailure: String?
    public var sendStatus: Int?
    /// The vsock loopback check inside the guest.
    public var vsock: LabEvents.Outcome?
    /// The large-record check.
    public var transportCheck: LabEvents.Outcome?
    /// The transport benchmark's sends.
    public var transportBench: [TransportBenchSend] = []
    /// Everything the guest reported, in order.
    public var events: [LabEvent] = []
    public var recordsStored: Int
    public var bytesStored: Int
    public var console: String
    public var commandLine: [String]
    /// The channel the records came home on.
    public var uplink: LabUplink
}

/// Boots guests for a matrix, collects their records over virtio-serial into the store, and
/// runs the native baseline on this machine.
public final class LabRunner {
    public struct Options: Sendable {
        public var matrix: LabMatrix
        public var cache: LabCache
        public var acceleration: Acceleration = .auto
        /// Bound of one boot, from QEMU start to power-off.
        public var bootTimeout: Double = 900
        /// Bound of the KVM probe boot.
        public var kvmProbeTimeout: Double = 30
        public var runId: String
        public var extraTags: [String: String] = [:]
        /// How guests send records home: AF_VSOCK to CID 2, through `vhost-vsock-pci` on a host
        /// with /dev/vhost-vsock, else through the collector's own vhost-user-vsock device;
        /// virtio-serial (a chardev on the collector's Unix socket) when asked for.
        public var uplink: LabUplink = .automatic
        /// This machine's vbench, which runs `serve` as the guests' network peer.
        public var hostBinary: String = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        public init(matrix: LabMatrix, cache: LabCache, runId: String) {
            self.matrix = matrix
            self.cache = cache
            self.runId = runId
        }
    }

    public let options: Options
    public let appliance: Appliance
    /// Where collected records go; nil for boots that collect none (hypervisor seeds).
    public let store: (any RunStore)?
    let log: (String) -> Void
    let progress: (String) -> Void

    public init(options: Options, appliance: Appliance, store: (any RunStore)?,
                log: @escaping (String) -> Void, progress: @escaping (String) -> Void) {
        self.options = options
        self.appliance = appliance
        self.store = store
        self.log = log
        self.progress = progress
    }

    /// `QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u16)` → `7.2.19`.
    public static func qemuVersion() throws -> (version: String, line: String) {
        let o = try Subprocess.check("qemu-system-x86_64", ["--version"], timeout: 30, what: "qemu-system-x86_64 --version")
        let line = String(o.stdout.split(separator: "\n").first ?? "")
        let version = line.split(separator: " ").first { $0.first?.isNumber == true }.map(String.init) ?? "unknown"
        return (version, line)
    }

    /// The machine-independent part of the QEMU command line.
    func baseArguments(accel: Acceleration, initrd: String, console: String, append extra: String = "") -> [String] {
        let m = options.matrix
        return ["-accel", accel == .kvm ? "kvm" : "tcg", "-machine", "pc", "-cpu", "qemu64,rdrand=on",
                "-m", "\(m.memoryMiB)", "-smp", "\(m.cpus)",
                "-kernel", appliance.kernel.image, "-initrd", initrd,
                "-append", "console=ttyS0 panic=-1 scsi_mod.scan=sync random.trust_cpu=on loglevel=5 vbench.lab=1" + extra,
                "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
                "-serial", "file:\(console)"]
    }

    /// Decides the acceleration: TCG unless asked for KVM or `auto` finds /dev/kvm usable and a
    /// probe boot reaches the guest's init within the probe timeout (stock kernels hang under a
    /// nested PVM /dev/kvm: the probe catches that).
    public func chooseAcceleration() throws -> (Acceleration, String) {
        switch options.acceleration {
        case .tcg: return (.tcg, "TCG (asked for)")
        case .kvm, .auto:
            guard ProcessControl.canOpenReadWrite("/dev/kvm") else {
                if options.acceleration == .kvm { throw LabError("--accel kvm: /dev/kvm is missing or not accessible to this user") }
                return (.tcg, "TCG (no usable /dev/kvm)")
            }
            let dir = try options.cache.makeDirectory("runs/\(options.runId)/kvm-probe")
            let console = "\(dir)/console.log"
            progress("probing KVM: a boot that must reach init within \(Int(options.kvmProbeTimeout)) s")
            let args = baseArguments(accel: .kvm, initrd: appliance.initrd, console: console)
            let o = try Subprocess.run("qemu-system-x86_64", args, timeout: options.kvmProbeTimeout,
                                       stdoutPath: "\(dir)/qemu.out", stderrPath: "\(dir)/qemu.err")
            let text = (try? String(contentsOfFile: console, encoding: .utf8)) ?? ""
            if text.contains("VBENCH-LAB: ready") && !o.timedOut {
                return (.kvm, "KVM (probe boot reached init in \(formatFixed(o.seconds, digits: 1)) s)")
            }
            let why = o.timedOut ? "did not reach init within \(Int(options.kvmProbeTimeout)) s" : "QEMU exited with \(o.status)"
            if options.acceleration == .kvm { throw LabError("--accel kvm: the KVM probe boot \(why); see \(dir)") }
            return (.tcg, "TCG (KVM probe boot \(why))")
        }
    }

    /// A backing file of `mib` MiB filled with a constant pattern (no holes: reads reach the
    /// host's disk, and no partition or filesystem signature).
    func backingFile(_ path: String, mib: Int) throws {
        let fm = FileManager.default
        _ = fm.createFile(atPath: path, contents: nil)
        guard let h = FileHandle(forWritingAtPath: path) else { throw LabError("cannot create \(path)") }
        defer { try? h.close() }
        let chunk = Data(repeating: 0x5a, count: 1 << 20)
        for _ in 0..<mib { try h.write(contentsOf: chunk) }
        try h.synchronize()
    }

    /// The job the guest's agent runs (`vbench lab agent --job /job/job.json`): every disk by
    /// its serial, in the order of the matrix's passes, schedulers and throttle reference, each
    /// run's records sent after it; then the NICs (found by MAC, addressed, routed to the peer)
    /// in one `vbench run --device net --iface auto`.
    func labJob(disks: [DiskModel], nics: [NicModel] = [], tags: [String: String], commandLine: [String],
                sendTo: String = "serial:/dev/virtio-ports/org.vbench.0") -> LabJob {
        let m = options.matrix
        var allTags = tags
        allTags["qemu.cmdline"] = (["qemu-system-x86_64"] + commandLine).joined(separator: " ")
        let limits = Dictionary(uniqueKeysWithValues: (m.throttle?.limited ?? []).map { ($0.index, $0.fraction) })
        let jobDisks = disks.enumerated().map { i, model in
            var t = ["lab.disk": model.rawValue, "lab.slot": "\(i)"]
            if let f = limits[i] { t["lab.throttle"] = "\(f)" }
            return LabJob.Disk(slot: i, model: model.rawValue, serial: model.serial(i), throttled: limits[i] != nil, tags: t)
        }
        var steps: [LabJob.Step] = []
        if let schedulers = m.ioschedulers {
            // Each disk under each scheduler, the order reversed every other pass (A B, B A, …):
            // a drift inside the boot falls on both alike.
            for pass in 1...(m.passes ?? 1) {
                for sched in pass % 2 == 1 ? schedulers : schedulers.reversed() {
                    for i in disks.indices {
                        steps.append(LabJob.Step(slot: i, tags: ["lab.phase": "measure", "lab.pass": "\(pass)", "lab.ioscheduler": sched], ioscheduler: sched))
                    }
                }
            }
        } else if let passes = m.passes {
            // The reference pass first (throttled boots), then every disk round-robin.
            if let t = m.throttle {
                steps.append(LabJob.Step(slot: t.reference, tags: ["lab.phase": "reference", "lab.pass": "0"], repetitions: 5, rampSeconds: 3))
            }
            for pass in 1...passes {
                for i in disks.indices { steps.append(LabJob.Step(slot: i, tags: ["lab.phase": "measure", "lab.pass": "\(pass)"])) }
            }
        } else {
            steps = disks.indices.map { LabJob.Step(slot: $0) }
        }
        let block = LabJob.BlockPlan(profile: m.profile, rw: m.rw, bs: m.rw == nil ? nil : (m.bs ?? "4k"), iodepth: m.rw == nil ? nil : (m.iodepth ?? 32),
                                     runtimeSeconds: m.runtimeSeconds, repetitions: m.repetitions, boundSeconds: m.guestRunBound().rounded(.up))
        let network = nics.isEmpty ? nil : LabJob.NetworkPlan(
            peer: LabNetwork.peerAddress,
            nics: nics.enumerated().map { i, nic in
                LabJob.Nic(model: nic.rawValue, mac: LabNetwork.mac(i), address: LabNetwork.guestAddress(i), gateway: LabNetwork.hostAddress(i), metric: i + 1)
            },
            runtimeSeconds: m.netSeconds, repetitions: m.netRepetitions, boundSeconds: m.guestNetRunBound(nics: nics.count).rounded(.up),
            tags: ["lab.nics": nics.map(\.rawValue).joined(separator: ",")])
        return LabJob(runId: options.runId, sendTo: sendTo, tags: allTags, block: block, disks: jobDisks, steps: steps, network: network,
                      controlPort: m.throttle == nil ? nil : "/dev/virtio-ports/org.vbench.ctl", vsockLoopback: m.vsockLoopback)
    }

    /// The base appliance plus a job archive: the kernel unpacks concatenated archives in order.
    /// The job (/job/job.json) is what the guest's `vbench lab agent` runs: a measuring boot's
    /// steps, a seeded boot's probe, or a crash boot's spool.
    func bootInitrd(job: LabJob, dir: String, files: [String: Data] = [:]) throws -> String {
        try bootInitrd(files: files.merging(["job.json": try job.jsonData()]) { a, _ in a }, dir: dir)
    }

    private func bootInitrd(files: [String: Data], dir: String) throws -> String {
        let fm = FileManager.default
        let jobDir = "\(dir)/jobroot"
        try? fm.removeItem(atPath: jobDir)
        try fm.createDirectory(atPath: "\(jobDir)/job", withIntermediateDirectories: true)
        for (name, data) in files {
            let path = "\(jobDir)/job/\(name)"
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: path))
        }
        let initrd = "\(dir)/initrd.img"
        var data = try Data(contentsOf: URL(fileURLWithPath: appliance.initrd))
        // The next archive's header must start at a multiple of 4; the kernel skips zero padding.
        while data.count % 4 != 0 { data.append(0) }
        try data.write(to: URL(fileURLWithPath: initrd))
        try Subprocess.check("sh", ["-c", "cd \"$1\" && find job | sort | cpio -o -H newc --quiet >> \"$2\"", "sh", jobDir, initrd],
                             timeout: 60, what: "packing the job archive")
        return initrd
    }

    /// A synthetic record of at most `bytes` bytes of JSON (within 1 % of it; one repetition at least) for the transport
    /// check: a valid `blk` record (the store takes no other kind) whose workloads
    /// `transport-check-N` hold pseudo-random metrics in up to 10,000 repetitions each, the boot's
    /// tags, `lab.check=transport` and `lab.check.sha256`, the SHA-256 of the workloads' JSON:
    /// whoever reads the record from the store can tell it arrived whole (`transportCheckIntact`).
    /// The bound is on the whole record, tags included, so a record sized to the frame limit less
    /// a margin never exceeds the limit (the metrics' printed lengths vary from one to the next).
    public static func transportCheckRecord(bytes: Int, tags: [String: String], check: String = "transport") throws -> RunRecord {
        var state = UInt64.random(in: 1...UInt64.max)
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) * 1e9
        }
        func metrics() -> [String: Double] {
            var m: [String: Double] = [:]
            for k in 0..<32 { m["check\(k < 10 ? "0" : "")\(k)"] = next() }
            return m
        }
        let encoder = RunRecord.encoder(pretty: false)
        let sample = try (0..<64).map { _ in try encoder.encode(RepetitionResult(index: 0, elapsedNs: 1_000_000, jobs: [], metrics: metrics())).count + 1 }
        let perRepetition = sample.reduce(0, +) / sample.count
        var all = (0..<max(1, bytes / perRepetition)).map { _ in metrics() }
        var t = tags
        t["lab.check"] = check
        let now = Date()
        while true {
            var workloads: [WorkloadResult] = []
            var start = 0
            while start < all.count {
                let n = min(all.count - start, 10_000)
                let spec = BlockWorkloadSpec(name: "transport-check-\(workloads.count)", pattern: .read, blockSizeBytes: 4096, ioDepth: 1, repetitions: n)
                let repetitions = (0..<n).map { RepetitionResult(index: $0, elapsedNs: 1_000_000, jobs: [], metrics: all[start + $0]) }
                workloads.append(WorkloadResult(spec: spec, repetitions: repetitions))
                start += n
            }
            t["lab.check.sha256"] = SHA256.hex(Array(try encoder.encode(workloads)))
            let record = RunRecord(runId: UUID(), startTime: now, endTime: now, role: .guest, tool: ToolInfo(), tags: t,
                                   environment: Environment(hostname: "lab", kernelRelease: "", cpuModel: "", onlineCpus: 1, memoryBytes: 0, numaNodes: 1,
                                                            hypervisor: HypervisorInfo(vendor: .unknown)),
                                   device: DeviceInfo(kind: "transport", name: "uplink", deviceClass: .unknown), family: "blk", target: nil, workloads: workloads)
            let excess = try record.jsonData(pretty: false).count - bytes
            guard excess > 0, all.count > 1 else { return record }
            all.removeLast(min(all.count - 1, excess / perRepetition + 1))
        }
    }

    /// Whether a transport-check record read back from a store is the one that was sent: its
    /// workloads hash to its `lab.check.sha256`.
    public static func transportCheckIntact(_ record: RunRecord) -> Bool {
        guard let want = record.tags["lab.check.sha256"], let data = try? RunRecord.encoder(pretty: false).encode(record.workloads) else { return false }
        return SHA256.hex(Array(data)) == want
    }

    /// Boots one guest with `devices`, collecting its records. `accel` from `chooseAcceleration`.
    /// The channel home for a boot in `dir`. vsock: a guest CID of our own, the collector on the
    /// host's vsock port accepting that CID only; never chosen without /dev/vhost-vsock (see
    /// Options.uplink). vhost-user-vsock: the collector serves the device on a Unix socket and
    /// QEMU shares the guest's RAM with it (a memfd). virtio-serial: a chardev on `socket`.
    func uplinkChannel(dir: String, socket: String) -> (deviceArgs: [String], endpoint: Endpoint, sendTo: String, allowedCIDs: Set<UInt32>?) {
        switch options.uplink {
        case .virtioSerial:
            return (["-device", "virtio-serial-pci", "-chardev", "socket,id=vbc,path=\(socket)",
                     "-device", "virtserialport,chardev=vbc,name=org.vbench.0"],
                    .unix(path: socket), "serial:/dev/virtio-ports/org.vbench.0", nil)
        case .vsock:
            let cid = UInt32.random(in: 10_000...4_000_000)
            let port = UInt32.random(in: 20_000...60_000)
            return (["-device", "vhost-vsock-pci,guest-cid=\(cid)"], .vsock(cid: nil, port: port), "vsock://2:\(port)", [cid])
        case .vhostUserVsock:
            let cid = Endpoint.defaultGuestCID, port = Endpoint.defaultVsockPort
            let path = "\(dir)/vsock.sock"
            return (["-object", "memory-backend-memfd,id=mem,size=\(options.matrix.memoryMiB)M,share=on", "-numa", "node,memdev=mem",
                     "-chardev", "socket,id=vbv,path=\(path)", "-device", "vhost-user-vsock-pci,chardev=vbv"],
                    .vhostUserVsock(path: path, cid: cid, port: port), "vsock://2:\(port)", [cid])
        }
    }

    public func boot(index: Int, devices: LabMatrix.Boot, accel: Acceleration, qemuVersion: String) throws -> BootResult {
        let m = options.matrix
        let disks = devices.disks, nics = devices.nics
        guard let store else { throw LabError("a measuring boot needs a results store") }
        let dir = try options.cache.makeDirectory("runs/\(options.runId)/boot-\(index)")
        let socket = "\(dir)/uplink.sock"
        guard socket.utf8.count < 108 else { throw LabError("\(socket): the path is too long for a Unix socket; use a shorter VBENCH_LAB_CACHE") }
        var deviceArgs: [String] = []
        var images: [String] = []
        for (i, model) in disks.enumerated() {
            let image = "\(dir)/disk\(i)-\(model.rawValue).img"
            progress("boot \(index): creating \(m.diskSizeMiB) MiB backing file for \(model.rawValue)")
            try backingFile(image, mib: m.diskSizeMiB)
            images.append(image)
            deviceArgs += model.qemuArguments(index: i, image: image, cache: m.cache, aio: m.aio)
        }
        defer { for image in images { try? FileManager.default.removeItem(atPath: image) } }
        // NICs: tap devices in a namespace of our own, the peer inside it.
        var network: LabNetwork?
        if !nics.isEmpty {
            progress("boot \(index): network namespace with \(nics.count) tap devices and vbench serve")
            let n = try LabNetwork(nics: nics, tag: index, log: log)
            try n.startServe(binary: options.hostBinary, folder: dir, idleTimeout: options.bootTimeout + 60)
            for (i, nic) in nics.enumerated() { deviceArgs += LabNetwork.qemuArguments(nic, index: i) }
            network = n
        }
        defer { network?.remove() }
        let channel = uplinkChannel(dir: dir, socket: socket)
        deviceArgs += channel.deviceArgs
        let endpoint = channel.endpoint, sendTo = channel.sendTo, allowedCIDs = channel.allowedCIDs
        var serialBus = options.uplink == .virtioSerial
        // The transport benchmark's second channel: a virtio-serial port to the same collector.
        var endpoints = [endpoint]
        var benchFiles: [String: Data] = [:]
        var benchSends: [LabJob.BenchSend] = []
        if let b = m.transportBenchmark {
            guard options.uplink != .virtioSerial else {
                throw LabError("transportBenchmark compares the vsock uplink with virtio-serial: run with --transport vsock, vhost-user-vsock or vhost-vsock")
            }
            let bench = "\(dir)/bench.sock"
            try? FileManager.default.removeItem(atPath: bench)
            if !serialBus { deviceArgs += ["-device", "virtio-serial-pci"]; serialBus = true }
            deviceArgs += ["-chardev", "socket,id=vbb,path=\(bench)", "-device", "virtserialport,chardev=vbb,name=org.vbench.bench"]
            endpoints.append(.unix(path: bench))
            progress("boot \(index): generating the transport benchmark's records")
            let channels = [(options.uplink.rawValue, sendTo), (LabUplink.virtioSerial.rawValue, "serial:/dev/virtio-ports/org.vbench.bench")]
            var benchTags = options.extraTags
            benchTags["lab.run"] = options.runId
            benchTags["lab.boot"] = "\(index)"
            for (label, _) in channels {
                benchTags["lab.transport"] = label
                for i in 0..<b.records {
                    benchFiles["bench/\(label)-small-\(i).json"] = try Self.transportCheckRecord(bytes: b.recordKiB << 10, tags: benchTags, check: "transport-bench").jsonData(pretty: false)
                }
                for i in 0..<b.largeRecords {
                    benchFiles["bench/\(label)-large-\(i).json"] = try Self.transportCheckRecord(bytes: b.largeMiB << 20, tags: benchTags, check: "transport-bench").jsonData(pretty: false)
                }
            }
            // Small records first on each, then large ones in the other order.
            let (a, z) = (channels[0], channels[1])
            func files(_ label: String, _ size: String, _ n: Int) -> [String] { (0..<n).map { "bench/\(label)-\(size)-\($0).json" } }
            benchSends = [
                LabJob.BenchSend(transport: a.0, size: "small", to: a.1, files: files(a.0, "small", b.records)),
                LabJob.BenchSend(transport: z.0, size: "small", to: z.1, files: files(z.0, "small", b.records)),
                LabJob.BenchSend(transport: z.0, size: "large", to: z.1, files: files(z.0, "large", b.largeRecords)),
                LabJob.BenchSend(transport: a.0, size: "large", to: a.1, files: files(a.0, "large", b.largeRecords)),
            ]
        }
        // Throttling from a disk of this boot: QMP for the limits, a control port to the guest.
        var throttleControl: ThrottleControl?
        var throttleSetup: (control: String, qmp: String)?
        if m.throttle != nil {
            let ctl = "\(dir)/ctl.sock", qmp = "\(dir)/qmp.sock"
            try? FileManager.default.removeItem(atPath: qmp)
            if !serialBus { deviceArgs += ["-device", "virtio-serial-pci"]; serialBus = true }
            deviceArgs += ["-chardev", "socket,id=vbctl,path=\(ctl)", "-device", "virtserialport,chardev=vbctl,name=org.vbench.ctl",
                           "-qmp", "unix:\(qmp),server=on,wait=off"]
            throttleSetup = (ctl, qmp)
        }
        let console = "\(dir)/console.log"
        // The job names the command line (without the job's own initrd path, which is per boot).
        let args = baseArguments(accel: accel, initrd: "\(dir)/initrd.img", console: console) + deviceArgs
        var tags = options.extraTags
        tags["lab.run"] = options.runId
        tags["lab.boot"] = "\(index)"
        tags["lab.matrix"] = m.name
        tags["qemu.version"] = qemuVersion
        tags["qemu.accel"] = accel.rawValue
        tags["qemu.cache"] = m.cache
        tags["qemu.aio"] = m.aio
        tags["lab.uplink"] = options.uplink.rawValue
        if !nics.isEmpty { tags["lab.netns"] = "tap" }
        var job = labJob(disks: disks, nics: nics, tags: tags, commandLine: args, sendTo: sendTo)
        var extraFiles = benchFiles
        job.transportBench = benchSends
        if m.transportCheckMiB > 0 {
            // One record as large as the wire allows, over the same uplink.
            extraFiles["transport-check.json"] = try Self.transportCheckRecord(bytes: (m.transportCheckMiB << 20) - (16 << 10), tags: tags).jsonData(pretty: false)
            job.transportCheck = "transport-check.json"
        }
        let initrd = try bootInitrd(job: job, dir: dir, files: extraFiles)
        // The per-boot copy of the appliance is 30 MB; the job script stays (jobroot/) with the logs.
        defer { try? FileManager.default.removeItem(atPath: initrd) }

        // The host side: the collector, listening before QEMU connects to it as a client.
        try? FileManager.default.removeItem(atPath: socket)
        var config = Collector.Configuration(endpoints: endpoints, collectorHost: hostName(),
                                             collectorKernel: Signals.kernelRelease(), vsockAllowed: Signals.isVsockHost())
        config.allowedCIDs = allowedCIDs
        // The guest is silent on the port until it sends, minutes after QEMU connected.
        config.idleTimeout = .seconds(Int64(options.bootTimeout) + 60)
        config.maxConnections = 4
        let events = LabEventLog()
        config.onLabEvent = { event, _ in events.append(event) }
        let collector = Collector(configuration: config, store: store)
        _ = try collector.start()
        defer { collector.stop() }
        if let t = m.throttle, let paths = throttleSetup {
            var referenceTags = ["lab.run": options.runId, "lab.boot": "\(index)"]
            if m.passes != nil { referenceTags["lab.phase"] = "reference" }
            throttleControl = try ThrottleControl(throttle: t, workload: m.throttleWorkload, controlPath: paths.control, qmpPath: paths.qmp,
                                                  runTags: referenceTags)
        }
        defer { throttleControl?.close() }

        progress("boot \(index): \(devices.label) under \(accel.rawValue.uppercased())")
        // With NICs, QEMU runs inside the namespace (ip execs it: the bounded PID is QEMU's).
        let (program, programArgs) = network.map { ("ip", $0.execPrefix + ["qemu-system-x86_64"] + args) } ?? ("qemu-system-x86_64", args)
        let o = try Subprocess.run(program, programArgs, timeout: options.bootTimeout,
                                   stdoutPath: "\(dir)/qemu.out", stderrPath: "\(dir)/qemu.err",
                                   onTick: { [progress, collector, log] seconds in
                                       throttleControl?.tick(store: store, log: log)
                                       // For people: the guest's console says which step is under way
                                       // (results come from its events).
                                       let text = (try? String(contentsOfFile: console, encoding: .utf8)) ?? ""
                                       progress("boot \(index): \(Int(seconds)) s, \(collector.stats.stored) records stored; \(ConsoleLines.markers(text).last ?? "booting")")
                                   })
        // Let the last ack's commit finish before the store is read.
        collector.stop()
        network?.remove()
        let outcome = LabEvents(events.all)
        if o.status != 0 || o.timedOut {
            let err = (try? String(contentsOfFile: "\(dir)/qemu.err", encoding: .utf8)) ?? ""
            log("boot \(index): QEMU \(o.timedOut ? "timed out after \(Int(options.bootTimeout)) s" : "exited with \(o.status)"): \(err.split(separator: "\n").suffix(3).joined(separator: " | ")) (console: \(console))")
        }
        return BootResult(index: index, disks: disks, nics: nics, seconds: o.seconds, timedOut: o.timedOut, qemuStatus: o.status,
                          slotStatus: outcome.slotStatus, stalledSlots: outcome.stalledSlots, netStatus: outcome.netStatus, nicInterfaces: outcome.nicInterfaces,
                          serveReport: network?.serveReport, throttles: throttleControl?.applied ?? [:],
                          throttleReference: throttleControl?.referenceIOPS,
                          throttleFailure: m.throttle == nil ? nil : (throttleControl?.failure ?? (throttleControl?.state == .done ? nil : "the limits were never set (the reference record did not arrive)")),
                          sendStatus: outcome.sendStatus, vsock: outcome.vsock, transportCheck: outcome.transportCheck, transportBench: outcome.transportBench, events: events.all, recordsStored: collector.stats.stored + collector.stats.duplicates,
                          bytesStored: collector.stats.storedBytes, console: console, commandLine: ["qemu-system-x86_64"] + args,
                          uplink: options.uplink)
    }
}

/// The `VBENCH-LAB: …` lines of a console log, without the prefix and the trailing ` at N s`:
/// what people read in a boot log, and what the spool crash test kills on. Serial consoles end
/// lines with CR LF, which Swift reads as one character: lines are split on every newline kind.
public enum ConsoleLines {
    public static func markers(_ console: String) -> [String] {
        console.split(whereSeparator: \.isNewline).compactMap { raw in
            guard let r = raw.range(of: "VBENCH-LAB: ") else { return nil }
            var text = String(raw[r.upperBound...]).trimmingCharacters(in: .whitespaces)
            if let at = text.range(of: " at ", options: .backwards), text.hasSuffix(" s") { text = String(text[..<at.lowerBound]) }
            return text
        }
    }
}

/// The events of one boot as they arrived.
final class LabEventLog: Sendable {
    private let events = Mutex<[LabEvent]>([])
    func append(_ e: LabEvent) { events.withLock { $0.append(e) } }
    var all: [LabEvent] { events.withLock { $0 } }
}

/// What a boot's guest reported, read from its typed events.
public struct LabEvents: Sendable, Equatable {
    /// Per disk index (slot), the exit status of its runs: the first failure, else 0.
    public var slotStatus: [Int: Int] = [:]
    /// Disks (by slot) whose run the guest could not end: the device never completed its I/O.
    public var stalledSlots: [Int: String] = [:]
    /// The exit status of the guest's `vbench run --device net`.
    public var netStatus: Int?
    /// The interface each NIC model got.
    public var nicInterfaces: [NicModel: String] = [:]
    /// The job's end: the first failed send's status, else 0 (nil: the job never ended).
    public var sendStatus: Int?
    public var vsock: Outcome?
    public var transportCheck: Outcome?
    public var transportBench: [TransportBenchSend] = []

    /// A step's exit status and what the guest said of it.
    public struct Outcome: Sendable, Equatable {
        public var exitStatus: Int
        public var report: String
        public var text: String { "exit \(exitStatus): \(report)" }
    }

    public init(_ events: [LabEvent]) {
        for e in events {
            switch e.kind {
            case let .diskRun(slot, _, _, status):
                // A disk may run several times (passes): keep the first failure.
                if slotStatus[slot] == nil || slotStatus[slot] == 0 { slotStatus[slot] = status }
            case let .diskStalled(slot, _, device): stalledSlots[slot] = device
            case let .nic(model, interface, _):
                if let m = NicModel(rawValue: model), let interface { nicInterfaces[m] = interface }
            case let .netRun(status): netStatus = status
            case let .done(status): sendStatus = status
            case let .vsockLoopback(status, report): vsock = Outcome(exitStatus: status, report: report)
            case let .transportCheck(status, report): transportCheck = Outcome(exitStatus: status, report: report)
            case let .transportBench(t, size, status, records, bytes, seconds, report):
                transportBench.append(TransportBenchSend(transport: t, size: size, exitStatus: status, records: records, bytes: bytes,
                                                         seconds: seconds, sendReport: report))
            case .send, .throttles: break
            }
        }
    }
}

/// One send of the transport benchmark, as the guest timed it.
public struct TransportBenchSend: Sendable, Equatable {
    public var transport: String
    public var size: String
    public var exitStatus: Int
    public var records: Int
    public var bytes: Int
    public var seconds: Double
    /// What the send said (`stored 100, already stored 0, still spooled 0`).
    public var sendReport: String

    public var recordsPerSecond: Double { seconds > 0 ? Double(records) / seconds : 0 }
    public var megabytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e6 : 0 }
    /// Every record stored or already stored, nothing left in the spool.
    public var delivered: Bool { exitStatus == 0 && sendReport.hasSuffix("still spooled 0") }
}
