import Foundation
import Testing
import VBenchTestSupport
import VBenchCore
@testable import VBenchProbe
import VBenchSystem

/// A guest's /sys, /proc and /etc written from the kernel's documented layout (no probe output
/// copied): each audit rule gets one tree where it holds and one where it does not.
final class GuestTree {
    let folder: ScratchFolder
    var root: String { folder.path }

    init() throws { folder = try ScratchFolder() }

    func file(_ path: String, _ text: String) throws { try folder.write(path, text) }

    func link(_ path: String, to target: String) throws {
        let url = URL(fileURLWithPath: root + path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }

    func folder(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: root + path, withIntermediateDirectories: true)
    }

    /// /sys/bus/virtio/devices/virtioN with its device id, features and bound driver
    /// (drivers/virtio/virtio.c: `device` is printed as 0x%04x, `features` one char per bit).
    func virtio(_ n: Int, id: Int, driver: String?, features: String = String(repeating: "0", count: 64)) throws {
        let dev = "/sys/devices/pci0000:00/0000:00:0\(n + 2).0/virtio\(n)"
        try file(dev + "/device", String(format: "0x%04x", id))
        try file(dev + "/features", features)
        try link("/sys/bus/virtio/devices/virtio\(n)", to: "../../../devices/pci0000:00/0000:00:0\(n + 2).0/virtio\(n)")
        if let driver {
            try link(dev + "/driver", to: "../../../../bus/virtio/drivers/\(driver)")
            try link("/sys/bus/virtio/drivers/\(driver)/virtio\(n)", to: "../../../../devices/pci0000:00/0000:00:0\(n + 2).0/virtio\(n)")
        }
    }

    /// /sys/bus/pci/devices/ADDR with vendor, device, class and driver.
    func pci(_ address: String, vendor: String, device: String, classCode: String, driver: String?) throws {
        let dev = "/sys/devices/pci0000:00/\(address)"
        try file(dev + "/vendor", "0x" + vendor)
        try file(dev + "/device", "0x" + device)
        try file(dev + "/class", classCode)
        try link("/sys/bus/pci/devices/\(address)", to: "../../../devices/pci0000:00/\(address)")
        if let driver {
            try link(dev + "/driver", to: "../../../bus/pci/drivers/\(driver)")
            try link("/sys/bus/pci/drivers/\(driver)/\(address)", to: "../../../../devices/pci0000:00/\(address)")
        }
    }

    func process(_ pid: Int, _ comm: String) throws { try file("/proc/\(pid)/comm", comm) }

    /// A dpkg status file holding `packages` as installed.
    func dpkg(_ packages: [String]) throws {
        try file("/var/lib/dpkg/status", packages.map { "Package: \($0)\nStatus: install ok installed\nVersion: 1.0\n" }.joined(separator: "\n"))
    }

    func audit(_ hypervisor: Hypervisor, cpus: Int = 2, disks: [DeviceInfo] = [], nics: [DeviceInfo] = []) -> GuestAudit {
        GuestAuditor(fs: RootedFileSystem(root: root), hypervisor: hypervisor, onlineCpus: cpus, clockCost: .none)
            .audit(disks: disks, nics: nics)
    }

