import Foundation
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
    /// The guest's report of the vsock loopback check (`vsock send exit 0; collector stopped: …`).
    public var vsockReport: String?
    /// The guest's report of the large-record check (`transport check exit 0: stored 1, …`).
    public var transportCheck: String?
    /// The guest's lines of the transport benchmark (`transport bench TRANSPORT SIZE exit N: …`).
    public var transportBench: [String] = []
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

    /// Single-quotes a word for the guest's sh.
    static func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// The job the guest runs: every disk by its serial, then the NICs (found by MAC, addressed,
    /// routed to the peer) in one `vbench run --device net --iface auto`; records sent after each.
    func jobScript(disks: [DiskModel], nics: [NicModel] = [], tags: [String: String], commandLine: [String],
                   sendTo: String = "serial:/dev/virtio-ports/org.vbench.0") -> String {
        let m = options.matrix
        // One run per disk and pass: the lab's passes, boots and rounds are its runs.
        var runArgs = ["--device", "blk", "--runs", "1", "--allow-destructive", "--profile", m.profile, "--out", "/out"]
        if let rw = m.rw { runArgs += ["--rw", rw, "--bs", m.bs ?? "4k", "--iodepth", "\(m.iodepth ?? 32)"] }
        if let r = m.runtimeSeconds { runArgs += ["--runtime", "\(r)"] }
        if let r = m.repetitions { runArgs += ["--repeat", "\(r)"] }
        var allTags = tags
        allTags["qemu.cmdline"] = (["qemu-system-x86_64"] + commandLine).joined(separator: " ")
        let tagArgs = allTags.sorted { $0.key < $1.key }.flatMap { ["--tag", "\($0.key)=\($0.value)"] }
        var s = """
            #!/bin/sh
            # Generated by vbench lab for run \(options.runId).
            say() { echo "VBENCH-LAB: $* at $(cut -d' ' -f1 /proc/uptime) s"; }
            # The disk whose serial is $1, whatever the kernel named it (sdX names move between boots).
            disk() {
                for b in /sys/block/*; do
                    for f in "$b/serial" "$b/device/serial" "$b/device/vpd_pg80"; do
                        if [ -r "$f" ] && grep -qa "$1" "$f" 2>/dev/null; then echo "/dev/${b##*/}"; return 0; fi
                    done
                done
                return 1
            }
            mkdir -p /out

            """
        let bound = Int(m.guestRunBound().rounded(.up))
        s += """
            # Send the records written so far, then move them out of the way: a disk that hangs
            # later loses nothing that was measured before it.
            sendfail=0
            send() {
                set -- /out/runs/*.json
                [ -e "$1" ] || return 0
                timeout 150 /vbench send --to \(sendTo) --spool /out/spool --timeout 120 "$@" >/tmp/send.log 2>&1
                st=$?
                if [ $st -eq 0 ]; then mkdir -p /out/sent; mv "$@" /out/sent/; else tail -n 5 /tmp/send.log; sendfail=$st; fi
                return $st
            }

            """
        let limits = Dictionary(uniqueKeysWithValues: (m.throttle?.limited ?? []).map { ($0.index, $0.fraction) })
        /// One disk's run: by serial, bounded, its records sent right after.
        func diskRun(_ i: Int, _ model: DiskModel, extraArgs: [String], indent: String = "") -> String {
            let serial = model.serial(i)
            var diskTags = ["--tag", "lab.disk=\(model.rawValue)", "--tag", "lab.slot=\(i)"]
            if let f = limits[i] { diskTags += ["--tag", "lab.throttle=\(f)"] }
            let args = (runArgs + tagArgs + diskTags + extraArgs).map(Self.shellQuote).joined(separator: " ")
            var out = ""
            var dynamic = ""
            if limits[i] != nil {
                // The host sets the limits once the reference disk's record has arrived, then
                // writes one line (`d1=22500 d2=17500`) on the control port.
                out += """
                    if [ -z "$limits" ]; then
                        say "waiting for throttles"
                        limits=$(timeout 300 head -n 1 /dev/virtio-ports/org.vbench.ctl)
                        say "throttles $limits"
                    fi

                    """
                dynamic = " --tag \"lab.throttle.iops=$(echo \"$limits\" | tr ' ' '\\n' | sed -n 's/^d\(i)=//p')\""
            }
            var pass = m.passes == nil && m.ioschedulers == nil ? "" : " --tag \"lab.pass=$pass\""
            if m.ioschedulers != nil { pass += " --ioscheduler \"$sched\" --tag \"lab.ioscheduler=$sched\"" }
            out += """
                if dev=$(disk \(serial)); then
                    say "run \(model.rawValue) on $dev"
                    timeout \(bound) /vbench run --target "$dev" \(args)\(dynamic)\(pass) >/tmp/run-\(i).log 2>&1
                    status=$?
                    say "run \(model.rawValue) exit $status slot \(i)"
                    [ $status -eq 0 ] || tail -n 15 /tmp/run-\(i).log
                    send
                    say "send \(model.rawValue) exit $?"
                else
                    say "run \(model.rawValue) exit 127 slot \(i) (no disk with serial \(serial))"
                fi

                """
            return out.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : indent + $0 }.joined(separator: "\n")
        }
        if let schedulers = m.ioschedulers {
            // Each disk under each scheduler, the order reversed every other pass (A B, B A, …):
            // a drift inside the boot falls on both alike.
            // Names are letters, digits, - and _ (LabMatrix.check): no quoting needed.
            let order = schedulers.joined(separator: " ")
            let reversed = schedulers.reversed().joined(separator: " ")
            s += "for pass in $(seq 1 \(m.passes ?? 1)); do\n"
            s += "    if [ $((pass % 2)) -eq 1 ]; then order=\"\(order)\"; else order=\"\(reversed)\"; fi\n"
            s += "    for sched in $order; do\n"
            for (i, model) in disks.enumerated() {
                s += diskRun(i, model, extraArgs: ["--tag", "lab.phase=measure"], indent: "        ")
            }
            s += "    done\ndone\n"
        } else if let passes = m.passes {
            // The reference pass first (throttled boots), then every disk round-robin.
            if let t = m.throttle {
                s += "pass=0\n" + diskRun(t.reference, disks[t.reference], extraArgs: ["--repeat", "5", "--ramp", "3", "--tag", "lab.phase=reference"])
            }
            s += "for pass in $(seq 1 \(passes)); do\n"
            for (i, model) in disks.enumerated() {
                s += diskRun(i, model, extraArgs: ["--tag", "lab.phase=measure"], indent: "    ")
            }
            s += "done\n"
        } else {
            for (i, model) in disks.enumerated() { s += diskRun(i, model, extraArgs: []) }
        }
        if !nics.isEmpty {
            s += netJob(nics: nics, tagArgs: tagArgs)
        }
        s += """
            say "send exit $sendfail"

            """
        if m.vsockLoopback {
            // AF_VSOCK on a real kernel: a collector inside this guest on vsock_loopback, the
            // records sent to CID 1. Allowed because this kernel was booted with vbench.lab=1.
            s += """
                set -- /out/sent/*.json
                if ! /vbench collect --help >/dev/null 2>&1; then
                    say "vsock send exit 127; collector none: this vbench has no collect (the guest binary); pass a full static vbench as --binary for vsockLoopback"
                elif [ -e "$1" ] && modprobe vsock_loopback; then
                    /vbench collect --listen vsock://any:5000 --store /tmp/vsock.sqlite >/tmp/vsock-collect.log 2>&1 &
                    cpid=$!
                    sleep 1
                    timeout 120 /vbench send --to vsock://1:5000 --spool /tmp/vsock-spool --timeout 60 "$@" >/tmp/vsock-send.log 2>&1
                    vstatus=$?
                    kill -TERM $cpid; wait $cpid
                    say "vsock send exit $vstatus; collector $(grep -o 'stopped: .*' /tmp/vsock-collect.log)"
                    [ $vstatus -eq 0 ] || tail -n 5 /tmp/vsock-send.log /tmp/vsock-collect.log
                fi

                """
        }
        return s
    }

    /// The NIC part of the job. Each NIC is found by the MAC the lab gave it, gets
    /// 10.77.(i+1).2/24 and a route to the peer 10.77.0.1 with metric i+1; once every link has
    /// carrier, one `vbench run --device net --iface auto` tests every interface routing the
    /// peer, each bound to its interface.
    func netJob(nics: [NicModel], tagArgs: [String]) -> String {
        let m = options.matrix
        let bound = Int(m.guestNetRunBound(nics: nics.count).rounded(.up))
        var s = """
            # The interface whose MAC is $1.
            nicif() {
                for n in /sys/class/net/*; do
                    [ "$(cat "$n/address" 2>/dev/null)" = "$1" ] && { echo "${n##*/}"; return 0; }
                done
                return 1
            }
            # Loose reverse-path checks: the peer's replies come back on the NIC that asked.
            for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 2 > "$f"; done
            nets=""

            """
        for (i, nic) in nics.enumerated() {
            s += """
                if ifc=$(nicif \(LabNetwork.mac(i))); then
                    ip addr add \(LabNetwork.guestAddress(i))/24 dev "$ifc" && ip link set "$ifc" up
                    nets="$nets $ifc:\(i + 1):\(LabNetwork.hostAddress(i))"
                    say "nic \(nic.rawValue) $ifc $(readlink /sys/class/net/$ifc/device/driver | sed 's|.*/||')"
                else
                    say "nic \(nic.rawValue) missing (no interface with MAC \(LabNetwork.mac(i)))"
                fi

                """
        }
        let args = (["--device", "net", "--runs", "1", "--peer", LabNetwork.peerAddress, "--iface", "auto",
                     "--runtime", "\(m.netSeconds)", "--repeat", "\(m.netRepetitions)", "--out", "/out"]
                    + tagArgs + ["--tag", "lab.nics=\(nics.map(\.rawValue).joined(separator: ","))"]).map(Self.shellQuote).joined(separator: " ")
        s += """
            # Carrier on every link (e1000 negotiates for a moment), at most 15 s; then the routes.
            for t in $(seq 1 30); do
                down=0
                for n in $nets; do [ "$(cat /sys/class/net/${n%%:*}/carrier 2>/dev/null)" = 1 ] || down=1; done
                [ $down -eq 0 ] && break
                sleep 0.5
            done
            for n in $nets; do
                ifc=${n%%:*}; rest=${n#*:}; metric=${rest%%:*}; gw=${rest#*:}
                ip route add \(LabNetwork.peerAddress)/32 via "$gw" dev "$ifc" metric "$metric"
            done
            if [ -n "$nets" ]; then
                say "run net on$nets"
                timeout \(bound) /vbench run \(args) >/tmp/run-net.log 2>&1
                status=$?
                say "run net exit $status"
                [ $status -eq 0 ] || tail -n 15 /tmp/run-net.log
                send
                say "send net exit $?"
            else
                say "run net exit 127 (no NIC found)"
            fi

            """
        return s
    }

    /// The base appliance plus a job archive: the kernel unpacks concatenated archives in order.
    func bootInitrd(job: String, dir: String, files: [String: Data] = [:]) throws -> String {
        let fm = FileManager.default
        let jobDir = "\(dir)/jobroot"
        try? fm.removeItem(atPath: jobDir)
        try fm.createDirectory(atPath: "\(jobDir)/job", withIntermediateDirectories: true)
        try job.write(toFile: "\(jobDir)/job/run.sh", atomically: true, encoding: .utf8)
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
        var benchJob = ""
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
            benchJob = """
                # The transport benchmark: one send per transport and size, timed by /proc/uptime.
                bench() {
                    read t0 _ < /proc/uptime
                    timeout 900 /vbench send --to "$2" --spool "/tmp/bench-spool-$1-$3" --timeout 800 /job/bench/$1-$3-*.json >/tmp/bench.log 2>&1
                    rc=$?
                    read t1 _ < /proc/uptime
                    say "transport bench $1 $3 exit $rc: $(ls /job/bench/$1-$3-*.json | wc -l) records $(cat /job/bench/$1-$3-*.json | wc -c) bytes from $t0 to $t1 s: $(tail -n 1 /tmp/bench.log)"
                    [ $rc -eq 0 ] || tail -n 15 /tmp/bench.log
                    rm -rf "/tmp/bench-spool-$1-$3"
                }
                bench \(a.0) \(a.1) small
                bench \(z.0) \(z.1) small
                bench \(z.0) \(z.1) large
                bench \(a.0) \(a.1) large

                """
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
        var job = jobScript(disks: disks, nics: nics, tags: tags, commandLine: args, sendTo: sendTo)
        var extraFiles = benchFiles
        job += benchJob
        if m.transportCheckMiB > 0 {
            extraFiles["transport-check.json"] = try Self.transportCheckRecord(bytes: (m.transportCheckMiB << 20) - (16 << 10), tags: tags).jsonData(pretty: false)
            job += """
                # One record as large as the wire allows, over the same uplink.
                timeout 900 /vbench send --to \(sendTo) --spool /tmp/transport-spool --timeout 800 /job/transport-check.json >/tmp/transport.log 2>&1
                tstatus=$?
                say "transport check exit $tstatus: $(tail -n 1 /tmp/transport.log)"
                [ $tstatus -eq 0 ] || tail -n 15 /tmp/transport.log

                """
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
                                       let text = (try? String(contentsOfFile: console, encoding: .utf8)) ?? ""
                                       let last = ConsoleMarkers(console: text).lines.last
                                       progress("boot \(index): \(Int(seconds)) s, \(collector.stats.stored) records stored; \(last ?? "booting")")
                                   })
        // Let the last ack's commit finish before the store is read.
        collector.stop()
        network?.remove()
        let text = (try? String(contentsOfFile: console, encoding: .utf8)) ?? ""
        let markers = ConsoleMarkers(console: text)
        if o.status != 0 || o.timedOut {
            let err = (try? String(contentsOfFile: "\(dir)/qemu.err", encoding: .utf8)) ?? ""
            log("boot \(index): QEMU \(o.timedOut ? "timed out after \(Int(options.bootTimeout)) s" : "exited with \(o.status)"): \(err.split(separator: "\n").suffix(3).joined(separator: " | ")) (console: \(console))")
        }
        return BootResult(index: index, disks: disks, nics: nics, seconds: o.seconds, timedOut: o.timedOut, qemuStatus: o.status,
                          slotStatus: markers.slotStatus, netStatus: markers.netStatus, nicInterfaces: markers.nicInterfaces,
                          serveReport: network?.serveReport, throttles: throttleControl?.applied ?? [:],
                          throttleReference: throttleControl?.referenceIOPS,
                          throttleFailure: m.throttle == nil ? nil : (throttleControl?.failure ?? (throttleControl?.state == .done ? nil : "the limits were never set (the reference record did not arrive)")),
                          sendStatus: markers.sendStatus, vsockReport: markers.vsockReport, transportCheck: markers.transportCheck, transportBench: markers.transportBench, recordsStored: collector.stats.stored + collector.stats.duplicates,
                          bytesStored: collector.stats.storedBytes, console: console, commandLine: ["qemu-system-x86_64"] + args,
                          uplink: options.uplink)
    }
}

