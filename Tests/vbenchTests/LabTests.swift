import Foundation
import Testing
import VBenchCore
import VBenchLab
import VBenchStore
import VBenchStoreAPI
import VBenchTestSupport

/// Real guests: Debian's kernel under QEMU (TCG here: the KVM probe boot proves /dev/kvm
/// unusable), the static guest binary inside, records sent over the guest's AF_VSOCK to CID 2 and
/// collected into a real store: on a host without /dev/vhost-vsock (this one) through the
/// collector's own vhost-user-vsock device (the throttle test's control port is virtio-serial).
/// Needs qemu-system-x86, busybox-static, cpio, the kernel package (apt-get download) and a
/// the guest binary (scripts/test builds it into .build-static); skipped, loudly, without them.
enum LabPrerequisites {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let staticBinary: String? = {
        let candidates = [ProcessInfo.processInfo.environment["VBENCH_LAB_BINARY"], repo + "/.build-static/vbench-guest"].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static var missing: String? {
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") { return "qemu-system-x86_64" }
        if !FileManager.default.isExecutableFile(atPath: "/bin/busybox") { return "busybox-static" }
        if staticBinary == nil { return "the static guest binary (scripts/guest-binary .build-static/vbench-guest, or VBENCH_LAB_BINARY)" }
        return nil
    }
}

@Suite(.serialized) struct LabTests {
    @Test(.enabled(if: LabPrerequisites.missing == nil, "LAB TEST SKIPPED: missing \(LabPrerequisites.missing ?? "")"))
    func guestsBootMeasureAndReachTheStore() throws {
        let out = try ScratchFolder()
        let matrix = out.path + "/matrix.json"
        try Data(#"{"name":"ci","disks":["virtio-blk","ide"],"nics":["virtio-net","e1000"],"diskSizeMiB":64,"runtimeSeconds":0.5,"repetitions":2,"transportCheckMiB":16}"#.utf8)
            .write(to: URL(fileURLWithPath: matrix))
        let store = out.path + "/vbench.sqlite"
        let r = try Binary.run(["lab", "run", "--matrix", matrix, "--binary", LabPrerequisites.staticBinary!,
                                "--store", store, "--out", out.path, "--boot-timeout", "600", "--timeout", "1200", "--tag", "suite=ci"],
                               timeout: 1500)
        print(r.stdout)
        print(r.stderr)
        #expect(r.status == 0, "vbench lab run exited \(r.status)")

        let s = try SQLiteRunStore(path: store)
        let rows = try s.runs(RunQuery(tags: ["suite": "ci"]))
        let all = try rows.compactMap { try s.record($0.runId) }
        let records = all.filter { $0.tags["lab.check"] == nil }
        let guests = records.filter { $0.role == .guest && $0.family == "blk" }
        let nics = records.filter { $0.role == .guest && $0.family == "net" }
        let native = records.filter { $0.role == .native }
        #expect(guests.count == 2 && nics.count == 2 && native.count == 1, "\(records.count) records")
        let byDisk = Dictionary(guests.map { ($0.tags["lab.disk"] ?? "?", $0) }, uniquingKeysWith: { a, _ in a })
        // The guest's probe names each disk's driver and class from the real kernel.
        let virtio = try #require(byDisk["virtio-blk"])
        let ide = try #require(byDisk["ide"])
        #expect(virtio.device.driver == "virtio_blk" && virtio.device.deviceClass == .paravirtual, "\(virtio.device)")
        #expect(ide.device.controllerDriver == "ata_piix" && ide.device.deviceClass == .emulated, "\(ide.device)")
        for g in guests + nics {
            // Every record says how the guest ran: QEMU version, acceleration, cache/aio, the command line.
            let accel = try #require(g.tags["qemu.accel"])
            #expect(accel == "tcg" || accel == "kvm")
            if accel == "tcg" { #expect(g.environment.hypervisor.vendor == .qemuTcg) }
            #expect(g.tags["qemu.version"]?.first?.isNumber == true && g.tags["qemu.cache"] == "none" && g.tags["qemu.aio"] == "native")
            #expect(g.tags["qemu.cmdline"]?.contains("virtio-blk-pci") == true && g.tags["qemu.cmdline"]?.contains("ide-hd") == true)
            #expect(g.environment.kernelRelease.hasPrefix("6.1.0-") && g.workloads.count == (g.family == "net" ? 7 : 4))
        }
        // One `vbench run --device net --iface auto` in the guest: a record per NIC, each named
        // by the guest kernel's driver, against vbench serve in the lab's namespace.
        let byDriver = Dictionary(nics.map { ($0.device.driver ?? "?", $0) }, uniquingKeysWith: { a, _ in a })
        let vnet = try #require(byDriver["virtio_net"], "\(nics.map(\.device))")
        let e1000 = try #require(byDriver["e1000"], "\(nics.map(\.device))")
        #expect(vnet.device.deviceClass == .paravirtual && e1000.device.deviceClass == .emulated)
        #expect(vnet.device.mtuBytes == 1500 && e1000.device.mtuBytes == 1500 && vnet.device.name != e1000.device.name)
        for n in nics {
            #expect(n.workloads.allSatisfy { $0.spec.net?.peer == "10.77.0.1:5201" && $0.spec.net?.interface == n.device.name })
        }
        // Received goodput of one stream: virtio-net ahead of the emulated e1000 (2.7-4x in the
        // lab's boots under TCG; earlier measurements gave 4.6x with iperf3).
        let goodput = { (r: RunRecord) in r.workloads.first { $0.name == "stream-recv-p1-128k" }?.summary["throughputBitsPerSec"]?.mean ?? 0 }
        #expect(goodput(vnet) > goodput(e1000), "virtio-net \(goodput(vnet)) vs e1000 \(goodput(e1000)) bit/s")
        #expect(r.stdout.contains("virtio_net") && r.stdout.contains("e1000") && r.stdout.contains("×VIRTIO"))
        #expect(native.first?.tags["lab.disk"] == "native")
        // Guest to host over AF_VSOCK: the store's peer is the CID the host gave the device (3,
        // the vhost-user default; a random one under vhost-vsock), and the output and every
        // guest record name the uplink.
        let uplink = LabUplink.automatic
        let guestPeers = Set(rows.filter { $0.role == .guest }.map(\.peer))
        #expect(guestPeers == [uplink == .vhostUserVsock ? "vsock:cid=3" : guestPeers.first ?? "none"] && guestPeers.allSatisfy { $0.hasPrefix("vsock:cid=") },
                "\(guestPeers)")
        #expect((guests + nics).allSatisfy { $0.tags["lab.uplink"] == uplink.rawValue })
        #expect(r.stderr.contains("collected over \(uplink.rawValue)"), "\(r.stderr)")
        // A 16 MiB record (the frame limit, less 16 KiB) over the same uplink arrives whole.
        let check = all.filter { $0.tags["lab.check"] == "transport" }
        #expect(check.count == 1 && check.allSatisfy(LabRunner.transportCheckIntact), "\(check.count) transport-check records")
        #expect(try check.first.map { try $0.jsonData(pretty: false).count } ?? 0 > 16_000_000)
        #expect(r.stderr.contains("a 16 MiB record over \(uplink.rawValue): transport check exit 0") && r.stderr.contains("the stored record matches its SHA-256"))
        // The table has both models and the native row, with ratios.
        #expect(r.stdout.contains("virtio-blk") && r.stdout.contains("ata_piix") && r.stdout.contains("native"))
        // The paravirtual disk outruns the emulated IDE disk at queue depth 32 (5-7x under TCG in
        // every boot measured so far; the issue asks CI to hold the lab to it).
        let qd32 = { (r: RunRecord) in r.workloads.first { $0.name == "randread-4k-qd32" }?.summary["iops"]?.mean ?? 0 }
        #expect(qd32(virtio) > qd32(ide), "virtio-blk \(qd32(virtio)) IOPS vs ide \(qd32(ide))")
        // Everything of the run is under results/lab/RUN: the summary and the records.
        let runs = try FileManager.default.contentsOfDirectory(atPath: out.path + "/lab").filter { !$0.hasPrefix("native-") }
        #expect(runs.count == 1)
        let folder = out.path + "/lab/" + (runs.first ?? "")
        #expect(FileManager.default.fileExists(atPath: folder + "/summary.md"))
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/records.json"))) as? [Any]
        #expect(saved?.count == 5)
        // What the guest's agent reported, as values: each disk's run by slot, each NIC by its
        // interface and driver, the network run, the 16 MiB check, every send, the end.
        let boots = try JSONDecoder().decode([BootEvents].self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/events.json")))
        #expect(boots.count == 1 && boots.first?.boot == 0)
        let events = boots.first?.events ?? []
        let reported = LabEvents(events)
        #expect(reported.slotStatus == [0: 0, 1: 0] && reported.netStatus == 0 && reported.sendStatus == 0)
        #expect(reported.transportCheck?.exitStatus == 0)
        #expect(Set(reported.nicInterfaces.keys) == [.virtioNet, .e1000])
        let diskRuns = events.compactMap { e -> String? in
            if case let .diskRun(slot, model, device, status) = e.kind, status == 0, device?.hasPrefix("/dev/") == true { return "\(slot) \(model)" }
            return nil
        }
        #expect(diskRuns == ["0 virtio-blk", "1 ide"])
        let drivers = events.compactMap { e -> String? in
            if case let .nic(model, interface, driver) = e.kind, interface != nil { return "\(model) \(driver ?? "-")" }
            return nil
        }
        #expect(drivers == ["virtio-net virtio_net", "e1000 e1000"])
        let sends = events.compactMap { e -> Int? in
            if case let .send(_, status, report) = e.kind, report.hasSuffix("still spooled 0") { return status }
            return nil
        }
        #expect(sends == [0, 0, 0], "a send after each disk and after the NICs")
        #expect(events.map(\.uptimeSeconds) == events.map(\.uptimeSeconds).sorted(), "in the order they happened")
    }

    /// The short version of Benchmarks/calibrate-compare.sh: three identical virtio-blk disks in
    /// one guest, measured round-robin (8 passes); QEMU limits disk 1 (QMP block_set_io_throttle)
    /// to 50 % of what disk 0 measured in this boot. compare must flag disk 1 (exit 2) and pass
    /// disk 2, disk 0's twin (exit 0). A CI machine may be busy (a first version with 5 passes
    /// and a 70 % limit saw the unthrottled disk at 12.6k ± 20 % on a loaded machine and p =
    /// 0.024), hence the deeper cut and more passes. The twin is checked at alpha 0.001 so that
    /// chance alone fails CI less than once in a thousand runs; the false-alarm rate at the
    /// defaults (0 of 24) is the calibration script's to measure.
    @Test(.enabled(if: LabPrerequisites.missing == nil, "LAB TEST SKIPPED: missing \(LabPrerequisites.missing ?? "")"))
    func compareFlagsAThrottledDiskAndPassesItsTwin() throws {
        let out = try ScratchFolder()
        let matrix = out.path + "/throttle.json"
        try Data(#"{"name":"ci-throttle","disks":["virtio-blk","virtio-blk","virtio-blk"],"diskSizeMiB":32,"aio":"threads","rw":"randread","bs":"4k","iodepth":32,"runtimeSeconds":1,"repetitions":1,"passes":8,"vsockLoopback":false,"throttle":{"reference":0,"disks":{"1":0.5}}}"#.utf8)
            .write(to: URL(fileURLWithPath: matrix))
        var store = out.path + "/vbench.sqlite"
        var r = try Binary.run(["lab", "run", "--matrix", matrix, "--binary", LabPrerequisites.staticBinary!, "--accel", "tcg", "--no-native",
                                "--store", store, "--out", out.path, "--boot-timeout", "600", "--timeout", "900", "--tag", "suite=ci-throttle"],
                               timeout: 1000)
        print(r.stdout)
        print(r.stderr)
        // QEMU 7.2's throttled virtio-blk under TCG (aio=threads) now and then never completes a
        // request (seen once in three CI runs: "task vbench blocked for more than 120 seconds").
        // The lab names such a disk as stalled and measures the rest; this test needs every pass,
        // so it boots once more into a new store. Anything else fails at once.
        if r.status != 0 && r.stderr.contains("stalled: the run on") {
            print("LAB THROTTLE TEST: QEMU stalled a throttled request (above); booting once more")
            store = out.path + "/vbench-2.sqlite"
            r = try Binary.run(["lab", "run", "--matrix", matrix, "--binary", LabPrerequisites.staticBinary!, "--accel", "tcg", "--no-native",
                                "--store", store, "--out", out.path, "--boot-timeout", "600", "--timeout", "900", "--tag", "suite=ci-throttle"],
                               timeout: 1000)
            print(r.stdout)
            print(r.stderr)
        }
        #expect(r.status == 0, "vbench lab run exited \(r.status)")
        #expect(r.stderr.contains("throttled disk 1 to "), "the host set the limit through QMP")
        let s = try SQLiteRunStore(path: store)
        let records = try s.runs(RunQuery(tags: ["suite": "ci-throttle"])).compactMap { try s.record($0.runId) }
        // A reference pass of disk 0, then eight passes over the three disks.
        #expect(records.count == 25, "\(records.count) records")
        let limited = records.filter { $0.tags["lab.slot"] == "1" }
        #expect(limited.count == 8 && limited.allSatisfy { $0.tags["lab.throttle"] == "0.5" && Int($0.tags["lab.throttle.iops"] ?? "") != nil })
        let common = ["--tag", "suite=ci-throttle", "--tag", "lab.phase=measure", "--metric", "iops", "--store", store]
        let flagged = try Binary.run(["compare", "lab.slot=0", "lab.slot=1"] + common)
        print(flagged.stdout)
        #expect(flagged.status == 2 && flagged.stdout.contains("8/8 runs") && flagged.stdout.contains("REGRESSION"), "\(flagged.stdout)\(flagged.stderr)")
        let twin = try Binary.run(["compare", "lab.slot=0", "lab.slot=2", "--alpha", "0.001"] + common)
        print(twin.stdout)
        #expect(twin.status == 0, "identical disks flagged: \(twin.stdout)")
    }

    /// Seeded boots: QEMU's SMBIOS strings (and VMware's CPUID) of three hypervisors, plain TCG
    /// and a QEMU desktop guest with the audit's devices; the guest's own `vbench probe` must
    /// name each and audit its devices, and the recorded trees read back the same.
    @Test(.enabled(if: LabPrerequisites.missing == nil, "LAB TEST SKIPPED: missing \(LabPrerequisites.missing ?? "")"))
    func seededGuestsAreIdentifiedAndRecorded() throws {
        let out = try ScratchFolder()
        try out.write("/lab-seed-xen/expected.json", "{}")
        let r = try Binary.run(["lab", "seeds", "--binary", LabPrerequisites.staticBinary!, "--record", out.path], timeout: 1500)
        print(r.stdout)
        print(r.stderr)
        #expect(r.status == 0, "vbench lab seeds exited \(r.status)")
        for (seed, vendor) in [("vmware", "vmware"), ("virtualbox", "virtualbox"), ("xen", "xen"), ("qemu-tcg", "qemu-tcg"), ("qemu-desktop", "qemu-tcg")] {
            let row = r.stdout.split(separator: "\n").first { $0.hasPrefix(seed + " ") }
            #expect(row?.split(separator: " ", omittingEmptySubsequences: true).contains(Substring(vendor)) == true, "\(row ?? "no row for \(seed)")")
            // The recorded tree reads back as the same hypervisor.
            let probe = try Binary.run(["probe", "--root", out.path + "/lab-seed-\(seed)", "--json"])
            #expect(probe.status == 0 && probe.stdout.contains("\"vendor\" : \"\(vendor)\""), "\(seed): \(probe.stdout.prefix(400))")
        }
        // An existing expected.json is kept.
        #expect(FileManager.default.fileExists(atPath: out.path + "/lab-seed-xen/expected.json"))

        // The audit of each guest, as its own probe printed it, against the QEMU command line of
        // HypervisorSeed.all: "[severity] check subject" lines, and words its advice must name.
        let expectations: [(seed: String, lines: [String], names: [String])] = [
            ("qemu-desktop", ["[ok] display qxl", "[ok] display virtio_gpu", "[ok] balloon virtio-balloon", "[ok] rng virtio_rng",
                              "[ok] net-queues eth0", "[warning] agent qemu-guest-agent", "[warning] agent spice-vdagent"],
             ["/sys/class/virtio-ports/vport", ": org.qemu.guest_agent.0", ": com.redhat.spice.0", "2 queue pairs for 2 vCPUs"]),
            ("virtualbox", ["[warning] display bochs", "[warning] agent VirtualBox Guest Additions"], ["vmsvga", "VBoxLinuxAdditions.run"]),
            ("xen", ["[warning] display cirrus", "[warning] agent xe-guest-utilities"], ["xe-guest-utilities"]),
            ("vmware", ["[warning] agent open-vm-tools"], ["open-vm-tools"]),
            ("qemu-tcg", ["[info] display none"], []),
        ]
        let sections = Self.auditSections(r.stdout)
        for e in expectations {
            let live = try #require(sections[e.seed], "no audit printed for seed \(e.seed)")
            let lines = live.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            for want in e.lines {
                #expect(lines.contains { $0.hasPrefix(want) }, "\(e.seed): no '\(want)' in\n\(live)")
            }
            for word in e.names { #expect(live.contains(word), "\(e.seed): the audit does not name '\(word)':\n\(live)") }
            // The recorded tree audits the same as the live guest did: the same findings with the
            // same severities (the live clocksource line also has the clock_gettime figure).
            let tree = try Binary.run(["probe", "--root", out.path + "/lab-seed-\(e.seed)"])
            let recorded = tree.stdout.range(of: "Audit (").map { String(tree.stdout[$0.lowerBound...]) } ?? ""
            #expect(Self.findingHeads(recorded) == Self.findingHeads(live),
                    "\(e.seed): the recorded tree audits differently\n--- live\n\(live)\n--- tree\n\(recorded)")
        }
        // The desktop guest has no agent port warnings: the host gave both ports.
        #expect(sections["qemu-desktop"]?.contains("gives it no") == false)
    }

    /// "[severity] check subject" of each finding line of a printed audit.
    static func findingHeads(_ audit: String) -> [String] {
        audit.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("[") }
            .map { line in line.range(of: ": ").map { String(line[..<$0.lowerBound]) } ?? line }
    }

    /// `lab seeds` prints "== seed NAME ==" and the guest's audit after its table.
    static func auditSections(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("== seed "), line.hasSuffix(" ==") {
                current = String(line.dropFirst(8).dropLast(3))
                out[current!] = ""
            } else if let c = current {
                out[c, default: ""] += line + "\n"
            }
        }
        return out
    }

    /// The spool survives its guest being killed: QEMU is SIGKILLed right after the guest says a
    /// record is spooled (5 times here; 20+ for the README's figures), the next boot of the same
    /// ext4 disk resends, and every record the guest said it spooled is in the store whole. The
    /// control spools with a plain cp (no fsync) and must lose records: the test can fail.
    @Test(.enabled(if: LabPrerequisites.missing == nil && FileManager.default.isExecutableFile(atPath: "/sbin/mkfs.ext4"),
                   "LAB TEST SKIPPED: missing \(LabPrerequisites.missing ?? "e2fsprogs (mkfs.ext4)")"))
    func aKilledGuestLosesNoSpooledRecord() throws {
        let out = try ScratchFolder()
        let r = try Binary.run(["lab", "crash", "--kills", "5", "--per-boot", "3", "--accel", "tcg", "--binary", LabPrerequisites.staticBinary!,
                                "--store", out.path + "/vbench.sqlite", "--boot-timeout", "300"], timeout: 1500)
        print(r.stdout)
        print(r.stderr)
        #expect(r.status == 0, "vbench lab crash exited \(r.status)")
        #expect(r.stdout.contains(": 5 kills; ") && r.stdout.contains(" 0 lost, 0 corrupt, 0 acked twice") && r.stdout.contains("still spooled 0"), "\(r.stdout)")
        // "N records reported spooled, N of them stored whole": at least one a kill (the kill waits for it).
        let counts = r.stdout.split(separator: ";").first { $0.contains("records reported spooled") }?
            .split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) } ?? []
        #expect(counts.count == 2 && counts[0] >= 5 && counts[0] == counts[1], "\(r.stdout)")
        let s = try SQLiteRunStore(path: out.path + "/vbench.sqlite")
        let stored = try s.runs(RunQuery(tags: ["lab.check": "spool-crash"])).compactMap { try s.record($0.runId) }
        #expect(stored.count >= 5 && stored.allSatisfy(LabRunner.transportCheckIntact), "\(stored.count) records")