    /// A Debian KVM guest with kvm-clock, PID 1 systemd and modules lists.
    static func debianKVM() throws -> GuestTree {
        let t = try GuestTree()
        try t.file("/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"")
        try t.file("/proc/sys/kernel/osrelease", "6.1.0-28-amd64")
        try t.file("/proc/modules", "")
        try t.file("/lib/modules/6.1.0-28-amd64/modules.builtin", "")
        try t.file("/lib/modules/6.1.0-28-amd64/modules.dep",
                   ["virtio_blk", "virtio_net", "virtio_scsi", "virtio_console", "virtio_balloon", "virtio_gpu", "vmw_vsock_virtio_transport"]
                       .map { "kernel/drivers/x/\($0).ko.xz:" }.joined(separator: "\n") + "\nkernel/drivers/char/hw_random/virtio-rng.ko.xz:")
        try t.file("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc rdrand hypervisor")
        try t.file("/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet")
        try t.process(1, "systemd")
        try t.file("/sys/devices/system/clocksource/clocksource0/current_clocksource", "kvm-clock")
        try t.file("/sys/devices/system/clocksource/clocksource0/available_clocksource", "kvm-clock tsc acpi_pm ")
        try t.file("/sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never")
        return t
    }
}

func disk(_ name: String, driver: String = "virtio_blk", class c: DeviceClass = .paravirtual) -> DeviceInfo {
    DeviceInfo(kind: "block", name: name, driver: driver, controllerDriver: "virtio-pci", driverChain: [driver, "virtio-pci"], deviceClass: c, pciId: "1af4:1001")
}

func nic(_ name: String, driver: String = "virtio_net", class c: DeviceClass = .paravirtual) -> DeviceInfo {
    DeviceInfo(kind: "net", name: name, driver: driver, controllerDriver: "virtio-pci", driverChain: [driver, "virtio-pci"], deviceClass: c, pciId: "1af4:1000")
}

extension GuestAudit {
    func one(_ check: String, _ subject: String? = nil) -> AuditFinding? {
        findings.first { $0.check == check && (subject == nil || $0.subject == subject) }
    }
}

@Suite struct AuditTests {
    // MARK: drivers

    @Test func aVirtioDeviceWithItsDriverIsFine() throws {
        let t = try GuestTree.debianKVM()
        try t.virtio(0, id: 2, driver: "virtio_blk")
        let f = try #require(t.audit(.kvm).one("driver", "virtio_blk"))
        #expect(f.severity == .ok)
        #expect(f.summary.contains("drives virtio0"))
    }

    @Test func aVirtioDeviceWithoutItsDriverNamesTheModuleToLoad() throws {
        let t = try GuestTree.debianKVM()
        try t.virtio(3, id: 4, driver: nil)  // virtio-rng, module not loaded
        let f = try #require(t.audit(.kvm).one("driver", "virtio_rng"))
        #expect(f.severity == .warning)
        #expect(f.summary.contains("available as a module, not loaded"))
        #expect(f.fix?.guest == "modprobe virtio_rng; echo virtio_rng > /etc/modules-load.d/virtio_rng.conf")
    }

    @Test func vmwareDriversAreExpectedByPCIId() throws {
        let t = try GuestTree.debianKVM()
        try t.pci("0000:00:07.7", vendor: "15ad", device: "0740", classCode: "0x088000", driver: "vmw_vmci")
        try t.pci("0000:0b:00.0", vendor: "15ad", device: "07b0", classCode: "0x020000", driver: nil)
        let audit = t.audit(.vmware)
        #expect(audit.one("driver", "vmw_vmci")?.severity == .ok)
        #expect(audit.one("driver", "vmxnet3")?.severity == .warning)
        #expect(audit.one("driver", "vmw_balloon")?.severity == .warning, "VMware's balloon needs no device, so its absence is a finding")
    }

    /// CONFIG_XEN_BALLOON is a bool: no module list names it, only its sysfs folder on Xen does.
    @Test func theXenBalloonIsJudgedByItsFolderAndOnlyARealXenKernelCanLackIt() throws {
        let on = try GuestTree.debianKVM()
        try on.file("/sys/hypervisor/type", "xen")
        try on.folder("/sys/devices/system/xen_memory/xen_memory0")
        #expect(on.audit(.xen).one("driver", "xen_balloon")?.severity == .ok)

        let missing = try GuestTree.debianKVM()
        try missing.file("/sys/hypervisor/type", "xen")
        let f = try #require(missing.audit(.xen).one("driver", "xen_balloon"))
        #expect(f.severity == .warning && f.evidence.contains("/sys/hypervisor/type: xen"), "\(f)")

        // DMI says Xen but the kernel does not run on it (a seeded lab guest, or HVM without PV
        // drivers): not knowable, and said so.
        let dmiOnly = try GuestTree.debianKVM()
        let u = try #require(dmiOnly.audit(.xen).one("driver", "xen_balloon"))
        #expect(u.severity == .unknown && u.summary.contains("bool option"), "\(u)")
    }