/// What the guest's `VBENCH-LAB: …` console lines say. Serial consoles end lines with CR LF,
/// which Swift reads as one character: lines are split on every newline kind.
public struct ConsoleMarkers: Sendable, Equatable {
    /// The marker texts, without the prefix and the trailing ` at N s`.
    public var lines: [String] = []
    /// Per disk model, the exit status of the guest's `vbench run`.
    public var runStatus: [DiskModel: Int] = [:]
    /// Per disk index (slot), the exit status of its runs: the first failure, else 0.
    public var slotStatus: [Int: Int] = [:]
    /// The exit status of the guest's `vbench run --device net`.
    public var netStatus: Int?
    /// The interface each NIC model got (`nic virtio-net eth0 virtio_net`).
    public var nicInterfaces: [NicModel: String] = [:]
    public var sendStatus: Int?
    public var vsockReport: String?
    public var transportCheck: String?
    public var transportBench: [String] = []

    public init(console: String) {
        for raw in console.split(whereSeparator: \.isNewline) {
            guard let r = raw.range(of: "VBENCH-LAB: ") else { continue }
            var text = String(raw[r.upperBound...]).trimmingCharacters(in: .whitespaces)
            if let at = text.range(of: " at ", options: .backwards), text.hasSuffix(" s") { text = String(text[..<at.lowerBound]) }
            lines.append(text)
            let words = text.split(separator: " ")
            if text.hasPrefix("vsock ") {
                vsockReport = text
            } else if text.hasPrefix("transport check ") {
                transportCheck = text
            } else if text.hasPrefix("transport bench ") {
                transportBench.append(text)
            } else if words.count >= 4, words[0] == "run", words[2] == "exit", let model = DiskModel(rawValue: String(words[1])) {
                // A model may appear on several disks: keep the first failure.
                if runStatus[model] == nil || runStatus[model] == 0 { runStatus[model] = Int(words[3]) }
                if words.count >= 6, words[4] == "slot", let slot = Int(words[5]), slotStatus[slot] == nil || slotStatus[slot] == 0 {
                    slotStatus[slot] = Int(words[3])
                }
            } else if words.count >= 4, words[0] == "run", words[1] == "net", words[2] == "exit" {
                netStatus = Int(words[3])
            } else if words.count >= 3, words[0] == "nic", let model = NicModel(rawValue: String(words[1])), words[2] != "missing" {
                nicInterfaces[model] = String(words[2])
            } else if words.count >= 3, words[0] == "send", words[1] == "exit" {
                sendStatus = Int(words[2])
            }
        }
    }
}

