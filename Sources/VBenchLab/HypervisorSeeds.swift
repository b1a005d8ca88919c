import Foundation
import VBenchCore
import VBenchProbe
import VBenchSystem

/// A guest dressed as another hypervisor: QEMU's SMBIOS type 1 strings (and for VMware the
/// CPUID the kernel itself trusts), so `vbench probe` can be checked against real boots. Each
/// also carries the devices the guest audit looks at: a display adapter per seed, and one
/// QEMU desktop guest with every paravirtual extra (QXL and virtio-gpu, the agent and SPICE
/// ports, balloon, RNG, a multi-queue NIC on 2 vCPUs).
public struct HypervisorSeed: Sendable {
    public var name: String
    public var expected: Hypervisor
    public var cpu: String
    public var arguments: [String]
    /// vCPUs of this boot (the matrix's otherwise).
    public var cpus: Int? = nil
    /// A virtio-net NIC with this many queue pairs (`mq=on`) on a multi-queue tap in a network
    /// namespace of the lab's own; needs root, iproute2 and /dev/net/tun (QEMU's user network
    /// has one queue only).
    public var multiQueueNic: Int? = nil

    /// VMware, VirtualBox and Xen HVM, as verified in lab boots on QEMU 7.2, and plain TCG.
    public static let all: [HypervisorSeed] = [
        // Without TCG's CPUID leaf and hypervisor bit, and with a VMware serial, the guest kernel
        // itself detects VMware (QEMU answers the VMware backdoor port).
        HypervisorSeed(name: "vmware", expected: .vmware, cpu: "qemu64,tcg-cpuid=off,hypervisor=off,rdrand=on", arguments: [
            "-smbios", "type=1,manufacturer=VMware,, Inc.,product=VMware Virtual Platform,serial=VMware-56 4d 00 00 00 00 00 00-00 00 00 00 00 00 00 01",
            "-device", "pvscsi,id=pv0", "-device", "scsi-hd,drive=d0,bus=pv0.0,serial=vbpvscsi",
            "-nic", "user,model=vmxnet3,restrict=on", "-nic", "user,model=e1000,restrict=on",
        ]),
        HypervisorSeed(name: "virtualbox", expected: .virtualbox, cpu: "qemu64,rdrand=on", arguments: [
            "-smbios", "type=1,manufacturer=innotek GmbH,product=VirtualBox",
            "-device", "ahci,id=ahci0", "-device", "ide-hd,drive=d0,bus=ahci0.0,serial=vbahci",
            "-nic", "user,model=e1000,restrict=on",
            // VirtualBox's legacy VBoxVGA is a Bochs-VBE VGA: QEMU's std VGA plays it (bochs-drm).
            "-device", "VGA",
        ]),
        HypervisorSeed(name: "xen", expected: .xen, cpu: "qemu64,rdrand=on", arguments: [
            "-smbios", "type=1,manufacturer=Xen,product=HVM domU",
            "-device", "virtio-blk-pci,drive=d0,serial=vbvirtio",
            "-nic", "user,model=e1000,restrict=on",
            // xl's default emulated display for HVM guests (stdvga=0) is the Cirrus 5446.
            "-device", "cirrus-vga",
        ]),
        HypervisorSeed(name: "qemu-tcg", expected: .qemuTcg, cpu: "qemu64,rdrand=on", arguments: [
            "-device", "virtio-blk-pci,drive=d0,serial=vbvirtio",
            "-nic", "user,model=virtio-net-pci,restrict=on",
        ]),
        // A desktop guest as virt-manager makes one for SPICE: QXL, the SPICE and guest agent
        // ports, balloon with free page reporting, RNG; plus virtio-gpu and a 2-queue NIC on
        // 2 vCPUs. No agent runs in it: the audit must ask for qemu-guest-agent and spice-vdagent.
        HypervisorSeed(name: "qemu-desktop", expected: .qemuTcg, cpu: "qemu64,rdrand=on", arguments: [
            "-device", "virtio-blk-pci,drive=d0,serial=vbvirtio",
            "-device", "qxl-vga", "-device", "virtio-gpu-pci",
            "-device", "virtio-serial-pci,id=vser0",
            "-chardev", "null,id=ga0", "-device", "virtserialport,bus=vser0.0,chardev=ga0,name=org.qemu.guest_agent.0",
            "-chardev", "null,id=sp0", "-device", "virtserialport,bus=vser0.0,chardev=sp0,name=com.redhat.spice.0",
            "-device", "virtio-balloon-pci,free-page-reporting=on",
            "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
        ], cpus: 2, multiQueueNic: 2),
    ]
}

/// One seeded boot: what the guest's probe said.
public struct SeedResult: Sendable {
    public var seed: HypervisorSeed
    public var report: ProbeReport?
    public var seconds: Double
    /// Where the shipped files were unpacked (probe.json, and tree/ when recorded).
    public var folder: String
    public var failure: String?
}