    // MARK: agents and channels

    @Test func qemuGuestAgentInstalledRunningWithItsPortIsFine() throws {
        let t = try GuestTree.debianKVM()
        try t.dpkg(["bash", "qemu-guest-agent"])
        try t.process(412, "qemu-ga")
        try t.file("/sys/class/virtio-ports/vport1p1/name", "org.qemu.guest_agent.0")
        let f = try #require(t.audit(.kvm).one("agent", "qemu-guest-agent"))
        #expect(f.severity == .ok)
    }

    @Test func aMissingAgentGetsTheInstallCommandAndTheChannel() throws {
        let t = try GuestTree.debianKVM()
        try t.dpkg(["bash"])
        let f = try #require(t.audit(.kvm).one("agent", "qemu-guest-agent"))
        #expect(f.severity == .warning)
        #expect(f.fix?.guest == "apt install qemu-guest-agent; systemctl enable --now qemu-guest-agent")
        #expect(f.fix?.libvirt == "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>")
        #expect(f.fix?.host?.contains("virtserialport,chardev=qga0,name=org.qemu.guest_agent.0") == true)
    }

    @Test func anInstalledAgentWithoutItsPortAsksTheHostForOne() throws {
        let t = try GuestTree.debianKVM()
        try t.dpkg(["qemu-guest-agent"])
        try t.process(412, "qemu-ga")
        let f = try #require(t.audit(.kvm).one("channel", "org.qemu.guest_agent.0"))
        #expect(f.severity == .warning)
        #expect(f.fix?.guest == nil)
        #expect(f.fix?.libvirt?.contains("org.qemu.guest_agent.0") == true)
    }

    @Test func anInstalledAgentThatDoesNotRunIsStarted() throws {
        let t = try GuestTree.debianKVM()
        try t.dpkg(["qemu-guest-agent"])
        try t.file("/sys/class/virtio-ports/vport1p1/name", "org.qemu.guest_agent.0")
        let f = try #require(t.audit(.kvm).one("agent", "qemu-guest-agent"))
        #expect(f.severity == .warning)
        #expect(f.fix?.guest == "systemctl enable --now qemu-guest-agent")
    }

    @Test func aSpiceChannelAsksForSpiceVdagent() throws {
        let t = try GuestTree.debianKVM()
        try t.dpkg([])
        try t.file("/sys/class/virtio-ports/vport2p1/name", "com.redhat.spice.0")
        let f = try #require(t.audit(.kvm).one("agent", "spice-vdagent"))
        #expect(f.severity == .warning)
        #expect(f.fix?.guest?.hasPrefix("apt install spice-vdagent") == true)
    }

    @Test(arguments: [(Hypervisor.vmware, "open-vm-tools", "apt install open-vm-tools"),
                      (.virtualbox, "VirtualBox Guest Additions", "VBoxLinuxAdditions.run"),
                      (.xen, "xe-guest-utilities", "apt install xe-guest-utilities"),
                      (.hyperV, "hyperv-daemons", "apt install hyperv-daemons")])
    func eachHypervisorNamesItsAdditions(hypervisor: Hypervisor, agent: String, fix: String) throws {
        let t = try GuestTree.debianKVM()
        try t.dpkg(["bash"])
        let f = try #require(t.audit(hypervisor).one("agent", agent))
        #expect(f.severity == .warning)
        #expect(f.fix?.guest?.contains(fix) == true, "\(f.fix?.guest ?? "no fix")")
    }

    @Test func rhelFixesUseDnfAndFilesStandInForTheRpmDatabase() throws {
        let t = try GuestTree()
        try t.file("/etc/os-release", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"")
        try t.folder("/var/lib/rpm")
        try t.file("/usr/bin/vmtoolsd", "")
        try t.process(700, "vmtoolsd")
        let ok = try #require(t.audit(.vmware).one("agent", "open-vm-tools"))
        #expect(ok.severity == .ok)
        #expect(ok.evidence.contains { $0.contains("the rpm database is not read") && $0.contains("/usr/bin/vmtoolsd present") })
        let bare = try GuestTree()
        try bare.file("/etc/os-release", "ID=fedora")
        try bare.folder("/var/lib/rpm")
        try bare.process(1, "systemd")
        #expect(bare.audit(.kvm).one("agent", "qemu-guest-agent")?.fix?.guest == "dnf install qemu-guest-agent; systemctl enable --now qemu-guest-agent")
    }