/// One line of the transport benchmark, as the guest says it:
/// `transport bench vhost-user-vsock small exit 0: 100 records 1638400 bytes from 20.51 to 24.02 s: stored 100, …`.
public struct TransportBenchLine: Sendable, Equatable {
    public var transport: String
    public var size: String
    public var exitStatus: Int
    public var records: Int
    public var bytes: Int
    public var seconds: Double
    /// What `vbench send` said last (`stored 100, already stored 0, still spooled 0`).
    public var sendReport: String

    public init?(_ line: String) {
        let head = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard head.count >= 2 else { return nil }
        let w = head[0].split(separator: " ")
        let v = head[1].split(separator: " ")
        // transport bench T S exit N | R records B bytes from A to Z s
        guard w.count == 6, w[0] == "transport", w[1] == "bench", w[4] == "exit", let status = Int(w[5]),
              v.count == 9, v[1] == "records", v[3] == "bytes", v[4] == "from", v[6] == "to",
              let records = Int(v[0]), let bytes = Int(v[2]), let from = Double(v[5]), let to = Double(v[7]), to >= from else { return nil }
        transport = String(w[2])
        size = String(w[3])
        exitStatus = status
        self.records = records
        self.bytes = bytes
        seconds = to - from
        sendReport = head.count > 2 ? head[2].trimmingCharacters(in: .whitespaces) : ""
    }

    public var recordsPerSecond: Double { seconds > 0 ? Double(records) / seconds : 0 }
    public var megabytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e6 : 0 }
    /// Every record stored or already stored, nothing left in the spool.
    public var delivered: Bool { exitStatus == 0 && sendReport.hasSuffix("still spooled 0") }
}
