import FoundationEssentials

/// What `--group-by` splits a fleet's runs by: the collector that received them, the
/// hypervisor, the guest kernel or the device class.
public enum RunPartition: String, Sendable, CaseIterable, Codable {
    case host, hypervisor, kernel, `class`

    /// A record's value (a record read from a store carries its collector as the in-memory
    /// label `collector.host`).
    public func value(_ r: RunRecord) -> String {
        switch self {
        case .host: r.tags[Comparator.collectorHostTag] ?? "unknown"
        case .hypervisor: r.environment.hypervisor.vendor.rawValue
        case .kernel: r.environment.kernelRelease
        case .class: r.device.deviceClass.rawValue
        }
    }

    /// The same for what compare reads of a run.
    public func value(_ r: CompareRun) -> String {
        switch self {
        case .host: r.collectorHost ?? "unknown"
        case .hypervisor: r.hypervisor
        case .kernel: r.kernel
        case .class: r.deviceClass
        }
    }
}

/// A report's row group: one device (its distinguishing driver, or `native`) and workload.
public struct ReportGroupKey: Hashable, Sendable {
    public var family: String, workload: String, device: String, role: RunRole
    public init(family: String, workload: String, device: String, role: RunRole) {
        self.family = family
        self.workload = workload
        self.device = device
        self.role = role
    }
}

/// Everything `vbench report` computes from, per group of runs: the same whether it was read
/// from a store through grouped SQL (`RunStore.reportFacts`: only the answer's size is held,
/// never the runs) or gathered from records in memory (`init(records:…)`, for `--from`).
///
/// Samples follow the report's rule: each run's mean when a group has two or more runs of a
/// metric, else the one run's repetitions.
public struct ReportFacts: Sendable {
    /// Where a group was first seen in the selection's order (newest run first in a store,
    /// file order in memory): orders workloads and groups.
    public struct Position: Comparable, Sendable, Hashable {
        public var primary: Double, runId: String, workload: Int
        public init(primary: Double, runId: String, workload: Int) {
            self.primary = primary
            self.runId = runId
            self.workload = workload
        }
        public static func < (a: Position, b: Position) -> Bool { (a.primary, a.runId, a.workload) < (b.primary, b.runId, b.workload) }
    }

    /// One metric of one group.
    public struct MetricFacts: Sendable, Equatable {
        /// Runs that carried the metric.
        public var runs: Int
        /// The moments of those runs' means.
        public var runMeans: SampleMoments
        /// The moments of the repetitions of the one run, when `runs` is 1.
        public var repetitions: SampleMoments?

        public init(runs: Int, runMeans: SampleMoments, repetitions: SampleMoments?) {
            self.runs = runs
            self.runMeans = runMeans
            self.repetitions = runs == 1 ? repetitions : nil
        }

        /// The samples a row is computed from and what they are (`records`, `repetitions`).
        public var samples: (moments: SampleMoments, unit: String) {
            if runs >= 2 { return (runMeans, "records") }
            return (repetitions ?? runMeans, "repetitions")
        }

        public mutating func merge(_ other: MetricFacts) {
            let single = runs == 0 ? other.repetitions : repetitions
            runs += other.runs
            runMeans.merge(other.runMeans)
            repetitions = runs == 1 ? single : nil
        }
    }

    public struct Group: Sendable {
        public var key: ReportGroupKey
        /// The `--group-by` value of its runs ("" without one).
        public var partition: String
        /// Where it was first seen, and that run's device class, hypervisor and distinguishing driver.
        public var first: Position
        public var deviceClass: DeviceClass
        public var hypervisor: String
        public var driver: String
        public var kernels: Set<String>
        public var metrics: [String: MetricFacts]
        /// Every run's merged latency histogram of the workload, merged (when asked for).
        public var latency: LatencyHistogram?
        /// The costly configurations its runs were measured under (the guest audit's warnings
        /// that apply to the group's family and each run's device), with how many runs carried
        /// each. Runs without an audit carry none.
        public var costly: [CostlyFinding: Int]

