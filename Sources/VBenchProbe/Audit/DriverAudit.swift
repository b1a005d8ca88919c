import VBenchCore
import VBenchSystem

/// Paravirtual kernel drivers expected for the hypervisor against those loaded or built in, and
/// the devices that need them.
struct DriverAudit {
    let facts: AuditFacts

    func findings() -> [AuditFinding] {
        ExpectedDriver.expected(on: facts.hypervisor).map(finding)
    }

    /// The devices that need `driver`, with the driver bound to each (nil: none bound), and
    /// where that was read.
    func devices(needing driver: ExpectedDriver) -> (devices: [(name: String, boundTo: String?)], evidence: [String]) {
        let fs = facts.fs
        switch driver.need {
        case .virtio(let id):
            let found = facts.virtioDevices.filter { $0.id == id }
            return (found.map { ($0.name, $0.driver) },
                    found.map { "/sys/bus/virtio/devices/\($0.name)/device: \(id) (driver \($0.driver ?? "none"))" })
        case .pci(let id):
            let found = facts.pciDevices.filter { $0.id == id }
            return (found.map { ($0.address, $0.driver) },
                    found.map { "/sys/bus/pci/devices/\($0.address): \(id) (driver \($0.driver ?? "none"))" })
        case .xenbus(let prefix):
            let found = fs.list("/sys/bus/xen/devices").filter { $0.hasPrefix(prefix) }
            return (found.map { ($0, fs.readLink("/sys/bus/xen/devices/\($0)/driver").map(lastComponent)) },
                    found.map { "/sys/bus/xen/devices/\($0)" })
        case .vmbus(let classId):
            let found = fs.list("/sys/bus/vmbus/devices").filter {
                fs.readString("/sys/bus/vmbus/devices/\($0)/class_id")?.lowercased().contains(classId) == true
            }
            return (found.map { ($0, fs.readLink("/sys/bus/vmbus/devices/\($0)/driver").map(lastComponent)) },
                    found.map { "/sys/bus/vmbus/devices/\($0)/class_id: {\(classId)}" })
        case .hypervisor, .sysfs:
            return ([], [])
        }
    }

    func finding(_ driver: ExpectedDriver) -> AuditFinding {
        let names = Set(([driver.module] + driver.driverNames).flatMap { [$0, $0.replacingDashes(), $0.replacingUnderscores()] })
        let (devices, deviceEvidence) = devices(needing: driver)
        // The first of the driver's names that the kernel has (hyperv_drm or hyperv_fb).
        let states = ([driver.module] + driver.driverNames).map { facts.moduleState($0) }
        let state = states.first { $0.state == .loaded || $0.state == .builtIn } ?? states[0]
        let bound = devices.filter { $0.boundTo.map(names.contains) == true }
        let unbound = devices.filter { $0.boundTo.map(names.contains) != true }
        var evidence = deviceEvidence + [state.evidence]
        if case .hypervisor = driver.need { evidence.append("needed by every \(facts.hypervisor.displayName) guest") }
        let subject = driver.module

        if case .sysfs(let folder) = driver.need, state.state != .loaded, state.state != .builtIn {
            // A bool option: no module list names it. Its folder says it runs; without the folder,
            // only a kernel that really runs on Xen (sys/hypervisor/type) proves it is missing.
            let type = facts.fs.readString("/sys/hypervisor/type")?.trimmingCharacters()
            if facts.fs.exists(folder) {
                return AuditFinding(check: "driver", subject: subject, severity: .ok,
                                    summary: "\(driver.module) runs (\(driver.purpose)): \(folder) is there", evidence: evidence + ["\(folder): present"])
            }
            if type == "xen" {
                return AuditFinding(check: "driver", subject: subject, severity: .warning,
                                    summary: "\(driver.module) (\(driver.purpose)) is not in this kernel: no \(folder) on a kernel running on Xen",
                                    evidence: evidence + ["\(folder): absent", "/sys/hypervisor/type: xen"], fix: fix(driver, state: state.state))
            }
            return AuditFinding(check: "driver", subject: subject, severity: .unknown,
                                summary: "whether \(driver.module) (\(driver.purpose)) is built in is unknown: it is a bool option no module list names, and \(folder) appears only on a kernel that runs on Xen, which /sys/hypervisor/type does not say of this one",
                                evidence: evidence + ["\(folder): absent", "/sys/hypervisor/type: \(type ?? "absent")"])
        }

        if !unbound.isEmpty {
            let list = unbound.map(\.name).joined(separator: ", ")
            let stateText = state.state?.rawValue ?? "not found"
            return AuditFinding(check: "driver", subject: subject, severity: .warning,
                                summary: "\(unbound.count) device\(unbound.count == 1 ? "" : "s") for \(driver.purpose) (\(list)) without \(driver.module): the driver is \(stateText)",
                                evidence: evidence, fix: fix(driver, state: state.state))
        }
        if !bound.isEmpty {
            return AuditFinding(check: "driver", subject: subject, severity: .ok,
                                summary: "\(driver.module) drives \(bound.map(\.name).joined(separator: ", ")) (\(driver.purpose))",
                                evidence: evidence)
        }
        if case .hypervisor = driver.need {
            switch state.state {
            case .loaded?, .builtIn?:
                return AuditFinding(check: "driver", subject: subject, severity: .ok,
                                    summary: "\(driver.module) is \(state.state?.rawValue ?? "") (\(driver.purpose))", evidence: evidence)
            case let s:
                return AuditFinding(check: "driver", subject: subject, severity: s == nil ? .unknown : .warning,
                                    summary: "\(driver.module) (\(driver.purpose)) is \(s?.rawValue ?? "not found, and the kernel's module lists are unreadable")",
                                    evidence: evidence, fix: s == nil ? nil : fix(driver, state: s))
            }
        }
        return AuditFinding(check: "driver", subject: subject, severity: .ok,
                            summary: "no device for \(driver.purpose); \(driver.module) is \(state.state?.rawValue ?? "not found")",
                            evidence: evidence)
    }

    func fix(_ driver: ExpectedDriver, state: AuditFacts.ModuleState?) -> AuditFix {
        let m = driver.module
        switch (facts.hypervisor, state) {
        case (.virtualbox, _) where m.hasPrefix("vbox"):
            return AuditFix(guest: VirtualBoxAdditions.installText(family: facts.family))
        case (_, .available?):
            return AuditFix(guest: "modprobe \(m); echo \(m) > /etc/modules-load.d/\(m).conf")
        default:
            let kernel = switch facts.family {
            case .debian: "apt install linux-image-amd64 (Debian) or linux-image-virtual (Ubuntu)"
            case .rhel: "dnf install kernel-modules"
            case .suse: "zypper install kernel-default"
            default: "install a distribution kernel"
            }
            return AuditFix(guest: "boot a kernel that has \(m) (CONFIG for \(driver.purpose)): \(kernel)")
        }
    }
}

/// VirtualBox's Guest Additions: not packaged by most distributions; built from the ISO.
enum VirtualBoxAdditions {
    static func installText(family: DistributionFamily) -> String {
        let headers = switch family {
        case .debian: "apt install build-essential dkms linux-headers-$(uname -r)"
        case .rhel: "dnf install gcc make perl elfutils-libelf-devel kernel-devel-$(uname -r)"
        case .suse: "zypper install gcc make kernel-default-devel"
        default: "install gcc, make and the kernel headers of $(uname -r)"
        }
        return "insert the Guest Additions ISO (Devices > Insert Guest Additions CD image), \(headers), then mount /dev/cdrom /mnt && sh /mnt/VBoxLinuxAdditions.run"
    }
}
