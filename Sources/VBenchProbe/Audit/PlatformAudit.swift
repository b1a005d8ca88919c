import VBenchCore
import VBenchSystem

/// Balloon and free page reporting, the hardware RNG, I/O schedulers of paravirtual disks,
/// virtio-net queues against vCPUs, transparent huge pages, nested virtualization, and the
/// emulated disks and NICs.
struct PlatformAudit {
    let facts: AuditFacts
    /// Ask the NIC driver for its channels (ETHTOOL_GCHANNELS) on a live system.
    let liveChannels: Bool

    var fs: RootedFileSystem { facts.fs }
    var isVirtio: Bool { ExpectedDriver.virtioHypervisors.contains(facts.hypervisor) }

    // MARK: balloon

    /// virtio-balloon feature bits (virtio 1.2, 5.5.3).
    static let balloonStatsBit = 1, balloonFreePageHintBit = 3, balloonReportingBit = 5

    func balloon() -> AuditFinding? {
        switch facts.hypervisor {
        case .none, .unknown: return nil
        case .vmware:
            let s = facts.moduleState("vmw_balloon")
            let ok = s.state == .loaded || s.state == .builtIn
            return AuditFinding(check: "balloon", subject: "vmw_balloon", severity: ok ? .ok : .info,
                                summary: ok ? "VMware's balloon driver is \(s.state?.rawValue ?? "")" : "no VMware balloon driver: the host reclaims memory by swapping the guest instead",
                                evidence: [s.evidence], fix: ok ? nil : AuditFix(guest: "modprobe vmw_balloon"))
        case .xen:
            let present = fs.exists("/sys/devices/system/xen_memory/xen_memory0")
            return AuditFinding(check: "balloon", subject: "xen_balloon", severity: present ? .ok : .info,
                                summary: present ? "the Xen balloon is present" : "no Xen balloon (/sys/devices/system/xen_memory): the host cannot reclaim memory",
                                evidence: ["/sys/devices/system/xen_memory/xen_memory0: \(present ? "present" : "absent")"],
                                fix: present ? nil : AuditFix(guest: "a kernel with CONFIG_XEN_BALLOON"))
        case .hyperV:
            let bound = !fs.list("/sys/bus/vmbus/drivers/hv_balloon").filter { !SystemProbe.driverControlFiles.contains($0) }.isEmpty
            return AuditFinding(check: "balloon", subject: "hv_balloon", severity: bound ? .ok : .info,
                                summary: bound ? "Hyper-V dynamic memory (hv_balloon) is bound" : "hv_balloon drives no device: dynamic memory is off or the driver is missing",
                                evidence: ["/sys/bus/vmbus/drivers/hv_balloon: \(bound ? "bound" : "no device")"],
                                fix: bound ? nil : AuditFix(guest: "modprobe hv_balloon", host: "Set-VMMemory -DynamicMemoryEnabled $true"))
        case .virtualbox:
            // VirtualBox's balloon goes through vboxguest and VBoxService (page fusion).
            return nil
        default:
            guard isVirtio else { return nil }
            let devices = facts.virtioDevices.filter { $0.id == 5 }
            let libvirt = "<memballoon model='virtio' freePageReporting='on'/>"
            let host = "-device virtio-balloon-pci,free-page-reporting=on"
            guard let d = devices.first else {
                return AuditFinding(check: "balloon", subject: "virtio-balloon", severity: .info,
                                    summary: "no memory balloon: the host cannot take back memory the guest has freed, which limits how many guests fit",
                                    evidence: ["/sys/bus/virtio/devices: no device with id 5"],
                                    fix: AuditFix(libvirt: libvirt, host: host))
            }
            var evidence = ["/sys/bus/virtio/devices/\(d.name)/device: 5 (driver \(d.driver ?? "none"))"]
            guard d.driver == "virtio_balloon" else {
                return AuditFinding(check: "balloon", subject: "virtio-balloon", severity: .warning,
                                    summary: "a virtio balloon without the virtio_balloon driver: the host cannot reclaim memory",
                                    evidence: evidence, fix: AuditFix(guest: "modprobe virtio_balloon"))
            }
            let reporting = d.hasFeature(Self.balloonReportingBit)
            evidence.append("/sys/bus/virtio/devices/\(d.name)/features: \(d.features ?? "unreadable") (bit 5 free page reporting: \(reporting.map { $0 ? "on" : "off" } ?? "unknown"), bit 1 statistics: \(d.hasFeature(Self.balloonStatsBit).map { $0 ? "on" : "off" } ?? "unknown"))")
            if reporting == true {
                return AuditFinding(check: "balloon", subject: "virtio-balloon", severity: .ok,
                                    summary: "virtio balloon with free page reporting: freed guest memory goes back to the host", evidence: evidence)
            }
            return AuditFinding(check: "balloon", subject: "virtio-balloon", severity: .info,
                                summary: reporting == nil ? "virtio balloon; whether free page reporting is on is unknown" : "virtio balloon without free page reporting: freed memory returns to the host only when it inflates the balloon",
                                evidence: evidence, fix: AuditFix(libvirt: libvirt, host: host))
        }
    }

