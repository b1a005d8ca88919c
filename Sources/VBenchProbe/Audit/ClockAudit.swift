import VBenchCore
import VBenchSystem

/// How much of the clocksource's cost the audit measures.
public enum ClockCostMeasurement: Sendable, Equatable {
    /// Nothing (recorded trees; callers that only want the configuration).
    case none
    /// `clock_gettime` under the clocksource in use.
    case current
    /// Under each available clocksource in turn, switching and switching back (needs root).
    case every
}

/// The clocksource: the one in use against those available, whether it was chosen on the
/// kernel command line or by the kernel's ratings, and what a clock read costs under each.
struct ClockAudit {
    let facts: AuditFacts
    let measurement: ClockCostMeasurement

    static let folder = "/sys/devices/system/clocksource/clocksource0"

    /// Clocksources read in the vDSO without a system call or a trap to the hypervisor.
    static let fast: Set<String> = ["tsc", "kvm-clock", "xen", "hyperv_clocksource_tsc_page", "arch_sys_counter", "timebase", "tod"]
    /// Clocksources every read of which is a system call, and usually a trapped device access.
    static let slow: Set<String> = ["hpet", "acpi_pm", "jiffies", "refined-jiffies", "pit", "hyperv_clocksource_msr"]

    func findings() -> [AuditFinding] {
        let fs = facts.fs
        guard let current = fs.readString("\(Self.folder)/current_clocksource")?.trimmingCharacters(), !current.isEmpty else {
            return [AuditFinding(check: "clocksource", subject: "unknown", severity: .unknown,
                                 summary: "the clocksource is unknown: \(Self.folder)/current_clocksource is unreadable",
                                 evidence: ["\(Self.folder)/current_clocksource: unreadable"])]
        }
        let available = (fs.readString("\(Self.folder)/available_clocksource") ?? "").split(separator: " ").map(String.init)
        var evidence = ["\(Self.folder)/current_clocksource: \(current)", "\(Self.folder)/available_clocksource: \(available.joined(separator: " "))"]
        // A recording keeps only the clock options of the command line.
        let cmdline = fs.readLargeString("/proc/cmdline", limit: 1 << 16) { text in
            text.split(whereSeparator: { $0 == " " || $0 == "\n" }).filter { $0.hasPrefix("clocksource=") || $0.hasPrefix("tsc=") }
                .joined(separator: " ") + "\n"
        } ?? ""
        let requested = cmdline.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("clocksource=") }.map { String($0.dropFirst(12)) }
        let invariant = facts.cpuFlags.contains("constant_tsc") && facts.cpuFlags.contains("nonstop_tsc")
        if let requested { evidence.append("/proc/cmdline: clocksource=\(requested)") }
        if !facts.cpuFlags.isEmpty { evidence.append("/proc/cpuinfo flags: constant_tsc \(facts.cpuFlags.contains("constant_tsc") ? "yes" : "no"), nonstop_tsc \(facts.cpuFlags.contains("nonstop_tsc") ? "yes" : "no")") }

        // Why this one.
        let why: String
        if let requested, requested == current {
            why = "set on the kernel command line (clocksource=\(requested))"
        } else if current == "tsc" && available.contains("kvm-clock") && invariant {
            why = "chosen by the kernel: the TSC is invariant (constant_tsc, nonstop_tsc), so kvm-clock lowers its rating to 299 below tsc's 300 (arch/x86/kernel/kvmclock.c); both are read in the vDSO"
        } else if current == "kvm-clock" && available.contains("tsc") && !invariant {
            why = "chosen by the kernel: the TSC is not invariant here, so kvm-clock (rating 400) outranks tsc"
        } else if Self.slow.contains(current) && available.contains(where: Self.fast.contains) {
            why = "a fallback: the kernel marked a faster clocksource unstable, or one was selected by hand"
        } else {
            why = "the kernel's choice among \(available.joined(separator: ", "))"
        }

        var figures: [String: Double] = [:]
        var notes: [String] = []
        switch measurement {
        case .none:
            break
        case .current:
            figures["clock_gettime_ns.\(current)"] = ClockSource.nanosecondsPerRead()
            let others = available.filter { $0 != current }
            if !others.isEmpty { notes.append("\(others.joined(separator: ", ")) not measured: `vbench probe --clock-cost` (root) switches to each") }
        case .every:
            let (measured, failures) = ClockSource.measureEach(available.isEmpty ? [current] : available)
            for (name, ns) in measured { figures["clock_gettime_ns.\(name)"] = ns }
            for (name, why) in failures.sorted(by: { $0.key < $1.key }) { notes.append("\(name) not measured: \(why)") }
        }
        // The measured costs stay out of the summary (they are in `figures`, and the probe's table
        // prints them): a summary says what the configuration is, the same for every run of it,
        // so a store keeps each configuration once.
        let noteText = notes.isEmpty ? "" : "; " + notes.joined(separator: "; ")

        if Self.slow.contains(current) {
            let better = available.first(where: Self.fast.contains)
            return [AuditFinding(check: "clocksource", subject: current, severity: .warning,
                                 summary: "\(current): every clock read is a system call and a trapped device access, which slows every timed operation; \(why)\(noteText)",
                                 evidence: evidence,
                                 fix: AuditFix(guest: better.map { "echo \($0) > \(Self.folder)/current_clocksource; to keep it, add clocksource=\($0) to the kernel command line" }
                                                 ?? "boot with a paravirtual clock: kvm-clock (CONFIG_KVM_GUEST), xen or hyperv_clocksource_tsc_page",
                                               libvirt: better == nil ? "<clock offset='utc'><timer name='kvmclock' present='yes'/></clock>" : nil,
                                               host: better == nil ? "-cpu ...,+kvmclock (and no -no-kvm-clock options)" : nil),
                                 affects: ["all"], figures: figures.isEmpty ? nil : figures)]
        }
        let severity: AuditSeverity = Self.fast.contains(current) ? .ok : .info
        return [AuditFinding(check: "clocksource", subject: current, severity: severity,
                             summary: "\(current), \(why)\(noteText)",
                             evidence: evidence, figures: figures.isEmpty ? nil : figures)]
    }
}
