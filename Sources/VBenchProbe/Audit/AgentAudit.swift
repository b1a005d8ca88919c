import VBenchCore
import VBenchSystem

/// A userland guest agent: the package that holds it, the processes it runs, the files it
/// installs, and the channel it talks to the host through.
struct GuestAgent: Sendable {
    var name: String
    /// Package names by family (the same name where the map has no entry).
    var packages: [DistributionFamily: String]
    var processes: [String]
    var files: [String]
    var hypervisors: Set<Hypervisor>
    /// The virtio-serial port name it needs, if it talks over one.
    var port: String?
    var service: String

    static let qemuGuestAgent = GuestAgent(
        name: "qemu-guest-agent", packages: [:], processes: ["qemu-ga"], files: ["/usr/bin/qemu-ga", "/usr/sbin/qemu-ga"],
        hypervisors: [.kvm, .qemu, .qemuTcg], port: "org.qemu.guest_agent.0", service: "qemu-guest-agent")
    static let spiceVdagent = GuestAgent(
        name: "spice-vdagent", packages: [:], processes: ["spice-vdagentd", "spice-vdagent"],
        files: ["/usr/sbin/spice-vdagentd", "/usr/bin/spice-vdagent"], hypervisors: [], port: "com.redhat.spice.0",
        service: "spice-vdagentd")
    static let openVMTools = GuestAgent(
        name: "open-vm-tools", packages: [:], processes: ["vmtoolsd"], files: ["/usr/bin/vmtoolsd"],
        hypervisors: [.vmware], port: nil, service: "open-vm-tools")
    static let virtualBoxAdditions = GuestAgent(
        name: "VirtualBox Guest Additions", packages: [.debian: "virtualbox-guest-utils"], processes: ["VBoxService", "VBoxClient"],
        files: ["/usr/sbin/VBoxService", "/opt/VBoxGuestAdditions"], hypervisors: [.virtualbox], port: nil, service: "vboxadd-service")
    static let hypervDaemons = GuestAgent(
        name: "hyperv-daemons", packages: [.debian: "hyperv-daemons", .rhel: "hyperv-daemons", .suse: "hyper-v"],
        processes: ["hv_kvp_daemon", "hv_vss_daemon", "hypervkvpd", "hypervvssd"],
        files: ["/usr/sbin/hv_kvp_daemon", "/usr/sbin/hypervkvpd"], hypervisors: [.hyperV], port: nil, service: "hv-kvp-daemon")
    static let xeGuestUtilities = GuestAgent(
        name: "xe-guest-utilities", packages: [:], processes: ["xe-daemon"], files: ["/usr/sbin/xe-daemon"],
        hypervisors: [.xen], port: nil, service: "xe-linux-distribution")

    static let all = [qemuGuestAgent, spiceVdagent, openVMTools, virtualBoxAdditions, hypervDaemons, xeGuestUtilities]

    func package(for family: DistributionFamily) -> String { packages[family] ?? name }
}

/// Userland guest agents (installed, running) and their channels (virtio-serial ports, VMCI).
struct AgentAudit {
    let facts: AuditFacts
    let packages: PackageDatabase

    /// virtio-serial port names (`/sys/class/virtio-ports/*/name`).
    var portNames: [(port: String, name: String)] {
        facts.fs.list("/sys/class/virtio-ports").compactMap { port in
            facts.fs.readString("/sys/class/virtio-ports/\(port)/name").map { (port, $0.trimmingCharacters()) }
        }
    }

    func findings(displayDrivers: [String]) -> [AuditFinding] {
        let ports = portNames
        var out: [AuditFinding] = []
        var wanted = GuestAgent.all.filter { $0.hypervisors.contains(facts.hypervisor) }
        // SPICE's agent matters where there is a SPICE channel or a QXL display.
        if ports.contains(where: { $0.name == "com.redhat.spice.0" }) || displayDrivers.contains("qxl") {
            wanted.append(.spiceVdagent)
        }
        for agent in wanted { out.append(finding(agent, ports: ports)) }
        if facts.hypervisor == .vmware { out.append(vmciChannel()) }
        if wanted.isEmpty {
            let running = facts.processes.map { $0.intersection(GuestAgent.all.flatMap(\.processes)) }
            out.append(AuditFinding(check: "agent", subject: "none", severity: .info,
                                    summary: "no guest agent \(running?.isEmpty == false ? "is expected" : "runs, and none is expected") on \(facts.hypervisor.displayName)"
                                        + (facts.hypervisor == .firecracker ? " (it has no agent channel; the host drives the guest through its API and vsock)" : ""),
                                    evidence: ["hypervisor: \(facts.hypervisor.rawValue)",
                                               running.map { $0.isEmpty ? "/proc/*/comm: no \(GuestAgent.all.flatMap(\.processes).joined(separator: ", "))" : "/proc/*/comm: \($0.sorted().joined(separator: ", "))" } ?? "/proc: no processes listed"]))
        }
        // Agents that run although nothing asks for them (e.g. qemu-ga with no port).
        for agent in GuestAgent.all where !wanted.contains(where: { $0.name == agent.name }) {
            if let running = facts.processes?.intersection(agent.processes), !running.isEmpty {
                out.append(AuditFinding(check: "agent", subject: agent.name, severity: .info,
                                        summary: "\(agent.name) runs (\(running.sorted().joined(separator: ", "))) but this is not a \(agent.hypervisors.map(\.displayName).sorted().joined(separator: "/")) guest",
                                        evidence: running.sorted().map { "/proc/*/comm: \($0)" }))
            }
        }
        return out
    }