    // MARK: display

    @Test func aVirtioGPUIsFineAndBochsGetsTheVirtioFix() throws {
        let good = try GuestTree.debianKVM()
        try good.pci("0000:00:02.0", vendor: "1af4", device: "1050", classCode: "0x030000", driver: "virtio-pci")
        try good.file("/sys/class/drm/card0/dev", "226:0")
        try good.link("/sys/class/drm/card0/device", to: "../../../devices/pci0000:00/0000:00:02.0/virtio0")
        try good.link("/sys/devices/pci0000:00/0000:00:02.0/virtio0/driver", to: "../../../../bus/virtio/drivers/virtio_gpu")
        let f = try #require(good.audit(.kvm).findings.first { $0.check == "display" })
        #expect(f.severity == .ok, "\(f.summary)")

        let bad = try GuestTree.debianKVM()
        try bad.pci("0000:00:02.0", vendor: "1234", device: "1111", classCode: "0x030000", driver: "bochs-drm")
        let b = try #require(bad.audit(.kvm).one("display"))
        #expect(b.severity == .warning)
        #expect(b.summary.contains("bochs-drm"))
        #expect(b.fix?.libvirt == "<video><model type='virtio'/></video> (or <model type='qxl'/> for SPICE)")
    }

    @Test func qxlIsParavirtualAndCirrusIsNot() throws {
        let t = try GuestTree.debianKVM()
        try t.pci("0000:00:02.0", vendor: "1b36", device: "0100", classCode: "0x030000", driver: "qxl")
        try t.pci("0000:00:03.0", vendor: "1013", device: "00b8", classCode: "0x030000", driver: "cirrus-qemu")
        let displays = t.audit(.kvm).findings.filter { $0.check == "display" }
        #expect(displays.map(\.severity) == [.ok, .warning])
        #expect(displays[1].summary.contains("Cirrus"))
    }

    @Test func noDisplayIsHeadless() throws {
        let f = try #require(try GuestTree.debianKVM().audit(.kvm).one("display"))
        #expect(f.severity == .info)
        #expect(f.subject == "none")
        // A lab guest under -vga none: the console's fbcon class device is not a framebuffer.
        let t = try GuestTree.debianKVM()
        try t.file("/sys/class/graphics/fbcon/uevent", "")
        #expect(t.audit(.kvm).one("display")?.subject == "none")
        try t.file("/sys/class/graphics/fb0/name", "EFI VGA")
        let efi = try #require(t.audit(.kvm).one("display"))
        #expect(efi.severity == .warning)
        #expect(efi.summary.contains("firmware framebuffer (efifb)"))
    }

    // MARK: clocksource

    @Test func kvmClockIsFineAndTheReasonIsGiven() throws {
        let t = try GuestTree.debianKVM()
        try t.file("/proc/cpuinfo", "flags\t\t: fpu tsc rdrand hypervisor")  // no invariant TSC
        let f = try #require(t.audit(.kvm).one("clocksource"))
        #expect(f.severity == .ok)
        #expect(f.summary.contains("the TSC is not invariant here"))
    }

    @Test func tscOverKvmClockIsTheKernelsChoiceWhenTheTSCIsInvariant() throws {
        let t = try GuestTree.debianKVM()
        try t.file("/sys/devices/system/clocksource/clocksource0/current_clocksource", "tsc")
        let f = try #require(t.audit(.kvm).one("clocksource"))
        #expect(f.severity == .ok)
        #expect(f.summary.contains("kvm-clock lowers its rating to 299"))
    }