        /// The group's runs: those of its metric carried by the most runs.
        public var runCount: Int { metrics.values.map(\.runs).max() ?? 0 }

        public init(key: ReportGroupKey, partition: String, first: Position, deviceClass: DeviceClass, hypervisor: String, driver: String,
                    kernels: Set<String> = [], metrics: [String: MetricFacts] = [:], latency: LatencyHistogram? = nil,
                    costly: [CostlyFinding: Int] = [:]) {
            self.key = key
            self.partition = partition
            self.first = first
            self.deviceClass = deviceClass
            self.hypervisor = hypervisor
            self.driver = driver
            self.kernels = kernels
            self.metrics = metrics
            self.latency = latency
            self.costly = costly
        }

        public mutating func merge(_ other: Group) {
            if other.first < first {
                first = other.first
                deviceClass = other.deviceClass
                hypervisor = other.hypervisor
                driver = other.driver
            }
            kernels.formUnion(other.kernels)
            costly.merge(other.costly, uniquingKeysWith: +)
            for (m, f) in other.metrics { metrics[m, default: MetricFacts(runs: 0, runMeans: SampleMoments([]), repetitions: nil)].merge(f) }
            if let h = other.latency {
                if latency == nil { latency = h } else { latency!.absorb(h) }
            }
        }
    }

    /// An emulated guest device that was measured (the probe's advice names its replacement).
    public struct EmulatedDevice: Sendable {
        public var partition: String
        public var device: DeviceInfo
        public var hypervisor: Hypervisor
        public var first: Position
        public init(partition: String, device: DeviceInfo, hypervisor: Hypervisor, first: Position) {
            self.partition = partition
            self.device = device
            self.hypervisor = hypervisor
            self.first = first
        }
    }

    public var groups: [Group] = []
    /// Runs selected, per partition value and role.
    public var runs: [String: [RunRole: Int]] = [:]
    public var emulated: [EmulatedDevice] = []

    public init(groups: [Group] = [], runs: [String: [RunRole: Int]] = [:], emulated: [EmulatedDevice] = []) {
        self.groups = groups
        self.runs = runs
        self.emulated = emulated
    }

    /// The facts of `records` in memory: `metrics` names each family's metric keys, `partition`
    /// each record's `--group-by` value.
    public init(records: [RunRecord], metrics: (String) -> [String], partition: ((RunRecord) -> String)? = nil, latency: Bool = true) {
        struct Gathering {
            var group: Group
            var runMeans: [String: [Double]] = [:]
            var firstReps: [String: [Double]] = [:]
            var lastRun: UUID?
        }
        var gathered: [String: [ReportGroupKey: Gathering]] = [:]
        for (i, r) in records.enumerated() {
            let p = partition?(r) ?? ""
            runs[p, default: [:]][r.role, default: 0] += 1
            if r.role == .guest && r.device.deviceClass == .emulated {
                emulated.append(EmulatedDevice(partition: p, device: r.device, hypervisor: r.environment.hypervisor.vendor,
                                               first: Position(primary: Double(i), runId: "", workload: 0)))
            }
            for (wi, w) in r.workloads.enumerated() {
                // A workload with none of the report's metrics is no group (a store reads groups
                // from its summary rows of those metrics).
                let values = metrics(r.family).map { ($0, w.values(of: $0)) }.filter { !$0.1.isEmpty }
                guard !values.isEmpty else { continue }
                let key = ReportGroupKey(family: r.family, workload: w.name, device: r.role == .native ? "native" : r.device.distinguishingDriver,
                                         role: r.role)
                var g = gathered[p]?[key] ?? Gathering(group: Group(
                    key: key, partition: p, first: Position(primary: Double(i), runId: "", workload: wi), deviceClass: r.device.deviceClass,
                    hypervisor: r.environment.hypervisor.vendor.rawValue, driver: r.device.distinguishingDriver))
                // A run's first workload of the name speaks for it.
                guard g.lastRun != r.runId else { continue }
                g.lastRun = r.runId
                g.group.kernels.insert(r.environment.kernelRelease)
                for finding in r.environment.audit.map(AuditConfiguration.init)?.costly(forFamily: r.family, device: r.device.name) ?? [] {
                    g.group.costly[finding, default: 0] += 1
                }
                for (m, v) in values {
                    g.runMeans[m, default: []].append(Significance.mean(v))
                    if g.firstReps[m] == nil { g.firstReps[m] = v }
                }
                if latency, let h = w.latencyNs?.histogram {
                    if g.group.latency == nil { g.group.latency = h } else { g.group.latency!.absorb(h) }
                }
                gathered[p, default: [:]][key] = g
            }
        }
        for (_, byKey) in gathered {
            for (_, var g) in byKey {
                for (m, means) in g.runMeans {
                    g.group.metrics[m] = MetricFacts(runs: means.count, runMeans: SampleMoments(means),
                                                     repetitions: means.count == 1 ? g.firstReps[m].map(SampleMoments.init) : nil)
                }
                groups.append(g.group)
            }
        }
        groups.sort { $0.first < $1.first }
    }

