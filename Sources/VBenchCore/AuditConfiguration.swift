import FoundationEssentials

/// One warning of a guest audit that can change a measured number (it names what it `affects`):
/// the compact form a store keeps per configuration and a report prints beside a number.
public struct CostlyFinding: Codable, Sendable, Hashable, Comparable {
    /// The audit's check (`scheduler`, `clocksource`, `device`, `net-queues`).
    public var check: String
    /// What it is about (`vda`, `hpet`, `eth0`).
    public var subject: String
    /// Always `warning` (kept so the stored form reads like the audit's findings).
    public var severity: AuditSeverity
    /// One sentence a person reads.
    public var summary: String
    /// `all`, a family (`blk`) or `family:device` (`blk:vda`), as `AuditFinding.affects`.
    public var affects: [String]

    public init(check: String, subject: String, severity: AuditSeverity = .warning, summary: String, affects: [String]) {
        self.check = check
        self.subject = subject
        self.severity = severity
        self.summary = summary
        self.affects = affects
    }

    /// The costly form of `finding`: nil unless it is a warning that affects some number.
    public init?(_ finding: AuditFinding) {
        guard finding.severity == .warning, let affects = finding.affects, !affects.isEmpty else { return nil }
        self.init(check: finding.check, subject: finding.subject, severity: finding.severity, summary: finding.summary, affects: affects)
    }

    /// Whether it applies to a number of `family` (`blk`, `net`, `mem`) measured on `device`
    /// (its kernel name, `vda`, `eth0`): `GuestAudit.costly(forFamily:device:)`'s rule.
    public func applies(toFamily family: String, device: String?) -> Bool {
        affects.contains { a in a == "all" || a == family || (device.map { a == "\(family):\($0)" } ?? false) }
    }

    /// Check, subject, summary, then what it affects: the canonical order of a configuration.
    public static func < (a: CostlyFinding, b: CostlyFinding) -> Bool {
        (a.check, a.subject, a.summary, a.affects.joined(separator: ",")) < (b.check, b.subject, b.summary, b.affects.joined(separator: ","))
    }

    /// `scheduler vda`: what a report names it by.
    public var label: String { subject.isEmpty ? check : "\(check) \(subject)" }
}

/// The costly part of a run's guest audit: every warning that can change some number (the
/// union of what `GuestAudit.costly(forFamily:device:)` returns for any family and device),
/// in canonical order. Thousands of runs share a handful of these, so a store keeps each once
/// (table `configurations`, keyed by `digest`) and each run points at its own.
public struct AuditConfiguration: Sendable, Equatable {
    public var findings: [CostlyFinding]

    public init(findings: [CostlyFinding]) {
        self.findings = Array(Set(findings)).sorted()
    }

    /// The configuration of `audit`; an audit with no costly warning gives an empty one (a run
    /// that was audited and found clean, which a store tells apart from a run with no audit).
    public init(_ audit: GuestAudit) {
        self.init(findings: audit.findings.compactMap(CostlyFinding.init))
    }

    /// Reads the stored form (`json`).
    public init(json: String) throws {
        do {
            findings = try JSONDecoder().decode([CostlyFinding].self, from: Data(json.utf8))
        } catch {
            throw RecordError.malformed("a stored audit configuration does not decode (\(error)): \(json.prefix(200))")
        }
    }

    /// Compact JSON with sorted keys, findings in canonical order: equal configurations give
    /// equal text.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, arrays and an enum cannot fail.
        return (try? encoder.encode(findings)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    /// SHA-256 of `json`, in hex: the store's unique key for the content.
    public var digest: String { SHA256.hex(Array(json.utf8)) }

    /// The findings that apply to a number of `family` measured on `device`.
    public func costly(forFamily family: String, device: String?) -> [CostlyFinding] {
        findings.filter { $0.applies(toFamily: family, device: device) }
    }
}