    @Test func hpetIsCostlyForEveryNumber() throws {
        let t = try GuestTree.debianKVM()
        try t.file("/sys/devices/system/clocksource/clocksource0/current_clocksource", "hpet")
        try t.file("/sys/devices/system/clocksource/clocksource0/available_clocksource", "kvm-clock tsc hpet acpi_pm")
        let audit = t.audit(.kvm)
        let f = try #require(audit.one("clocksource"))
        #expect(f.severity == .warning)
        #expect(f.affects == ["all"])
        #expect(f.fix?.guest?.hasPrefix("echo kvm-clock > /sys/devices/system/clocksource/clocksource0/current_clocksource") == true)
        #expect(audit.costly(forFamily: "blk", device: "vda").map(\.check) == ["clocksource"])
    }

    /// Every run measures the clock again; the figure goes in `figures`, so runs of one guest
    /// setup share one summary, and a store one configuration.
    @Test func measuredClockCostsStayOutOfTheSummary() throws {
        let t = try GuestTree.debianKVM()
        try t.file("/sys/devices/system/clocksource/clocksource0/current_clocksource", "hpet")
        try t.file("/sys/devices/system/clocksource/clocksource0/available_clocksource", "hpet acpi_pm")
        func measured() -> GuestAudit {
            GuestAuditor(fs: RootedFileSystem(root: t.root), hypervisor: .kvm, onlineCpus: 2, clockCost: .current).audit(disks: [], nics: [])
        }
        let (a, b) = (measured(), measured())
        let f = try #require(a.one("clocksource"))
        #expect(f.severity == .warning && (f.figures?["clock_gettime_ns.hpet"] ?? 0) > 0)
        #expect(!f.summary.contains(" ns"), "\(f.summary)")
        #expect(f.measuredText?.hasPrefix("clock_gettime costs hpet ") == true)
        #expect(AuditConfiguration(a) == AuditConfiguration(b))
        #expect(AuditConfiguration(a).digest == AuditConfiguration(b).digest)
    }

    @Test func aClocksourceSetOnTheCommandLineSaysSo() throws {
        let t = try GuestTree.debianKVM()
        try t.file("/proc/cmdline", "root=/dev/vda1 clocksource=kvm-clock")
        #expect(t.audit(.kvm).one("clocksource")?.summary.contains("set on the kernel command line") == true)
    }

    @Test func anUnreadableClocksourceIsUnknown() throws {
        let t = try GuestTree()
        let f = try #require(t.audit(.kvm).one("clocksource"))
        #expect(f.severity == .unknown)
        #expect(f.summary.contains("unreadable"))
    }

    // MARK: balloon and RNG

    @Test func aBalloonWithFreePageReportingIsFine() throws {
        let t = try GuestTree.debianKVM()
        try t.virtio(1, id: 5, driver: "virtio_balloon", features: "0110010000000000000000000000000010000000")
        #expect(t.audit(.kvm).one("balloon")?.severity == .ok)
    }

    @Test func aBalloonWithoutReportingOrNoBalloonGetsTheLibvirtElement() throws {
        let t = try GuestTree.debianKVM()
        try t.virtio(1, id: 5, driver: "virtio_balloon", features: "0110000000000000000000000000000010000000")
        let f = try #require(t.audit(.kvm).one("balloon"))
        #expect(f.severity == .info)
        #expect(f.fix?.libvirt == "<memballoon model='virtio' freePageReporting='on'/>")
        let none = try #require(try GuestTree.debianKVM().audit(.kvm).one("balloon"))
        #expect(none.summary.hasPrefix("no memory balloon"))
    }

    @Test func theRNGIsReadFromHwRandom() throws {
        let good = try GuestTree.debianKVM()
        try good.file("/sys/class/misc/hw_random/rng_current", "virtio_rng.0")
        try good.file("/sys/class/misc/hw_random/rng_available", "virtio_rng.0")
        #expect(good.audit(.kvm).one("rng")?.severity == .ok)
        let bad = try GuestTree.debianKVM()
        try bad.file("/proc/cpuinfo", "flags\t\t: fpu tsc hypervisor")
        try bad.file("/sys/class/misc/hw_random/rng_current", "none")
        let f = try #require(bad.audit(.kvm).one("rng"))
        #expect(f.severity == .warning)
        #expect(f.fix?.host == "-object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0")
    }

    // MARK: scheduler and queues