    // MARK: RNG

    func rng() -> AuditFinding? {
        guard facts.hypervisor != .none else { return nil }
        let base = "/sys/class/misc/hw_random"
        let current = fs.readString("\(base)/rng_current")?.trimmingCharacters()
        let available = fs.readString("\(base)/rng_available")?.trimmingCharacters()
        let rdrand = facts.cpuFlags.contains("rdrand") || facts.cpuFlags.contains("rdseed")
        var evidence = ["\(base)/rng_current: \(current ?? "absent")", "\(base)/rng_available: \(available ?? "absent")"]
        if !facts.cpuFlags.isEmpty { evidence.append("/proc/cpuinfo flags: rdrand \(facts.cpuFlags.contains("rdrand") ? "yes" : "no")") }
        if let current, current != "none", !current.isEmpty {
            return AuditFinding(check: "rng", subject: current, severity: .ok,
                                summary: "hardware RNG \(current) feeds the kernel's entropy pool", evidence: evidence)
        }
        let fix: AuditFix = switch facts.hypervisor {
        case .vmware, .virtualbox, .hyperV, .xen: AuditFix(host: "the \(facts.hypervisor.displayName) guest gets entropy from the CPU (RDRAND); pass the CPU flag through")
        default: AuditFix(guest: "modprobe virtio_rng", libvirt: "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>",
                          host: "-object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0")
        }
        return AuditFinding(check: "rng", subject: "none", severity: rdrand ? .info : .warning,
                            summary: "no hardware RNG" + (rdrand ? " device; the CPU's RDRAND seeds the kernel, so nothing blocks" : " and no RDRAND: early boot and key generation can wait for entropy"),
                            evidence: evidence, fix: fix)
    }

    // MARK: I/O scheduler

    func schedulers(disks: [DeviceInfo]) -> [AuditFinding] {
        disks.filter { $0.deviceClass == .paravirtual }.map { d in
            let path = "/sys/block/\(d.name)/queue/scheduler"
            guard let text = fs.readString(path)?.trimmingCharacters() else {
                return AuditFinding(check: "scheduler", subject: d.name, severity: .unknown,
                                    summary: "\(d.name): the I/O scheduler is unknown (\(path) unreadable)", evidence: ["\(path): unreadable"])
            }
            let choice = SysfsChoice.parse(text)
            let current = choice.current ?? text
            let evidence = ["\(path): \(text)"]
            if current == "none" {
                return AuditFinding(check: "scheduler", subject: d.name, severity: .ok,
                                    summary: "\(d.name) (\(d.driver ?? "?")): no I/O scheduler, as a paravirtual disk wants", evidence: evidence)
            }
            let offersNone = choice.available.contains("none")
            let rule = "ACTION==\"add|change\", KERNEL==\"\(Self.kernelPattern(d.name))\", ATTR{queue/scheduler}=\"none\""
            return AuditFinding(check: "scheduler", subject: d.name, severity: .warning,
                                summary: "\(d.name) (\(d.driver ?? "?")) uses \(current): the host schedules this disk's I/O again, so \(current) adds CPU per I/O and latency in the guest",
                                evidence: evidence,
                                fix: offersNone ? AuditFix(guest: "echo none > \(path); to keep it: \(rule) in /etc/udev/rules.d/60-io-scheduler.rules; to measure the difference first: vbench run --device blk --target DIR --ioscheduler none, then --ioscheduler \(current), with DIR on \(d.name)") : nil,
                                affects: ["blk:\(d.name)"])
        }
    }


    /// `vd[a-z]*` for `vdb`, `nvme[0-9]*n[0-9]*` for `nvme0n1`.
    static func kernelPattern(_ name: String) -> String {
        if name.hasPrefix("nvme") { return "nvme[0-9]*n[0-9]*" }
        let letters = name.prefix { $0.isLetter }
        return letters.count >= 2 ? "\(letters.dropLast())[a-z]*" : name
    }

