/// What a guest is missing or runs in a costly way: paravirtual drivers, guest agents and their
/// channels, display, clocksource, balloon, RNG, I/O schedulers, NIC queues, huge pages and
/// nested virtualization. `vbench probe` prints it; every RunRecord's environment carries it, so
/// a report can say under which configuration a number was measured.
public struct GuestAudit: Codable, Sendable, Equatable {
    /// `ID` of /etc/os-release (`debian`, `ubuntu`, `fedora`), when readable.
    public var distribution: String?
    /// The family the guest-side fixes are written for.
    public var family: DistributionFamily
    public var findings: [AuditFinding]

    public init(distribution: String?, family: DistributionFamily, findings: [AuditFinding]) {
        self.distribution = distribution
        self.family = family
        self.findings = findings
    }

    /// Findings worth a warning beside a number of `family` (`blk`, `net`, `mem`) measured on
    /// `device`: costly configurations that apply to every number or to that device.
    public func costly(forFamily family: String, device: String?) -> [AuditFinding] {
        findings.filter { CostlyFinding($0)?.applies(toFamily: family, device: device) == true }
    }
}

extension AuditFinding {
    /// What was measured for it, for people (`clock_gettime costs kvm-clock 35.3 ns, tsc 30.0
    /// ns`), or nil. Measured figures live in `figures`, never in the summary: the summary says
    /// what the configuration is, the same for every run of it.
    public var measuredText: String? {
        let costs = (figures ?? [:]).filter { $0.key.hasPrefix("clock_gettime_ns.") }.sorted { $0.key < $1.key }
        guard !costs.isEmpty else { return nil }
        return "clock_gettime costs " + costs.map { c in
            let ns = c.value >= 100 ? String(Int(c.value.rounded())) : String(Double(Int((c.value * 10).rounded())) / 10)
            return "\(c.key.dropFirst("clock_gettime_ns.".count)) \(ns) ns"
        }.joined(separator: ", ")
    }
}

/// A distribution family: which package manager the fix names.
public enum DistributionFamily: String, Codable, Sendable, CaseIterable {
    case debian, rhel, suse, arch, alpine, unknown

    /// The family of an os-release `ID` and `ID_LIKE` (`ubuntu` with `debian`, `rocky` with
    /// `rhel fedora`).
    public static func of(id: String?, idLike: String?) -> DistributionFamily {
        let words = ([id] + (idLike ?? "").split(separator: " ").map(String.init)).compactMap { $0?.lowercased() }
        for w in words {
            switch w {
            case "debian", "ubuntu", "raspbian", "linuxmint": return .debian
            case "rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn": return .rhel
            case "suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed": return .suse
            case "arch", "manjaro": return .arch
            case "alpine": return .alpine
            default: continue
            }
        }
        return .unknown
    }

    /// The command that installs `packages` (named per family by the caller).
    public func installCommand(_ packages: [String]) -> String {
        let list = packages.joined(separator: " ")
        return switch self {
        case .debian: "apt install \(list)"
        case .rhel: "dnf install \(list)"
        case .suse: "zypper install \(list)"
        case .arch: "pacman -S \(list)"
        case .alpine: "apk add \(list)"
        case .unknown: "install \(list) with the distribution's package manager"
        }
    }
}

/// How bad a finding is.
public enum AuditSeverity: String, Codable, Sendable, CaseIterable, Comparable {
    /// As it should be.
    case ok
    /// Worth knowing; no action needed for benchmarking.
    case info
    /// Missing or set up in a way that costs performance or manageability: the fix is advised.
    case warning
    /// The check could not be made; the summary says why.
    case unknown

    private var rank: Int {
        switch self { case .ok: 0; case .unknown: 1; case .info: 2; case .warning: 3 }
    }

    public static func < (a: AuditSeverity, b: AuditSeverity) -> Bool { a.rank < b.rank }
}

/// One check's result.
public struct AuditFinding: Codable, Sendable, Equatable {
    /// The check: `driver`, `agent`, `channel`, `display`, `clocksource`, `balloon`, `rng`,
    /// `scheduler`, `net-queues`, `thp`, `nested`, `device`.
    public var check: String
    /// What it is about: a driver, agent, device or setting name (`virtio_rng`, `vda`, `tsc`).
    public var subject: String
    public var severity: AuditSeverity
    /// One sentence a person reads.
    public var summary: String
    /// What was read, as `path: value` (or `path: absent`).
    public var evidence: [String]
    /// What would fix it; nil when nothing needs fixing.
    public var fix: AuditFix?
    /// Which numbers it can change: `all`, a family (`blk`, `net`, `mem`) or `family:device`
    /// (`blk:vda`). Nil when it changes no measured number.
    public var affects: [String]?
    /// Measured figures behind the finding, e.g. `clock_gettime_ns.tsc`.
    public var figures: [String: Double]?

    public init(check: String, subject: String, severity: AuditSeverity, summary: String, evidence: [String],
                fix: AuditFix? = nil, affects: [String]? = nil, figures: [String: Double]? = nil) {
        self.check = check
        self.subject = subject
        self.severity = severity
        self.summary = summary
        self.evidence = evidence
        self.fix = fix
        self.affects = affects
        self.figures = figures
    }
}

extension AuditFinding {
    enum CodingKeys: String, CodingKey { case check, subject, severity, summary, evidence, fix, affects, figures }

    /// An empty summary or evidence list is left out (records keep findings short).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(check, forKey: .check)
        try c.encode(subject, forKey: .subject)
        try c.encode(severity, forKey: .severity)
        if !summary.isEmpty { try c.encode(summary, forKey: .summary) }
        if !evidence.isEmpty { try c.encode(evidence, forKey: .evidence) }
        try c.encodeIfPresent(fix, forKey: .fix)
        try c.encodeIfPresent(affects, forKey: .affects)
        try c.encodeIfPresent(figures, forKey: .figures)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        check = try c.decode(String.self, forKey: .check)
        subject = try c.decode(String.self, forKey: .subject)
        severity = try c.decode(AuditSeverity.self, forKey: .severity)
        summary = try c.decodeIfPresent(String.self, forKey: .summary) ?? ""
        evidence = try c.decodeIfPresent([String].self, forKey: .evidence) ?? []
        fix = try c.decodeIfPresent(AuditFix.self, forKey: .fix)
        affects = try c.decodeIfPresent([String].self, forKey: .affects)
        figures = try c.decodeIfPresent([String: Double].self, forKey: .figures)
    }
}

/// A fix, on the side that can make it.
public struct AuditFix: Codable, Sendable, Equatable {
    /// Inside the guest, for its distribution family (a command or a file to write).
    public var guest: String?
    /// The libvirt domain XML element.
    public var libvirt: String?
    /// The QEMU command-line option (or the hypervisor's setting, for other products).
    public var host: String?

    public init(guest: String? = nil, libvirt: String? = nil, host: String? = nil) {
        self.guest = guest
        self.libvirt = libvirt
        self.host = host
    }
}