    func finding(_ agent: GuestAgent, ports: [(port: String, name: String)]) -> AuditFinding {
        let package = agent.package(for: facts.family)
        var evidence: [String] = []
        let installed: Bool?
        switch packages.isInstalled(package) {
        case .installed(let line):
            installed = true
            evidence.append("\(packages.path): \(package) \(line)")
        case .notInstalled:
            installed = agent.files.contains(where: facts.fs.exists)
            evidence.append("\(packages.path): \(package) not installed")
        case .unknown(let why):
            let file = agent.files.first(where: facts.fs.exists)
            installed = file != nil
            evidence.append("package database: \(why); judged by \(file ?? agent.files.joined(separator: " or ")) \(file == nil ? "absent" : "present")")
        }
        let running: Set<String>? = facts.processes.map { $0.intersection(agent.processes) }
        if let running { evidence.append(running.isEmpty ? "/proc/*/comm: no \(agent.processes.joined(separator: " or "))" : "/proc/*/comm: \(running.sorted().joined(separator: ", "))") }
        else { evidence.append("/proc: no processes listed") }
        let port = agent.port.flatMap { wanted in ports.first { $0.name == wanted } }
        if let wanted = agent.port {
            evidence.append(port.map { "/sys/class/virtio-ports/\($0.port)/name: \(wanted)" } ?? "/sys/class/virtio-ports: no port named \(wanted)")
        }
        let install = facts.family.installCommand([package])
        let channelFix = agent.port.map { self.portFix(name: $0) }
        let isRunning = running.map { !$0.isEmpty }

        if installed == false, packages.installed == nil, running == nil {
            return AuditFinding(check: "agent", subject: agent.name, severity: .unknown,
                                summary: "whether \(agent.name) is installed is unknown: no package database and no process list",
                                evidence: evidence)
        }
        if installed == false {
            let guest = agent.name == GuestAgent.virtualBoxAdditions.name ? VirtualBoxAdditions.installText(family: facts.family)
                : "\(install); systemctl enable --now \(agent.service)"
            return AuditFinding(check: "agent", subject: agent.name, severity: .warning,
                                summary: "\(agent.name) is not installed" + (agent.port != nil && port == nil ? ", and the host gives it no channel" : ""),
                                evidence: evidence,
                                fix: AuditFix(guest: guest, libvirt: port == nil ? channelFix?.libvirt : nil, host: port == nil ? channelFix?.host : nil))
        }
        if agent.port != nil, port == nil {
            return AuditFinding(check: "channel", subject: agent.port ?? agent.name, severity: .warning,
                                summary: "\(agent.name) is installed but the host gives it no virtio-serial port \(agent.port ?? "")",
                                evidence: evidence, fix: AuditFix(libvirt: channelFix?.libvirt, host: channelFix?.host))
        }
        if isRunning == false {
            return AuditFinding(check: "agent", subject: agent.name, severity: .warning,
                                summary: "\(agent.name) is installed but not running",
                                evidence: evidence, fix: AuditFix(guest: "systemctl enable --now \(agent.service)"))
        }
        return AuditFinding(check: "agent", subject: agent.name, severity: isRunning == nil ? .unknown : .ok,
                            summary: isRunning == nil ? "\(agent.name) is installed; whether it runs is unknown (no /proc)" : "\(agent.name) is installed and running",
                            evidence: evidence)
    }

    func portFix(name: String) -> (libvirt: String, host: String) {
        let type = name == "com.redhat.spice.0" ? "spicevmc" : "unix"
        let libvirt = type == "spicevmc"
            ? "<channel type='spicevmc'><target type='virtio' name='\(name)'/></channel>"
            : "<channel type='unix'><target type='virtio' name='\(name)'/></channel>"
        let host = type == "spicevmc"
            ? "-device virtio-serial-pci -chardev spicevmc,id=vdagent,name=vdagent -device virtserialport,chardev=vdagent,name=\(name)"
            : "-device virtio-serial-pci -chardev socket,id=qga0,path=/run/qga.sock,server=on,wait=off -device virtserialport,chardev=qga0,name=\(name)"
        return (libvirt, host)
    }

    func vmciChannel() -> AuditFinding {
        let dev = facts.fs.exists("/dev/vmci")
        let misc = facts.fs.exists("/sys/class/misc/vmci")
        let ok = dev || misc
        return AuditFinding(check: "channel", subject: "vmci", severity: ok ? .ok : .warning,
                            summary: ok ? "the VMCI channel open-vm-tools uses is present" : "no VMCI device: open-vm-tools cannot reach the host",
                            evidence: ["/dev/vmci: \(dev ? "present" : "absent")", "/sys/class/misc/vmci: \(misc ? "present" : "absent")"],
                            fix: ok ? nil : AuditFix(guest: "modprobe vmw_vmci", host: "VM settings: keep the VMCI device (vmci0.present = \"TRUE\" in the .vmx)"))
    }
}