        let control = try Binary.run(["lab", "crash", "--kills", "2", "--per-boot", "3", "--accel", "tcg", "--binary", LabPrerequisites.staticBinary!,
                                      "--store", out.path + "/control.sqlite", "--boot-timeout", "300", "--control-without-fsync"], timeout: 900)
        print(control.stdout)
        #expect(control.status == 1 && control.stderr.contains("the spool lost or damaged records"), "\(control.stdout) \(control.stderr)")
    }
}

/// The lab's network without a guest: the namespace, a tap per NIC, vbench serve inside, a
/// client inside the same namespace reaching the peer address, and nothing left behind.
/// Needs root, iproute2 and /dev/net/tun (no QEMU).
@Suite(.serialized) struct LabNetworkTests {
    static var missing: String? {
        do { try LabNetwork.checkPrerequisites() } catch { return "\(error)" }
        return nil
    }

    static func namespaces() throws -> [String] {
        let o = try Subprocess.run("ip", ["netns", "list"], timeout: 30)
        return o.stdout.split(separator: "\n").map { String($0.split(separator: " ").first ?? "") }
    }

    @Test(.enabled(if: missing == nil, "LAB NETWORK TEST SKIPPED: \(missing ?? "")"))
    func namespaceTapsAndPeerWorkAndAreRemoved() throws {
        let folder = try ScratchFolder()
        let net = try LabNetwork(nics: [.virtioNet, .e1000], tag: 900, log: { _ in })
        #expect(try Self.namespaces().contains(net.name))
        let links = try Subprocess.run("ip", net.execPrefix + ["ip", "-o", "addr"], timeout: 30).stdout
        #expect(links.contains("vbtap0") && links.contains("10.77.1.1/24") && links.contains("vbtap1") && links.contains("10.77.2.1/24"))
        #expect(links.contains("10.77.0.1/32"), "\(links)")
        // Nothing of the namespace shows up in this machine's own namespace.
        #expect(try !Subprocess.run("ip", ["-o", "addr"], timeout: 30).stdout.contains("10.77."))
        try net.startServe(binary: Binary.path, folder: folder.path, idleTimeout: 30)
        // A client inside the namespace reaches the peer address over the namespace's loopback.
        let o = try Subprocess.run("ip", net.execPrefix + [Binary.path, "run", "--runs", "1", "--device", "net", "--peer", LabNetwork.peerAddress,
                                                         "--runtime", "0.2", "--repeat", "2", "--json"], timeout: 120)
        #expect(o.status == 0, "\(o.stderr)")
        let record = try RunRecord.decode(Data(o.stdout.utf8))
        #expect(record.family == "net" && record.device.name == "lo" && record.workloads.count == 7)
        net.remove()
        #expect(net.serveReport?.contains("stopped: 14 tests served") == true, "\(net.serveReport ?? "no report")")
        #expect(try !Self.namespaces().contains(net.name))
    }

    @Test(.enabled(if: missing == nil, "LAB NETWORK TEST SKIPPED: \(missing ?? "")"))
    func namespacesOfADeadLabAreRemovedAndOthersKept() throws {
        // A PID that cannot be running (above pid_max), and a namespace not of the lab's naming.
        let stale = "vbench-lab-99999999-0", foreign = "vbench-labx-test-\(getpid())"
        for ns in [stale, foreign] { try Subprocess.check("ip", ["netns", "add", ns], timeout: 30, what: "netns add") }
        defer { _ = try? Subprocess.run("ip", ["netns", "del", foreign], timeout: 30); _ = try? Subprocess.run("ip", ["netns", "del", stale], timeout: 30) }
        let net = try LabNetwork(nics: [.e1000], tag: 901, log: { _ in })
        defer { net.remove() }
        let now = try Self.namespaces()
        #expect(!now.contains(stale) && now.contains(foreign) && now.contains(net.name))
    }
}