    // MARK: NIC queues

    /// VIRTIO_NET_F_MQ (virtio 1.2, 5.1.3).
    static let netMultiqueueBit = 22

    func queues(nics: [DeviceInfo]) -> [AuditFinding] {
        nics.filter { $0.deviceClass == .paravirtual }.map { n in
            let base = "/sys/class/net/\(n.name)"
            let rx = fs.list("\(base)/queues").filter { $0.hasPrefix("rx-") }.count
            let tx = fs.list("\(base)/queues").filter { $0.hasPrefix("tx-") }.count
            var evidence = ["\(base)/queues: \(rx) rx, \(tx) tx", "/sys/devices/system/cpu/online: \(facts.onlineCpus) CPUs"]
            let channels = self.channels(n.name)
            if let channels { evidence.append("ETHTOOL_GCHANNELS \(n.name): max combined \(channels.maxCombined), combined \(channels.combined)") }
            var multiqueue: Bool?
            if n.driver == "virtio_net", let features = fs.readString("\(base)/device/features")?.trimmingCharacters() {
                let bit = Self.netMultiqueueBit
                multiqueue = features.count > bit ? features[features.index(features.startIndex, offsetBy: bit)] == "1" : nil
                evidence.append("\(base)/device/features: bit 22 (VIRTIO_NET_F_MQ) \(multiqueue.map { $0 ? "on" : "off" } ?? "unknown")")
            }
            let queues = max(rx, channels?.combined ?? 0)
            let wanted = facts.onlineCpus
            if queues == 0 {
                return AuditFinding(check: "net-queues", subject: n.name, severity: .unknown,
                                    summary: "\(n.name): the queue count is unknown (\(base)/queues lists none)", evidence: evidence)
            }
            if queues >= wanted || wanted <= 1 {
                return AuditFinding(check: "net-queues", subject: n.name, severity: .ok,
                                    summary: "\(n.name): \(queues) queue pair\(queues == 1 ? "" : "s") for \(wanted) vCPU\(wanted == 1 ? "" : "s")", evidence: evidence)
            }
            let canGrow = channels.map { $0.maxCombined > $0.combined } ?? false
            if canGrow, let channels {
                let target = min(wanted, channels.maxCombined)
                return AuditFinding(check: "net-queues", subject: n.name, severity: .warning,
                                    summary: "\(n.name): \(queues) of \(channels.maxCombined) queue pairs in use for \(wanted) vCPUs: one CPU takes every interrupt and packet",
                                    evidence: evidence, fix: AuditFix(guest: "ethtool -L \(n.name) combined \(target)"), affects: ["net:\(n.name)"])
            }
            if facts.hypervisor == .firecracker {
                return AuditFinding(check: "net-queues", subject: n.name, severity: .info,
                                    summary: "\(n.name): \(queues) queue pair\(queues == 1 ? "" : "s") for \(wanted) vCPUs; Firecracker's virtio-net has one queue pair, so one CPU takes every packet and no setting changes that",
                                    evidence: evidence, affects: ["net:\(n.name)"])
            }
            let fix: AuditFix? = n.driver == "virtio_net"
                ? AuditFix(libvirt: "<interface type='network'><model type='virtio'/><driver name='vhost' queues='\(wanted)'/></interface>",
                           host: "-netdev tap,id=n0,vhost=on,queues=\(wanted) -device virtio-net-pci,netdev=n0,mq=on,vectors=\(2 * wanted + 2)")
                : nil
            return AuditFinding(check: "net-queues", subject: n.name, severity: fix == nil ? .info : .warning,
                                summary: "\(n.name): \(queues) queue pair\(queues == 1 ? "" : "s") for \(wanted) vCPUs" + (multiqueue == false ? ", and the device offers no multiqueue" : "") + ": one CPU takes every interrupt and packet",
                                evidence: evidence, fix: fix, affects: ["net:\(n.name)"])
        }
    }

    /// The driver's channels: asked live, or read from `ethtool-channels-NAME` in a recorded tree.
    func channels(_ name: String) -> NICChannels? {
        if fs.isLive {
            guard liveChannels, let c = try? NICChannels.of(name) else { return nil }
            fs.recorder?.recordText("/ethtool-channels-\(name)", c.recordedForm + "\n")
            return c
        }
        return fs.readString("/ethtool-channels-\(name)").flatMap(NICChannels.init(recordedForm:))
    }