    /// One report's input per `--group-by` value, sorted by value; without a partition, one.
    /// Native runs are the baseline of every value (of their own host's when partitioned by
    /// host), so ratios stay computable; with no guest runs at all, native runs are split by
    /// their own values.
    public func inputs(by key: RunPartition?) -> [(value: String?, input: ReportInput)] {
        guard let key else { return [(nil, input(guests: nil, natives: nil, nativesLast: false))] }
        let guestValues = Set(runs.filter { ($0.value[.guest] ?? 0) > 0 }.map(\.key))
        if guestValues.isEmpty {
            return runs.keys.sorted().map { v in (v, input(guests: v, natives: v, nativesLast: false)) }
        }
        return guestValues.sorted().map { v in (v, input(guests: v, natives: key == .host ? v : nil, nativesLast: true)) }
    }

    /// The guest groups of partition `guests` (all when nil) with the native groups of
    /// partition `natives` (all when nil), merged per key across partitions; with
    /// `nativesLast` the baseline's groups follow the guests' (as a partition's runs are listed).
    func input(guests: String?, natives: String?, nativesLast: Bool) -> ReportInput {
        var merged: [ReportGroupKey: Group] = [:]
        for g in groups {
            let wanted = g.key.role == .native ? natives : guests
            guard wanted == nil || wanted == g.partition else { continue }
            if merged[g.key] == nil { merged[g.key] = g } else { merged[g.key]!.merge(g) }
        }
        var count = 0
        for (p, byRole) in runs {
            for (role, n) in byRole {
                let wanted = role == .native ? natives : guests
                if wanted == nil || wanted == p { count += n }
            }
        }
        let devices = emulated.filter { guests == nil || $0.partition == guests }.sorted { $0.first < $1.first }
        let ordered = merged.values.sorted { a, b in
            let (na, nb) = (nativesLast && a.key.role == .native, nativesLast && b.key.role == .native)
            return na != nb ? nb : a.first < b.first
        }
        return ReportInput(groups: ordered, runs: count,
                           emulated: devices.map { ($0.device, $0.hypervisor) })
    }
}

/// One report's groups, in the order first seen, with the number of runs behind it and the
/// emulated guest devices measured (newest first).
public struct ReportInput: Sendable {
    public var groups: [ReportFacts.Group]
    public var runs: Int
    public var emulated: [(device: DeviceInfo, hypervisor: Hypervisor)]
    public init(groups: [ReportFacts.Group], runs: Int, emulated: [(device: DeviceInfo, hypervisor: Hypervisor)]) {
        self.groups = groups
        self.runs = runs
        self.emulated = emulated
    }
}
