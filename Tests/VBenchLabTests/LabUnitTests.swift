import Foundation
import Testing
import VBenchCore
import VBenchSystem
import VBenchTestSupport
import VBenchGuestCLI
import VBenchWire
@testable import VBenchLab

@Suite struct DeviceArgumentTests {
    /// Each model's QEMU arguments, as measured in lab boots on QEMU 7.2 (serials make the
    /// guest's disk findable whatever name it gets).
    @Test func diskModelsMapToTheirQEMUDevices() {
        let args = { (m: DiskModel, i: Int) in m.qemuArguments(index: i, image: "/x/d.img", cache: "none", aio: "native").joined(separator: " ") }
        #expect(args(.virtioBlk, 0) == "-drive file=/x/d.img,format=raw,if=none,id=d0,cache=none,aio=native -device virtio-blk-pci,drive=d0,serial=vbd0virtioblk")
        #expect(args(.ide, 1).hasSuffix("-device ide-hd,drive=d1,bus=ide.0,unit=1,serial=vbd1ide"))
        #expect(args(.ahci, 2).hasSuffix("-device ahci,id=ahci2 -device ide-hd,drive=d2,bus=ahci2.0,serial=vbd2ahci"))
        #expect(args(.nvme, 3).hasSuffix("-device nvme,drive=d3,serial=vbd3nvme"))
        #expect(args(.virtioScsi, 4).hasSuffix("-device virtio-scsi-pci,id=vs4 -device scsi-hd,drive=d4,bus=vs4.0,serial=vbd4virtioscsi"))
        #expect(args(.pvscsi, 5).hasSuffix("-device pvscsi,id=pv5 -device scsi-hd,drive=d5,bus=pv5.0,serial=vbd5pvscsi"))
        // No serial is a prefix of another: the guest's grep cannot pick the wrong disk.
        let serials = DiskModel.allCases.enumerated().map { $1.serial($0) }
        for a in serials { for b in serials where a != b { #expect(!b.contains(a)) } }
        // NICs: a tap of the lab's namespace each, a MAC the guest finds them by.
        #expect(LabNetwork.qemuArguments(.e1000, index: 1) == ["-netdev", "tap,id=n1,ifname=vbtap1,script=no,downscript=no",
                                                               "-device", "e1000,netdev=n1,mac=52:54:00:77:02:02"])
        #expect(LabNetwork.qemuArguments(.virtioNet, index: 0)[3] == "virtio-net-pci,netdev=n0,mac=52:54:00:77:01:02")
        #expect(LabNetwork.guestAddress(2) == "10.77.3.2" && LabNetwork.hostAddress(2) == "10.77.3.1")
    }

    /// Under TCG the demo leaves out NVMe and says why; under KVM it keeps every disk.
    @Test func demoLeavesOutNVMeUnderTCG() {
        let (tcg, why) = LabMatrix.demo.demo(under: .tcg)
        #expect(tcg.disks == [.virtioBlk, .ide, .ahci] && tcg.nics == LabMatrix.demo.nics)
        #expect(why?.contains("leaves out NVMe under TCG") == true && why?.contains("vbench lab run --matrix blk") == true)
        let (kvm, none) = LabMatrix.demo.demo(under: .kvm)
        #expect(kvm == LabMatrix.demo && none == nil)
        let noNVMe = LabMatrix(name: "demo", disks: [.ide])
        #expect(noNVMe.demo(under: .tcg).matrix == noNVMe && noNVMe.demo(under: .tcg).leftOut == nil)
    }