    @Test func aSchedulerOnAParavirtualDiskIsCostlyForThatDiskOnly() throws {
        let t = try GuestTree.debianKVM()
        try t.file("/sys/block/vda/queue/scheduler", "none [mq-deadline] kyber bfq")
        try t.file("/sys/block/vdb/queue/scheduler", "[none] mq-deadline")
        let audit = t.audit(.kvm, disks: [disk("vda"), disk("vdb")])
        let vda = try #require(audit.one("scheduler", "vda"))
        #expect(vda.severity == .warning)
        #expect(vda.affects == ["blk:vda"])
        #expect(vda.fix?.guest?.contains("KERNEL==\"vd[a-z]*\", ATTR{queue/scheduler}=\"none\"") == true)
        #expect(audit.one("scheduler", "vdb")?.severity == .ok)
        #expect(audit.costly(forFamily: "blk", device: "vdb").isEmpty)
        #expect(audit.costly(forFamily: "blk", device: "vda").count == 1)
    }

    @Test func oneQueueForFourVCPUsWithoutMultiqueueAsksTheHost() throws {
        let t = try GuestTree.debianKVM()
        try t.folder("/sys/class/net/eth0/queues/rx-0")
        try t.folder("/sys/class/net/eth0/queues/tx-0")
        try t.file("/sys/class/net/eth0/device/features", String(repeating: "1", count: 22) + "0" + String(repeating: "0", count: 41))
        let f = try #require(t.audit(.kvm, cpus: 4, nics: [nic("eth0")]).one("net-queues", "eth0"))
        #expect(f.severity == .warning)
        #expect(f.summary.contains("the device offers no multiqueue"))
        #expect(f.fix?.host == "-netdev tap,id=n0,vhost=on,queues=4 -device virtio-net-pci,netdev=n0,mq=on,vectors=10")
    }

    @Test func queuesTheDriverOffersButDoesNotUseAreTurnedOnInTheGuest() throws {
        let t = try GuestTree.debianKVM()
        try t.folder("/sys/class/net/eth0/queues/rx-0")
        try t.file("/ethtool-channels-eth0", "0 0 4 0 0 1")
        let f = try #require(t.audit(.kvm, cpus: 4, nics: [nic("eth0")]).one("net-queues", "eth0"))
        #expect(f.fix?.guest == "ethtool -L eth0 combined 4")
        let good = try GuestTree.debianKVM()
        for q in 0..<4 { try good.folder("/sys/class/net/eth0/queues/rx-\(q)") }
        #expect(good.audit(.kvm, cpus: 4, nics: [nic("eth0")]).one("net-queues", "eth0")?.severity == .ok)
    }

    // MARK: THP, nested, emulated devices

    @Test func transparentHugePagesAreReported() throws {
        #expect(try GuestTree.debianKVM().audit(.kvm).one("thp")?.subject == "always")
        #expect(try GuestTree().audit(.kvm).one("thp")?.severity == .unknown)
    }

    @Test func nestedVirtualizationNeedsTheFlagAndDevKvm() throws {
        let t = try GuestTree.debianKVM()
        try t.file("/proc/cpuinfo", "flags\t\t: fpu vmx hypervisor")
        try t.file("/dev/kvm", "")
        #expect(t.audit(.kvm).one("nested")?.severity == .ok)
        let f = try #require(try GuestTree.debianKVM().audit(.kvm).one("nested"))
        #expect(f.summary.hasPrefix("cannot run guests with acceleration"))
        #expect(f.fix?.libvirt == "<cpu mode='host-passthrough'/>")
    }

    @Test func anEmulatedNICIsCostlyForItsNumbers() throws {
        let audit = try GuestTree.debianKVM().audit(.kvm, nics: [nic("eth1", driver: "e1000", class: .emulated)])
        let f = try #require(audit.one("device", "eth1"))
        #expect(f.affects == ["net:eth1"])
        #expect(f.fix?.libvirt == "<interface ...><model type='virtio'/></interface>")
        #expect(audit.costly(forFamily: "net", device: "eth1").count == 1)
        #expect(audit.costly(forFamily: "net", device: "eth0").isEmpty)
    }