extension LabRunner {
    /// Boots the appliance dressed as `seed` under TCG, runs `vbench probe --json` (and
    /// `probe --record` when `record`), and ships the output back on the second serial port.
    public func seedBoot(_ seed: HypervisorSeed, record: Bool) throws -> SeedResult {
        let dir = try options.cache.makeDirectory("runs/\(options.runId)/seed-\(seed.name)")
        let console = "\(dir)/console.log", shipped = "\(dir)/out.b64"
        let job = LabJob(runId: options.runId, sendTo: "", tags: [:], block: LabJob.BlockPlan(profile: "quick", boundSeconds: 0),
                         disks: [], steps: [], probe: LabJob.ProbeShip(record: record))
        let initrd = try bootInitrd(job: job, dir: dir)
        defer { try? FileManager.default.removeItem(atPath: initrd) }
        let image = "\(dir)/disk.img"
        try backingFile(image, mib: 16)
        defer { try? FileManager.default.removeItem(atPath: image) }
        var args = baseArguments(accel: .tcg, initrd: initrd, console: console)
        if let i = args.firstIndex(of: "qemu64,rdrand=on") { args[i] = seed.cpu }
        if let cpus = seed.cpus, let i = args.firstIndex(of: "-smp") { args[i + 1] = "\(cpus)" }
        // A multi-queue NIC needs a tap; taps live in a namespace of our own, and QEMU with them.
        var network: LabNetwork?
        if let queues = seed.multiQueueNic {
            do { network = try LabNetwork(nics: [.virtioNet], tag: 800, queues: queues, log: log) } catch let e as LabError {
                // The other seeds still boot; this one says what it needs.
                return SeedResult(seed: seed, report: nil, seconds: 0, folder: "\(dir)/out",
                                  failure: "its \(queues)-queue NIC needs a tap: \(e.message); leave it out with --only")
            }
            args += LabNetwork.qemuArguments(.virtioNet, index: 0, queues: queues)
        }
        defer { network?.remove() }
        // -icount: the guest clock is virtual, so a recorded /proc/cpuinfo carries no host TSC rate.
        if record { args += ["-icount", "shift=0"] }
        args += ["-serial", "file:\(shipped)", "-drive", "file=\(image),format=raw,if=none,id=d0,cache=unsafe"] + seed.arguments
        progress("seed \(seed.name): booting under TCG")
        let (program, argv) = network.map { ("ip", $0.execPrefix + ["qemu-system-x86_64"] + args) } ?? ("qemu-system-x86_64", args)
        let o = try Subprocess.run(program, argv, timeout: options.bootTimeout,
                                   stdoutPath: "\(dir)/qemu.out", stderrPath: "\(dir)/qemu.err")
        var result = SeedResult(seed: seed, report: nil, seconds: o.seconds, folder: "\(dir)/out", failure: nil)
        if o.timedOut || o.status != 0 {
            result.failure = o.timedOut ? "boot timed out after \(Int(options.bootTimeout)) s" : "QEMU exited with \(o.status) (\(dir)/qemu.err)"
            return result
        }
        let text = (try? String(contentsOfFile: shipped, encoding: .utf8)) ?? ""
        guard let begin = text.range(of: "VBENCH-BEGIN"), let end = text.range(of: "VBENCH-END"), begin.upperBound < end.lowerBound,
              let archive = Data(base64Encoded: String(text[begin.upperBound..<end.lowerBound]), options: .ignoreUnknownCharacters) else {
            result.failure = "the guest's output did not arrive complete (\(shipped); console \(console))"
            return result
        }
        let tgz = "\(dir)/out.tgz"
        try archive.write(to: URL(fileURLWithPath: tgz))
        try? FileManager.default.removeItem(atPath: result.folder)
        try FileManager.default.createDirectory(atPath: result.folder, withIntermediateDirectories: true)
        try Subprocess.check("tar", ["-xzf", tgz, "-C", result.folder], timeout: 120, what: "unpacking the guest's output")
        guard let json = FileManager.default.contents(atPath: "\(result.folder)/probe.json"),
              let report = try? JSONDecoder().decode(ProbeReport.self, from: json) else {
            result.failure = "the guest's probe wrote no report (\(result.folder)/probe.err)"
            return result
        }
        result.report = report
        if record && !FileManager.default.fileExists(atPath: "\(result.folder)/tree") {
            result.failure = "probe --record left no tree (\(result.folder)/record.log)"
        }
        return result
    }

    /// Strings of this machine that must not appear in a tree recorded in a guest: its kernel
    /// release, CPUID signature, CPU model, host name (when long enough not to match words) and MACs.
    public static func hostMarkers() -> [String] {
        var markers = [Signals.kernelRelease(), "KVMKVMKVM", "Firecracker"]
        let host = hostName()
        if host.count >= 6 { markers.append(host) }
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            markers.append(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        for nic in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? [] {
            if let mac = try? String(contentsOfFile: "/sys/class/net/\(nic)/address", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
               !mac.isEmpty, mac != "00:00:00:00:00:00" {
                markers.append(mac)
            }
        }
        return markers.filter { !$0.isEmpty }
    }

    /// The first host marker found in any file under `folder`, or nil.
    public static func leakedHostMarker(in folder: String, markers: [String]) -> String? {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return nil }
        let needles = markers.map { Data($0.utf8) }
        while let relative = walker.nextObject() as? String {
            let path = "\(folder)/\(relative)"
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
                  let data = FileManager.default.contents(atPath: path) else { continue }
            for (i, needle) in needles.enumerated() where data.range(of: needle) != nil {
                return "\(markers[i]) in \(relative)"
            }
        }
        return nil
    }
}
