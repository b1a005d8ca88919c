import Foundation
import Testing
import VBenchCore
import VBenchSystem
import VBenchTestSupport
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

    /// The guest's benchmark lines, as its job script prints them, and what is not one.
    @Test func transportBenchLinesAreParsed() throws {
        let l = try #require(TransportBenchLine("transport bench vhost-user-vsock small exit 0: 100 records 1638400 bytes from 20.51 to 24.51 s: stored 100, already stored 0, still spooled 0"))
        #expect(l.transport == "vhost-user-vsock" && l.size == "small" && l.exitStatus == 0 && l.records == 100 && l.bytes == 1_638_400)
        #expect(abs(l.seconds - 4) < 1e-9 && abs(l.recordsPerSecond - 25) < 1e-9 && abs(l.megabytesPerSecond - 0.4096) < 1e-9 && l.delivered)
        let failed = try #require(TransportBenchLine("transport bench virtio-serial large exit 75: 4 records 16777216 bytes from 30.00 to 90.00 s: stored 1, already stored 0, still spooled 3"))
        #expect(!failed.delivered && failed.exitStatus == 75)
        #expect(TransportBenchLine("transport bench virtio-serial large exit 0: 4 records 16 bytes from 9.0 to 8.0 s: x") == nil)
        #expect(TransportBenchLine("transport check exit 0: stored 1") == nil)
        let markers = ConsoleMarkers(console: "VBENCH-LAB: transport bench a small exit 0: 1 records 2 bytes from 1.00 to 2.00 s: ok at 3.00 s\n")
        #expect(markers.transportBench.count == 1)
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

@Suite struct ConsoleMarkerTests {
    /// Lines as a real TCG boot printed them on ttyS0 (CR LF line ends, kernel messages between).
    @Test func markersOfARealBootAreRead() {
        let console = [
            "[    3.120000] virtio_blk virtio1: [vda] 131072 512-byte logical blocks",
            "VBENCH-LAB: ready at 5.48 s",
            "VBENCH-LAB: run virtio-blk on /dev/vda at 5.50 s",
            "VBENCH-LAB: run virtio-blk exit 0 at 15.53 s",
            "VBENCH-LAB: run ide exit 3 at 24.97 s",
            "VBENCH-LAB: run nvme exit 127 (no disk with serial vbd2nvme) at 25.00 s",
            "VBENCH-LAB: vsock send exit 0; collector stopped: 1 connections, 2 stored (319465 bytes), 0 duplicates, 0 rejected at 28.74 s",
            "VBENCH-LAB: send exit 0 at 31.03 s",
        ].joined(separator: "\r\n") + "\r\n"
        let m = ConsoleMarkers(console: console)
        #expect(m.runStatus == [.virtioBlk: 0, .ide: 3, .nvme: 127])
        #expect(m.sendStatus == 0)
        #expect(m.vsockReport == "vsock send exit 0; collector stopped: 1 connections, 2 stored (319465 bytes), 0 duplicates, 0 rejected")
        #expect(m.lines.first == "ready" && m.lines.count == 7)
        #expect(ConsoleMarkers(console: "no markers\n").runStatus.isEmpty)
    }

    @Test func networkMarkersNameEachNICAndTheRunStatus() {
        let console = [
            "VBENCH-LAB: nic virtio-net eth0 virtio_net at 6.01 s",
            "VBENCH-LAB: nic e1000 eth1 e1000 at 6.02 s",
            "VBENCH-LAB: nic vmxnet3 missing (no interface with MAC 52:54:00:77:03:02) at 6.03 s",
            "VBENCH-LAB: run net on eth0:1:10.77.1.1 eth1:2:10.77.2.1 at 7.00 s",
            "VBENCH-LAB: run net exit 0 at 60.00 s",
            "VBENCH-LAB: send net exit 0 at 61.00 s",
            "VBENCH-LAB: send exit 0 at 61.10 s",
        ].joined(separator: "\r\n")
        let m = ConsoleMarkers(console: console)
        #expect(m.nicInterfaces == [.virtioNet: "eth0", .e1000: "eth1"])
        // Identical models on several disks: each slot keeps its own first failure.
        let slots = ConsoleMarkers(console: ["VBENCH-LAB: run virtio-blk exit 0 slot 0 at 1 s", "VBENCH-LAB: run virtio-blk exit 3 slot 1 at 2 s",
                                             "VBENCH-LAB: run virtio-blk exit 0 slot 1 at 3 s", "VBENCH-LAB: run virtio-blk exit 0 slot 0 at 4 s"].joined(separator: "\n"))
        #expect(slots.slotStatus == [0: 0, 1: 3] && slots.runStatus == [.virtioBlk: 3])
        #expect(m.netStatus == 0 && m.sendStatus == 0 && m.runStatus.isEmpty)
    }
}

@Suite struct JobScriptTests {
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

    /// The crash test's guest side: mount the spool disk by serial, resend, then spool each
    /// record with vbench (durable) and say so after each; the last boot only resends; the
    /// control copies without fsync.
    @Test func spoolCrashJobSpoolsOneRecordAtATimeAndSaysSo() {
        let job = LabRunner.spoolCrashJob(sendTo: "vsock://2:5000", records: ["a", "b"], last: false)
        #expect(job.contains("grep -qs vbspool") && job.contains("mount -t ext4"))
        #expect(job.contains("/vbench send --to vsock://2:5000 --spool /spooldisk/spool"))
        let a = job.range(of: "--spool /spooldisk/spool --timeout 1 /job/crash/a.json"), said = job.range(of: "spooled a\""),
            b = job.range(of: "/job/crash/b.json")
        #expect(a != nil && said != nil && b != nil && a!.upperBound < said!.lowerBound && said!.upperBound < b!.lowerBound)
        #expect(job.contains("unix:/nonexistent.sock") && job.hasSuffix("sleep 600\n"))
        let last = LabRunner.spoolCrashJob(sendTo: "vsock://2:5000", records: [], last: true)
        #expect(last.contains("resend exit") && !last.contains("spooled ") && !last.contains("sleep"))
        let control = LabRunner.spoolCrashJob(sendTo: "vsock://2:5000", records: ["a"], last: false, control: true)
        #expect(control.contains("cp /job/crash/a.json /spooldisk/spool/a.json") && !control.contains("unix:/nonexistent.sock"))
    }

    @Test func jobMeasuresEveryDiskBySerialAndSendsAfterEach() {
        var m = LabMatrix(name: "t", disks: [.virtioBlk, .ide], runtimeSeconds: 0.5, repetitions: 3, vsockLoopback: true)
        let r = Self.runner(m)
        let job = r.jobScript(disks: m.disks, tags: ["lab.run": "t", "qemu.accel": "tcg"], commandLine: ["-accel", "tcg", "-append", "a b 'c'"])
        #expect(job.contains("if dev=$(disk vbd0virtioblk); then") && job.contains("if dev=$(disk vbd1ide); then"))
        #expect(job.contains("'--runtime' '0.5' '--repeat' '3'") && job.contains("'--tag' 'lab.disk=ide'"))
        // The command line survives the guest shell's quoting.
        #expect(job.contains(#"'qemu.cmdline=qemu-system-x86_64 -accel tcg -append a b '\''c'\'''"#))
        #expect(job.components(separatedBy: "\n    send\n").count == 3, "a send after each disk")
        #expect(job.contains("/vbench send --to serial:/dev/virtio-ports/org.vbench.0"))
        #expect(job.contains("vsock://any:5000") && job.contains("--to vsock://1:5000"))
        // Each guest run is bounded: 4 workloads x 3 repetitions x (0.5 + 0.5 ramp) s x 2 + 60.
        #expect(m.guestRunBound() == 84 && job.contains("timeout 84 /vbench run"))
        let vsockJob = r.jobScript(disks: m.disks, tags: [:], commandLine: [], sendTo: "vsock://2:40000")
        #expect(vsockJob.contains("/vbench send --to vsock://2:40000"))
        // A guest binary (no collect) says so instead of failing the loopback check.
        #expect(job.contains("/vbench collect --help >/dev/null 2>&1") && job.contains("this vbench has no collect"))
        m.vsockLoopback = false
        #expect(!Self.runner(m).jobScript(disks: m.disks, tags: [:], commandLine: []).contains("vsock_loopback"))
        #expect(!LabMatrix(name: "d", disks: [.virtioBlk]).vsockLoopback, "off unless asked for")
    }

    @Test func nicsAreFoundByMACAddressedRoutedAndTestedInOneAutoRun() {
        let m = LabMatrix(name: "t", disks: [.virtioBlk], nics: [.virtioNet, .e1000], runtimeSeconds: 1, repetitions: 2)
        let job = Self.runner(m).jobScript(disks: m.disks, nics: m.nics, tags: ["lab.run": "t"], commandLine: [])
        #expect(job.contains("if ifc=$(nicif 52:54:00:77:01:02); then") && job.contains("if ifc=$(nicif 52:54:00:77:02:02); then"))
        #expect(job.contains("ip addr add 10.77.2.2/24 dev \"$ifc\"") && job.contains("nets=\"$nets $ifc:2:10.77.2.1\""))
        #expect(job.contains("ip route add 10.77.0.1/32 via \"$gw\" dev \"$ifc\" metric \"$metric\""))
        // 2 NICs x 7 workloads x 2 repetitions x (1 + 1) s x 2 + 60 = 172.
        #expect(job.contains("timeout 172 /vbench run '--device' 'net' '--runs' '1' '--peer' '10.77.0.1' '--iface' 'auto' '--runtime' '1.0' '--repeat' '2'"))
        #expect(job.contains("'--tag' 'lab.nics=virtio-net,e1000'") && job.contains("say \"run net exit $status\""))
        // The NICs run after the disks, and their records are sent before the final marker.
        let disk = job.range(of: "disk vbd0virtioblk")!.lowerBound, net = job.range(of: "run net on")!.lowerBound
        #expect(disk < net && job.range(of: "say \"send exit $sendfail\"")!.lowerBound > net)
        #expect(!Self.runner(m).jobScript(disks: m.disks, tags: [:], commandLine: []).contains("nicif"))
    }

    @Test func throttledDisksWaitForTheHostsLimitsAndAreTaggedBySlot() throws {
        let m = LabMatrix(name: "cal", disks: [.virtioBlk, .virtioBlk, .virtioBlk], rw: "randread", bs: "4k", iodepth: 32,
                          throttle: .init(reference: 0, disks: ["1": 0.9, "2": 0.7]))
        try m.check(source: "t")
        #expect(m.throttleWorkload == "randread-4k-qd32")
        let job = Self.runner(m).jobScript(disks: m.disks, tags: [:], commandLine: [])
        #expect(job.contains("'--rw' 'randread' '--bs' '4k' '--iodepth' '32'"))
        #expect(job.contains("'--tag' 'lab.slot=0'") && job.contains("'--tag' 'lab.slot=2' '--tag' 'lab.throttle=0.7'"))
        // One wait, before the first throttled disk, on the control port; each disk tags its own limit.
        #expect(job.components(separatedBy: "head -n 1 /dev/virtio-ports/org.vbench.ctl").count == 3, "the wait is guarded by [ -z $limits ] before each throttled disk")
        #expect(job.range(of: "waiting for throttles")!.lowerBound > job.range(of: "disk vbd0virtioblk")!.lowerBound)
        #expect(job.contains(#"--tag "lab.throttle.iops=$(echo "$limits" | tr ' ' '\n' | sed -n 's/^d2=//p')""#))
        // A single workload bounds the guest run by one shape: 1 x 2 repetitions x (2 + 0.5 ramp) s x 2 + 60.
        #expect(m.guestRunBound() == 70)
    }

    @Test func eachDiskRunsUnderEachSchedulerInAnOrderThatAlternatesByPass() throws {
        let m = LabMatrix(name: "sched", disks: [.virtioBlk], rw: "randread", bs: "4k", iodepth: 1, passes: 4,
                          ioschedulers: ["none", "mq-deadline"])
        try m.check(source: "t")
        let job = Self.runner(m).jobScript(disks: m.disks, tags: [:], commandLine: [])
        #expect(job.contains("for pass in $(seq 1 4); do"))
        #expect(job.contains(#"if [ $((pass % 2)) -eq 1 ]; then order="none mq-deadline"; else order="mq-deadline none"; fi"#))
        #expect(job.contains("for sched in $order; do"))
        #expect(job.contains(#"--tag "lab.pass=$pass" --ioscheduler "$sched" --tag "lab.ioscheduler=$sched""#))
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
