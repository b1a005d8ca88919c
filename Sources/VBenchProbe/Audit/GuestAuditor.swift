import VBenchCore
import VBenchSystem

/// Runs every audit check through the probe's root (a live system or a recorded tree). A check
/// that cannot be made says `unknown` and why; the audit never fails.
public struct GuestAuditor: Sendable {
    public let fs: RootedFileSystem
    public let hypervisor: Hypervisor
    public let onlineCpus: Int
    public let clockCost: ClockCostMeasurement

    public init(fs: RootedFileSystem, hypervisor: Hypervisor, onlineCpus: Int, clockCost: ClockCostMeasurement) {
        self.fs = fs
        self.hypervisor = hypervisor
        self.onlineCpus = onlineCpus
        self.clockCost = clockCost
    }

    /// The audit of a guest (or of a bare host, where only the platform checks apply).
    public func audit(disks: [DeviceInfo], nics: [DeviceInfo]) -> GuestAudit {
        let facts = AuditFacts(fs: fs, hypervisor: hypervisor, onlineCpus: onlineCpus)
        let platform = PlatformAudit(facts: facts, liveChannels: fs.isLive)
        var findings: [AuditFinding] = []
        findings += platform.emulatedDevices(disks: disks, nics: nics)
        findings += DriverAudit(facts: facts).findings()
        if hypervisor != .none {
            let display = DisplayAudit(facts: facts)
            let adapters = display.adapters()
            let watched = Set(GuestAgent.all.flatMap { Array($0.packages.values) + [$0.name] })
            findings += AgentAudit(facts: facts, packages: PackageDatabase(fs: fs, watched: watched))
                .findings(displayDrivers: adapters.compactMap { $0.driver?.replacingDashes() })
            findings += display.findings(adapters)
        }
        findings += ClockAudit(facts: facts, measurement: clockCost).findings()
        findings += [platform.balloon(), platform.rng()].compactMap { $0 }
        findings += platform.schedulers(disks: disks)
        findings += platform.queues(nics: nics)
        findings.append(platform.transparentHugePages())
        findings.append(platform.nested())
        return GuestAudit(distribution: facts.distribution, family: facts.family, findings: findings)
    }
}