    @Test func matricesAreCheckedAndSplitIntoBoots() throws {
        #expect(LabMatrix.blk.boots == [LabMatrix.Boot(disks: DiskModel.allCases)])
        var m = LabMatrix.demo
        #expect(m.boots == [LabMatrix.Boot(disks: [.virtioBlk, .ide, .ahci, .nvme], nics: [.virtioNet, .e1000])])
        m.boot = .perDevice
        #expect(m.boots.map(\.label) == ["virtio-blk", "ide", "ahci", "nvme", "virtio-net", "e1000"])
        #expect(try LabMatrix.named("net").boots == [LabMatrix.Boot(disks: [], nics: [.virtioNet, .e1000, .vmxnet3])])
        #expect(try LabMatrix.named("all").disks == DiskModel.allCases)
        // NIC boots are bounded by their network run: 3 NICs x 7 workloads x 3 x (2 + 1) s x 2 + 60, plus 180.
        #expect(LabMatrix.net.guestNetRunBound(nics: 3) == 438 && LabMatrix.net.defaultBootTimeout(LabMatrix.net.boots[0]) == 618)
        let dir = try ScratchFolder()
        let file = dir.path + "/m.json"
        try Data(#"{"name":"two","disks":["virtio-blk","ide"],"cache":"unsafe","aio":"threads","runtimeSeconds":0.5}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        let two = try LabMatrix.named(file)
        #expect(two.name == "two" && two.disks == [.virtioBlk, .ide] && two.cache == "unsafe" && two.aio == "threads")
        #expect(two.runtimeSeconds == 0.5 && two.profile == "quick" && two.memoryMiB == 512)
        func refused(_ json: String, _ reason: String) throws {
            try Data(json.utf8).write(to: URL(fileURLWithPath: file))
            #expect(throws: LabError.self) { try LabMatrix.named(file) }
            do { _ = try LabMatrix.named(file) } catch { #expect("\(error)".contains(reason), "\(error)") }
        }
        try refused(#"{"disks":[]}"#, "names no disks and no NICs")
        try refused(#"{"nics":["virtio-net","e1000","e1000","e1000","e1000"]}"#, "at most 4 NICs")
        try refused(#"{"nics":["tulip"]}"#, "not a valid matrix file")
        try refused(#"{"disks":["floppy"]}"#, "not a valid matrix file")
        try refused(#"{"disks":["ide"],"cache":"writeback","aio":"native"}"#, "aio=native needs cache=none")
        try refused(#"{"disks":["ide"],"diskSizeMiB":1}"#, "diskSizeMiB must be 16")
        try refused(#"{"disks":["ide"],"transportCheckMiB":17}"#, "transportCheckMiB must be 0…16")
        try Data(#"{"disks":["ide"],"transportCheckMiB":16}"#.utf8).write(to: URL(fileURLWithPath: file))
        #expect(try LabMatrix.named(file).transportCheckMiB == 16)
        try Data(#"{"disks":["ide"],"transportBenchmark":{"records":50}}"#.utf8).write(to: URL(fileURLWithPath: file))
        #expect(try LabMatrix.named(file).transportBenchmark == .init(records: 50, recordKiB: 16, largeRecords: 4, largeMiB: 4))
        try refused(#"{"disks":["ide"],"transportBenchmark":{"largeMiB":16}}"#, "largeMiB 1…15")
        try refused(#"{"disks":["ide"],"memoryMiB":256,"transportBenchmark":{"largeRecords":16}}"#, "at most a quarter of memoryMiB")
        #expect(throws: LabError.self) { try LabMatrix.named(dir.path + "/missing.json") }
    }

    /// The transport check's record: a valid record of at most the size asked for (and within
    /// 1 % of it), whose hash tells a whole copy from a damaged one.
    @Test func transportCheckRecordIsValidSizedAndSelfChecking() throws {
        let r = try LabRunner.transportCheckRecord(bytes: 2 << 20, tags: ["lab.run": "x", "lab.boot": "0"])
        let data = try r.jsonData(pretty: false)
        #expect(data.count <= 2 << 20 && data.count > (2 << 20) * 99 / 100, "\(data.count) bytes")
        #expect(r.problem() == nil && r.tags["lab.check"] == "transport" && r.tags["lab.run"] == "x")
        let copy = try RunRecord.decode(data)
        #expect(LabRunner.transportCheckIntact(copy))
        var damaged = copy
        damaged.workloads[0].repetitions[7].metrics["check03"] = 1
        #expect(!LabRunner.transportCheckIntact(damaged))
        damaged = copy
        damaged.workloads[0].repetitions.removeLast()
        #expect(!LabRunner.transportCheckIntact(damaged))
        // Over 10,000 repetitions the record takes a second workload (the store's limit per workload).
        // The size bound holds for the whole record, long tags included: the lab's check record
        // (the frame limit less 16 KiB) once came out 61 KiB over it when the sizing counted only
        // the first repetition, and the collector closed the connection on it.
        let limit = (16 << 20) - (16 << 10)
        let big = try LabRunner.transportCheckRecord(bytes: limit, tags: Dictionary(uniqueKeysWithValues: (0..<8).map { ("tag\($0)", String(repeating: "-device virtio-blk-pci ", count: 170)) }))
        let bigSize = try big.jsonData(pretty: false).count
        #expect(big.workloads.count == 2 && big.problem() == nil)
        #expect(bigSize <= limit && bigSize > limit * 99 / 100, "\(bigSize) bytes")
    }

    /// The guest's benchmark sends, as its agent reports them.
    @Test func transportBenchEventsGiveRatesAndDelivery() throws {
        let events = LabEvents([
            LabEvent(uptimeSeconds: 24.5, kind: .transportBench(transport: "vhost-user-vsock", size: "small", exitStatus: 0, records: 100, bytes: 1_638_400,
                                                               seconds: 4, report: "stored 100, already stored 0, still spooled 0")),
            LabEvent(uptimeSeconds: 90, kind: .transportBench(transport: "virtio-serial", size: "large", exitStatus: 1, records: 4, bytes: 16_777_216,
                                                             seconds: 60, report: "stored 1, already stored 0, still spooled 3")),
        ])
        let l = try #require(events.transportBench.first)
        #expect(l.transport == "vhost-user-vsock" && l.size == "small" && l.exitStatus == 0 && l.records == 100 && l.bytes == 1_638_400)
        #expect(abs(l.recordsPerSecond - 25) < 1e-9 && abs(l.megabytesPerSecond - 0.4096) < 1e-9 && l.delivered)
        #expect(events.transportBench.count == 2 && !events.transportBench[1].delivered)
    }

    @Test func moduleNamesDropPathsAndCompression() {
        #expect(Appliance.moduleName(of: "kernel/drivers/block/virtio_blk.ko") == "virtio_blk")
        #expect(Appliance.moduleName(of: "kernel/drivers/net/ethernet/realtek/8139cp.ko.xz") == "8139cp")
        #expect(Appliance.moduleName(of: "kernel/net/vmw_vsock/vsock-loopback.ko.zst") == "vsock_loopback")
    }

    @Test func elfCheckTellsStaticFromDynamic() throws {
        // Debian's busybox-static is static; /bin/sh (dash) is dynamic.
        if FileManager.default.fileExists(atPath: "/bin/busybox") { #expect(try Appliance.isStaticExecutable("/bin/busybox")) }
        #expect(try !Appliance.isStaticExecutable("/bin/sh"))
        let dir = try ScratchFolder()
        try dir.write("/text", "not an executable")
        #expect(throws: LabError.self) { try Appliance.isStaticExecutable(dir.path + "/text") }
    }

    @Test func subprocessTimeoutEndsTheChildByPID() throws {
        let o = try Subprocess.run("sleep", ["30"], timeout: 0.5)
        #expect(o.timedOut && o.seconds < 10)
        let ok = try Subprocess.run("sh", ["-c", "echo out; echo err >&2; exit 3"], timeout: 10)
        #expect(!ok.timedOut && ok.status == 3 && ok.stdout == "out\n" && ok.stderr == "err\n")
        #expect(throws: LabError.self) { try Subprocess.check("false", [], timeout: 10, what: "a failing step") }
        #expect(throws: LabError.self) { try Subprocess.resolve("no-such-program-vbench") }
    }

    @Test func vsockLoopbackIsAllowedOnlyInLabGuests() throws {
        let root = try ScratchFolder()
        try root.write("/proc/cmdline", "console=ttyS0 quiet vbench.lab=1")
        #expect(!Signals.isLabVsockLoopbackGuest(root: root.path), "no vsock_loopback module: no")
        try FileManager.default.createDirectory(atPath: root.path + "/sys/module/vsock_loopback", withIntermediateDirectories: true)
        #expect(Signals.isLabVsockLoopbackGuest(root: root.path))
        try root.write("/proc/cmdline", "console=ttyS0 vbench.lab=10")
        #expect(!Signals.isLabVsockLoopbackGuest(root: root.path))
        // This machine is not a lab guest.
        #expect(!Signals.isLabVsockLoopbackGuest())
    }
}

@Suite struct LabEventsTests {
    /// What a boot's agent reports, and what the lab reads of it: values, not console text.
    @Test func eventsOfABootGiveEachSlotNICAndStep() throws {
        let kinds: [LabEvent.Kind] = [
            .diskRun(slot: 0, model: "virtio-blk", device: "/dev/vda", exitStatus: 0),
            .send(after: "virtio-blk", exitStatus: 0, report: "stored 1, already stored 0, still spooled 0"),
            .diskRun(slot: 1, model: "ide", device: "/dev/sda", exitStatus: 3),
            .diskRun(slot: 2, model: "nvme", device: nil, exitStatus: 127),
            // Passes: a slot keeps its first failure.
            .diskRun(slot: 1, model: "ide", device: "/dev/sda", exitStatus: 0),
            // A run the guest could not end: its I/O never completed.
            .diskRun(slot: 3, model: "virtio-blk", device: "/dev/vdb", exitStatus: 124),
            .diskStalled(slot: 3, model: "virtio-blk", device: "/dev/vdb"),
            .nic(model: "virtio-net", interface: "eth0", driver: "virtio_net"),
            .nic(model: "e1000", interface: "eth1", driver: "e1000"),
            .nic(model: "vmxnet3", interface: nil, driver: nil),
            .netRun(exitStatus: 0),
            .vsockLoopback(exitStatus: 0, report: "stored 2; collector stopped: 1 connections"),
            .transportCheck(exitStatus: 0, report: "stored 1, already stored 0, still spooled 0"),
            .done(sendStatus: 0),
        ]
        // Through the wire's JSON and back, as the collector hands them to the lab.
        let events = try kinds.map { kind -> LabEvent in
            let e = LabEvent(uptimeSeconds: 5, kind: kind)
            guard case .event(let back) = try WireMessage(frame: try WireMessage.event(e).frame()) else { throw LabError("not an event") }
            #expect(back == e)
            return back
        }
        let r = LabEvents(events)
        #expect(r.slotStatus == [0: 0, 1: 3, 2: 127, 3: 124])
        #expect(r.stalledSlots == [3: "/dev/vdb"])
        #expect(r.nicInterfaces == [.virtioNet: "eth0", .e1000: "eth1"])
        #expect(r.netStatus == 0 && r.sendStatus == 0)
        #expect(r.vsock == LabEvents.Outcome(exitStatus: 0, report: "stored 2; collector stopped: 1 connections"))
        #expect(r.transportCheck?.exitStatus == 0)
        #expect(LabEvents([]).sendStatus == nil, "a job that never ended has no send status")
    }

    /// The console keeps lines for people (and the crash test's trigger).
    @Test func consoleLinesDropPrefixAndUptime() {
        let console = ["[    3.12] virtio_blk virtio1: [vda]", "VBENCH-LAB: ready at 5.48 s", "VBENCH-LAB: spooled a at 6.00 s"].joined(separator: "\r\n")
        #expect(ConsoleLines.markers(console) == ["ready", "spooled a"])
    }
}

@Suite struct LabJobTests {
    static func runner(_ matrix: LabMatrix) -> LabRunner {
        let appliance = Appliance(kernel: GuestKernel(version: "6.1.0-56-amd64", root: "/nonexistent"), initrd: "/nonexistent",
                                  hash: "0", bytes: 0, moduleCount: 0)
        return LabRunner(options: LabRunner.Options(matrix: matrix, cache: LabCache(root: "/nonexistent"), runId: "t"),
                         appliance: appliance, store: nil, log: { _ in }, progress: { _ in })
    }

    /// Safety: without /dev/vhost-vsock the lab must not open AF_VSOCK on this machine: its
    /// default is the collector's own vhost-user-vsock device (a Unix socket to our QEMU).
    @Test func uplinkDefaultsToVhostUserVsockWithoutVhostVsock() {
        #expect(!FileManager.default.fileExists(atPath: "/dev/vhost-vsock") || Signals.isVsockHost())
        if !Signals.isVsockHost() { #expect(Self.runner(.demo).options.uplink == .vhostUserVsock) }
        #expect(LabUplink(transport: "serial") == .virtioSerial)
        #expect(LabUplink(transport: "vhost-user-vsock") == .vhostUserVsock)
        #expect(LabUplink(transport: "vsock") == LabUplink.automatic)
        #expect(LabUplink(transport: "tcp") == nil)
    }

    /// The crash test's guest side, as a job for the agent: the spool disk by serial, the
    /// records of the job in order, the last boot only resending, the control copying.
    @Test func spoolCrashJobSpoolsOneRecordAtATimeAndSaysSo() throws {
        let job = LabRunner.spoolCrashJob(runId: "r", sendTo: "vsock://2:5000", records: ["a", "b"], last: false)
        #expect(job.spoolCrash == LabJob.SpoolCrash(serial: "vbspool", mountpoint: "/spooldisk", records: ["crash/a.json", "crash/b.json"],
                                                    last: false, control: false, resendSeconds: 120))
        #expect(job.spoolCrash?.spool == "/spooldisk/spool" && job.sendTo == "vsock://2:5000")
        #expect(job.steps.isEmpty && job.disks.isEmpty && job.network == nil && !job.vsockLoopback && job.transportCheck == nil)
        #expect(try LabJob.decode(job.jsonData()) == job)
        let last = LabRunner.spoolCrashJob(runId: "r", sendTo: "vsock://2:5000", records: [], last: true)
        #expect(last.spoolCrash?.last == true && last.spoolCrash?.records == [])
        let control = LabRunner.spoolCrashJob(runId: "r", sendTo: "vsock://2:5000", records: ["a"], last: false, control: true)
        #expect(control.spoolCrash?.control == true)
        // A job file from before the crash plan existed still reads, without one.
        var plain = job
        plain.spoolCrash = nil
        let old = String(decoding: try plain.jsonData(), as: UTF8.self)
        let back = try LabJob.decode(Data(old.utf8))
        #expect(!old.contains("spoolCrash") && back.spoolCrash == nil && back.probe == nil)
    }

    @Test func jobMeasuresEveryDiskBySerialAndSendsAfterEach() throws {
        var m = LabMatrix(name: "t", disks: [.virtioBlk, .ide], runtimeSeconds: 0.5, repetitions: 3, vsockLoopback: true)
        let r = Self.runner(m)
        let job = r.labJob(disks: m.disks, tags: ["lab.run": "t", "qemu.accel": "tcg"], commandLine: ["-accel", "tcg", "-append", "a b 'c'"])
        #expect(job.disks == [
            LabJob.Disk(slot: 0, model: "virtio-blk", serial: "vbd0virtioblk", tags: ["lab.disk": "virtio-blk", "lab.slot": "0"]),
            LabJob.Disk(slot: 1, model: "ide", serial: "vbd1ide", tags: ["lab.disk": "ide", "lab.slot": "1"]),
        ])
        #expect(job.steps == [LabJob.Step(slot: 0), LabJob.Step(slot: 1)])
        // The command line is a value: no shell quoting to survive.
        #expect(job.tags["qemu.cmdline"] == "qemu-system-x86_64 -accel tcg -append a b 'c'" && job.tags["qemu.accel"] == "tcg")
        #expect(job.sendTo == "serial:/dev/virtio-ports/org.vbench.0" && job.vsockLoopback && job.network == nil && job.controlPort == nil)
        // Each guest run is bounded: 4 workloads x 3 repetitions x (0.5 + 0.5 ramp) s x 2 + 60.
        #expect(m.guestRunBound() == 84 && job.block == LabJob.BlockPlan(profile: m.profile, runtimeSeconds: 0.5, repetitions: 3, boundSeconds: 84))
        #expect(r.labJob(disks: m.disks, tags: [:], commandLine: [], sendTo: "vsock://2:40000").sendTo == "vsock://2:40000")
        // The agent turns a step into the run's arguments: the disk found, the plan's settings, every tag.
        let agent = LabAgent(job: job, executable: "/vbench", out: "/out", jobFolder: "/job")
        let args = agent.runArguments(job.steps[1], device: "/dev/sda", throttleIOPS: nil)
        #expect(Array(args.prefix(13)) == ["run", "--target", "/dev/sda", "--device", "blk", "--runs", "1", "--allow-destructive", "--profile", m.profile, "--out", "/out", "--runtime"])
        #expect(args.contains("lab.disk=ide") && args.contains("lab.slot=1") && args.contains("qemu.accel=tcg") && !args.contains("lab.disk=virtio-blk"))
        // Through the job file and back.
        #expect(try LabJob.decode(job.jsonData()) == job)
        m.vsockLoopback = false
        #expect(!Self.runner(m).labJob(disks: m.disks, tags: [:], commandLine: []).vsockLoopback)
        #expect(!LabMatrix(name: "d", disks: [.virtioBlk]).vsockLoopback, "off unless asked for")
    }

    @Test func nicsAreFoundByMACAddressedRoutedAndTestedInOneAutoRun() throws {
        let m = LabMatrix(name: "t", disks: [.virtioBlk], nics: [.virtioNet, .e1000], runtimeSeconds: 1, repetitions: 2)
        let job = Self.runner(m).labJob(disks: m.disks, nics: m.nics, tags: ["lab.run": "t"], commandLine: [])
        // 2 NICs x 7 workloads x 2 repetitions x (1 + 1) s x 2 + 60 = 172.
        #expect(job.network == LabJob.NetworkPlan(
            peer: "10.77.0.1",
            nics: [LabJob.Nic(model: "virtio-net", mac: "52:54:00:77:01:02", address: "10.77.1.2", gateway: "10.77.1.1", metric: 1),
                   LabJob.Nic(model: "e1000", mac: "52:54:00:77:02:02", address: "10.77.2.2", gateway: "10.77.2.1", metric: 2)],
            runtimeSeconds: 1, repetitions: 2, boundSeconds: 172, tags: ["lab.nics": "virtio-net,e1000"]))
        #expect(Self.runner(m).labJob(disks: m.disks, tags: [:], commandLine: []).network == nil)
    }

    /// The agent finds disks by serial and NICs by MAC in a sysfs tree, whatever they are named.
    @Test func agentFindsDisksBySerialAndNICsByMAC() throws {
        let root = try ScratchFolder()
        func put(_ path: String, _ text: String) throws {
            let full = root.path + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        try put("/sys/block/vda/serial", "vbd0virtioblk\n")
        try put("/sys/block/sdb/device/vpd_pg80", "\u{0}\u{80}\u{0}\u{7}vbd1ide")
        try put("/sys/block/nvme0n1/device/serial", "vbd2nvme            \n")
        try put("/sys/class/net/eth3/address", "52:54:00:77:02:02\n")
        try put("/sys/class/net/lo/address", "00:00:00:00:00:00\n")
        let m = LabMatrix(name: "t", disks: [.virtioBlk, .ide, .nvme])
        let agent = LabAgent(job: Self.runner(m).labJob(disks: m.disks, tags: [:], commandLine: []), executable: "/vbench", out: "/out",
                             jobFolder: "/job", fs: RootedFileSystem(root: root.path))
        #expect(agent.disk(serial: "vbd0virtioblk") == "/dev/vda")
        #expect(agent.disk(serial: "vbd1ide") == "/dev/sdb")
        #expect(agent.disk(serial: "vbd2nvme") == "/dev/nvme0n1")
        #expect(agent.disk(serial: "vbd3nvme") == nil)
        #expect(agent.interface(mac: "52:54:00:77:02:02") == "eth3" && agent.interface(mac: "52:54:00:77:01:02") == nil)
    }

    @Test func throttledDisksWaitForTheHostsLimitsAndAreTaggedBySlot() throws {
        let m = LabMatrix(name: "cal", disks: [.virtioBlk, .virtioBlk, .virtioBlk], rw: "randread", bs: "4k", iodepth: 32,
                          throttle: .init(reference: 0, disks: ["1": 0.9, "2": 0.7]))
        try m.check(source: "t")
        #expect(m.throttleWorkload == "randread-4k-qd32")
        let job = Self.runner(m).labJob(disks: m.disks, tags: [:], commandLine: [])
        #expect(job.block.rw == "randread" && job.block.bs == "4k" && job.block.iodepth == 32)
        #expect(job.disks.map(\.throttled) == [false, true, true])
        #expect(job.disks[2].tags == ["lab.disk": "virtio-blk", "lab.slot": "2", "lab.throttle": "0.7"])
        #expect(job.controlPort == "/dev/virtio-ports/org.vbench.ctl")
        // The host's line on the control port, and the limit each disk tags.
        let limits = try #require(LabAgent.parseLimits("d1=22500 d2=17500"))
        #expect(limits == [1: 22500, 2: 17500])
        #expect(LabAgent.parseLimits("d1=fast") == nil && LabAgent.parseLimits("x=1") == nil)
        let agent = LabAgent(job: job, executable: "/vbench", out: "/out", jobFolder: "/job")
        let args = agent.runArguments(job.steps[2], device: "/dev/vdc", throttleIOPS: limits[2])
        #expect(args.contains("lab.throttle.iops=17500") && args.contains("lab.throttle=0.7"))
        #expect(Array(args[12..<18]) == ["--rw", "randread", "--bs", "4k", "--iodepth", "32"])
        // A single workload bounds the guest run by one shape: 1 x 2 repetitions x (2 + 0.5 ramp) s x 2 + 60.
        #expect(m.guestRunBound() == 70)
    }

    @Test func eachDiskRunsUnderEachSchedulerInAnOrderThatAlternatesByPass() throws {
        let m = LabMatrix(name: "sched", disks: [.virtioBlk], rw: "randread", bs: "4k", iodepth: 1, passes: 4,
                          ioschedulers: ["none", "mq-deadline"])
        try m.check(source: "t")
        let job = Self.runner(m).labJob(disks: m.disks, tags: [:], commandLine: [])
        #expect(job.steps.map(\.ioscheduler) == ["none", "mq-deadline", "mq-deadline", "none", "none", "mq-deadline", "mq-deadline", "none"])
        #expect(job.steps.map { $0.tags["lab.pass"] } == ["1", "1", "2", "2", "3", "3", "4", "4"])
        #expect(job.steps.allSatisfy { $0.tags["lab.ioscheduler"] == $0.ioscheduler && $0.tags["lab.phase"] == "measure" })
        let args = LabAgent(job: job, executable: "/vbench", out: "/out", jobFolder: "/job").runArguments(job.steps[1], device: "/dev/vda", throttleIOPS: nil)
        #expect(args.contains("--ioscheduler") && args[args.firstIndex(of: "--ioscheduler")! + 1] == "mq-deadline" && args.contains("lab.ioscheduler=mq-deadline"))
        // A throttled matrix with passes: the reference pass first, 5 repetitions with a 3 s ramp.
        let cal = LabMatrix(name: "cal", disks: [.virtioBlk, .virtioBlk], rw: "randread", bs: "4k", iodepth: 1,
                            throttle: .init(reference: 0, disks: ["1": 0.9]), passes: 2)
        let calJob = Self.runner(cal).labJob(disks: cal.disks, tags: [:], commandLine: [])
        #expect(calJob.steps.first == LabJob.Step(slot: 0, tags: ["lab.phase": "reference", "lab.pass": "0"], repetitions: 5, rampSeconds: 3))
        #expect(calJob.steps.dropFirst().map(\.slot) == [0, 1, 0, 1])
        // Two runs per disk and pass: the boot's bound doubles the disks' share.
        let one = LabMatrix(name: "one", disks: [.virtioBlk], rw: "randread", bs: "4k", iodepth: 1, passes: 4)
        #expect(m.defaultBootTimeout(m.boots[0]) - 180 == 2 * (one.defaultBootTimeout(one.boots[0]) - 180))
        for (list, reason) in [([String](), "distinct scheduler names"), (["none", "none"], "distinct"), (["none; reboot"], "scheduler names")] {
            var bad = m
            bad.ioschedulers = list
            do { try bad.check(source: "m"); Issue.record("accepted \(list)") } catch { #expect("\(error)".contains(reason), "\(error)") }
        }
        let decoded = try JSONDecoder().decode(LabMatrix.self, from: Data(#"{"disks": ["virtio-blk"], "ioschedulers": ["none", "bfq"]}"#.utf8))
        #expect(decoded.ioschedulers == ["none", "bfq"])
    }

    @Test func throttleSettingsAreChecked() throws {
        func refused(_ t: LabMatrix.Throttle, _ reason: String, boot: LabMatrix.BootMode = .shared) {
            var m = LabMatrix(name: "t", disks: [.virtioBlk, .virtioBlk], boot: boot, throttle: t)
            m.boot = boot
            do { try m.check(source: "m"); Issue.record("accepted \(t)") } catch { #expect("\(error)".contains(reason), "\(error)") }
        }
        refused(.init(reference: 2, disks: ["1": 0.9]), "throttle.reference 2 is not a disk index")
        refused(.init(reference: 0, disks: ["5": 0.9]), "key '5' is not a disk index")
        refused(.init(reference: 1, disks: ["0": 0.9]), "must come after the reference disk")
        refused(.init(reference: 0, disks: ["1": 1.5]), "must be in (0, 1]")
        refused(.init(reference: 0, disks: [:]), "names no disk")
        refused(.init(reference: 0, disks: ["1": 0.9]), "needs a shared boot", boot: .perDevice)
        var m = LabMatrix(name: "t", disks: [.virtioBlk])
        m.bs = "8k"
        #expect(throws: LabError.self) { try m.check(source: "m") }
    }
}

@Suite struct ProgressThrottleTests {
    static let s: UInt64 = 1_000_000_000

    /// What a progress text says, its counters aside.
    @Test func topicIgnoresCounters() {
        #expect(ProgressThrottle.topic("boot 0: 41 s, 2 records stored; run ide on /dev/sda") == "boot #: # s, # records stored; run ide on /dev/sda")
        #expect(ProgressThrottle.topic("boot 0: 42 s, 2 records stored; run ide on /dev/sda")
                == ProgressThrottle.topic("boot 0: 97 s, 3 records stored; run ide on /dev/sda"))
        #expect(ProgressThrottle.topic("boot 0: 97 s, 3 records stored; run nvme on /dev/nvme0n1")
                != ProgressThrottle.topic("boot 0: 97 s, 3 records stored; run ide on /dev/sda"))
    }

    /// A boot's updates, one a second as the lab offers them: the first is shown, a change after
    /// the 15 s gap, an unchanged text every 30 s; nothing in between.
    @Test func changesAfterTheGapAndAHeartbeatOtherwise() {
        var t = ProgressThrottle()
        func line(_ second: UInt64, _ what: String) -> Bool { t.admit("boot 0: \(second) s, 0 records stored; \(what)", nowNs: 1000 * Self.s + second * Self.s) }
        var shown: [UInt64] = []
        for second: UInt64 in 1...200 {
            // booting until 20 s, virtio-blk until 25 s, ide from 25 s, nvme from 100 s.
            let what = second < 20 ? "booting" : second < 25 ? "run virtio-blk on /dev/vda" : second < 100 ? "run ide on /dev/sda" : "run nvme on /dev/nvme0n1"
            if line(second, what) { shown.append(second) }
        }
        // 1 booting; 20 virtio-blk (a change, 19 s after); 35 ide (held back until 15 s after 20);
        // 65 the heartbeat of ide; 95 another; 110 nvme (15 s after 95); 140, 170, 200 heartbeats.
        #expect(shown == [1, 20, 35, 65, 95, 110, 140, 170, 200])
    }

    @Test func aClockThatStepsBackDoesNotFlood() {
        var t = ProgressThrottle(minimumGapNs: 10 * Self.s, heartbeatNs: 20 * Self.s)
        let admitted = [("a", 100), ("b", 50), ("b", 105), ("b", 110)].map { t.admit($0.0, nowNs: UInt64($0.1) * Self.s) }
        #expect(admitted == [true, false, false, true])
        // A heartbeat shorter than the gap is raised to it.
        #expect(ProgressThrottle(minimumGapNs: 10 * Self.s, heartbeatNs: Self.s).heartbeatNs == 10 * Self.s)
    }
}