    // MARK: THP and nested virtualization

    func transparentHugePages() -> AuditFinding {
        let path = "/sys/kernel/mm/transparent_hugepage/enabled"
        guard let text = fs.readString(path)?.trimmingCharacters() else {
            return AuditFinding(check: "thp", subject: "unknown", severity: .unknown,
                                summary: "transparent huge pages: unknown (\(path) unreadable; a kernel without CONFIG_TRANSPARENT_HUGEPAGE)",
                                evidence: ["\(path): unreadable"])
        }
        let mode = SysfsChoice.parse(text).current ?? text
        let summary = switch mode {
        case "always": "transparent huge pages: always (every large anonymous mapping may use 2 MiB pages)"
        case "madvise": "transparent huge pages: madvise (vbench's buffers ask for them, so its memory numbers use 2 MiB pages; most programs' do not)"
        default: "transparent huge pages: never (TLB misses cost more under nested paging; memory numbers will be lower than with madvise)"
        }
        return AuditFinding(check: "thp", subject: mode, severity: .info, summary: summary, evidence: ["\(path): \(text)"])
    }

    func nested() -> AuditFinding {
        let vmx = facts.cpuFlags.contains("vmx"), svm = facts.cpuFlags.contains("svm")
        let kvm = fs.exists("/dev/kvm")
        let evidence = ["/proc/cpuinfo flags: vmx \(vmx ? "yes" : "no"), svm \(svm ? "yes" : "no")", "/dev/kvm: \(kvm ? "present" : "absent")"]
        switch (vmx || svm, kvm) {
        case (true, true):
            return AuditFinding(check: "nested", subject: "kvm", severity: .ok,
                                summary: "can run guests: the CPU offers \(vmx ? "VMX" : "SVM") and /dev/kvm exists", evidence: evidence)
        case (true, false):
            return AuditFinding(check: "nested", subject: "kvm", severity: .info,
                                summary: "the CPU offers \(vmx ? "VMX" : "SVM") but /dev/kvm is absent: load the KVM module to run guests",
                                evidence: evidence, fix: AuditFix(guest: "modprobe \(vmx ? "kvm_intel" : "kvm_amd")"))
        case (false, true):
            return AuditFinding(check: "nested", subject: "kvm", severity: .info,
                                summary: "/dev/kvm exists without VMX or SVM in the CPU flags: a paravirtual KVM (such as PVM); guests may hang or run slowly under it, and full emulation (TCG) is the safe choice",
                                evidence: evidence)
        case (false, false):
            return AuditFinding(check: "nested", subject: "none", severity: .info,
                                summary: facts.hypervisor == .none ? "no VMX or SVM: virtualization is off in the firmware" : "cannot run guests with acceleration: the hypervisor does not pass VMX or SVM through",
                                evidence: evidence,
                                fix: facts.hypervisor == .none ? AuditFix(host: "enable VT-x / AMD-V in the firmware setup")
                                    : AuditFix(libvirt: "<cpu mode='host-passthrough'/>", host: "-cpu host, with nested=1 for kvm_intel or kvm_amd on the host"))
        }
    }

    // MARK: emulated devices

    func emulatedDevices(disks: [DeviceInfo], nics: [DeviceInfo]) -> [AuditFinding] {
        (disks + nics).compactMap { d in
            guard let advice = Advisor.advice(for: d, hypervisor: facts.hypervisor) else { return nil }
            let family = d.kind == "net" ? "net" : "blk"
            let fix: AuditFix = switch (d.kind, facts.hypervisor) {
            case ("net", .kvm), ("net", .qemu), ("net", .qemuTcg):
                AuditFix(libvirt: "<interface ...><model type='virtio'/></interface>", host: "-device virtio-net-pci,netdev=…")
            case ("block", .kvm), ("block", .qemu), ("block", .qemuTcg):
                AuditFix(libvirt: "<disk ...><target dev='vdX' bus='virtio'/></disk>", host: "-device virtio-blk-pci,drive=…")
            default:
                AuditFix(host: advice.message)
            }
            return AuditFinding(check: "device", subject: d.name, severity: .warning, summary: advice.message,
                                evidence: ["driver chain: \(d.driverChain.joined(separator: " < "))", "PCI id: \(d.pciId ?? "none")"],
                                fix: fix, affects: ["\(family):\(d.name)"])
        }
    }
}