    // MARK: bad input

    @Test func aMalformedDpkgStatusIsUnknownWithTheReason() throws {
        let t = try GuestTree.debianKVM()
        try t.file("/var/lib/dpkg/status", "this is not a dpkg database\n\u{01}\u{02}")
        let f = try #require(t.audit(.kvm).one("agent", "qemu-guest-agent"))
        #expect(f.evidence.contains { $0.contains("holds no `Package:` stanza (malformed)") })
    }

    @Test func anUnreadableDpkgStatusIsUnknownWithTheReason() throws {
        let t = try GuestTree.debianKVM()
        try t.folder("/var/lib/dpkg/status")  // a folder where the file should be
        let f = try #require(t.audit(.kvm).one("agent", "qemu-guest-agent"))
        #expect(f.evidence.contains { $0.contains("unreadable") })
    }

    @Test func malformedSysfsNeverFailsTheAudit() throws {
        let t = try GuestTree.debianKVM()
        try t.virtio(1, id: 5, driver: "virtio_balloon", features: "garbage")
        try t.file("/sys/block/vda/queue/scheduler", "")
        try t.file("/sys/class/misc/hw_random/rng_current", "")
        let audit = t.audit(.kvm, disks: [disk("vda")], nics: [nic("eth0")])
        #expect(audit.one("balloon")?.severity == .info)
        #expect(audit.findings.count > 10)
    }

    @Test func withoutAPackageDatabaseOrProcessesAnAgentIsUnknown() throws {
        let t = try GuestTree()
        let f = try #require(t.audit(.kvm).one("agent", "qemu-guest-agent"))
        #expect(f.severity == .unknown)
        #expect(f.summary.contains("no package database and no process list"))
    }

    @Test func theAuditOfEveryFixtureTreeRunsAndEveryWarningHasAFix() throws {
        for name in Fixtures.names {
            let report = Fixtures.report(name)
            let audit = try #require(report.audit, "\(name)")
            for f in audit.findings where f.severity == .warning {
                #expect(f.fix != nil, "\(name): \(f.check) \(f.subject) has no fix")
                #expect(!f.evidence.isEmpty, "\(name): \(f.check) \(f.subject) has no evidence")
            }
        }
    }

    /// The development machine, recorded with `vbench probe --record`: Firecracker with tsc
    /// while kvm-clock is available, mq-deadline on its virtio disk, and no guest agent.
    @Test func theRecordedDevelopmentMachine() throws {
        let report = Fixtures.report("firecracker-pci-dev")
        #expect(report.environment.hypervisor.vendor == .firecracker)
        #expect(report.environment.container?.kind == ContainerKind.none, "a /.dockerenv in the image does not make a container")
        let audit = try #require(report.audit)
        let clock = try #require(audit.one("clocksource"))
        #expect(clock.subject == "tsc")
        #expect(clock.evidence.contains { $0.hasSuffix("available_clocksource: tsc kvm-clock") })
        #expect(clock.summary.contains("chosen by the kernel"))
        let vda = try #require(audit.one("scheduler", "vda"))
        #expect(vda.severity == .warning)
        #expect(vda.summary.contains("mq-deadline"))
        #expect(vda.fix?.guest != nil)
        #expect(audit.one("agent")?.summary.hasPrefix("no guest agent runs") == true)
        #expect(audit.one("balloon")?.severity == .ok)
        #expect(audit.one("rng")?.subject == "virtio_rng.0")
        #expect(audit.one("nested")?.summary.hasPrefix("/dev/kvm exists without VMX or SVM") == true)
        #expect(audit.distribution == "debian")
    }

    @Test func distributionFamilies() {
        #expect(DistributionFamily.of(id: "ubuntu", idLike: "debian") == .debian)
        #expect(DistributionFamily.of(id: "rocky", idLike: "rhel centos fedora") == .rhel)
        #expect(DistributionFamily.of(id: "opensuse-leap", idLike: "suse opensuse") == .suse)
        #expect(DistributionFamily.of(id: "nixos", idLike: nil) == .unknown)
    }
}
