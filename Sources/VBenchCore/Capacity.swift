/// What each guest of a profile needs: `blk.randread.iops=5000` (family, a word of the
/// workload name, metric alias, value).
public struct CapacityNeed: Codable, Sendable, Equatable {
    public var family: String
    /// Matches workloads whose name contains it (`randread`, `stream`, `triad`, `rr`).
    public var workload: String
    public var metric: String
    public var value: Double
    public var text: String

    /// Metric aliases people type, per family.
    static let aliases: [String: String] = [
        "iops": Metric.iops.key, "bw": Metric.bandwidth.key, "bytes": Metric.bandwidth.key,
        "bps": Metric.throughput.key, "tps": Metric.transactions.key, "cps": Metric.connections.key,
    ]

    /// Parses `family.workload.metric=value`; nil with the reason in `error`.
    public static func parse(_ text: String) -> Result<CapacityNeed, CapacityError> {
        let kv = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, let value = Double(kv[1]), value > 0, value.isFinite else {
            return .failure(CapacityError("--need \(text): expected family.workload.metric=VALUE with VALUE > 0, e.g. blk.randread.iops=5000 or net.stream.bps=1e9"))
        }
        let parts = kv[0].split(separator: ".").map(String.init)
        guard parts.count == 3, ["blk", "net", "mem"].contains(parts[0]) else {
            return .failure(CapacityError("--need \(text): the key must be family.workload.metric with family blk, net or mem (e.g. blk.randread.iops)"))
        }
        guard let metric = aliases[parts[2]] ?? Metric.named(parts[2])?.key else {
            return .failure(CapacityError("--need \(text): unknown metric '\(parts[2])'; use iops, bw (bytes/s), bps (bits/s), tps, cps or a metric key"))
        }
        return .success(CapacityNeed(family: parts[0], workload: parts[1], metric: metric, value: value, text: text))
    }
}

public struct CapacityError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// One resource's bound on the number of guests.
public struct CapacityBound: Codable, Sendable, Equatable {
    /// `device` (the host's disk or NIC), `cpu` (host cores, from the cost per operation a
    /// saturated guest shows), `guest` (what one guest reaches at most), `latency` (p99).
    public var resource: String
    /// Guests this resource allows; nil when unbounded by what was measured.
    public var guests: Int?
    public var explanation: String
}

/// The answer for one need on one device model.
public struct CapacityAnswer: Codable, Sendable, Equatable {
    public var need: CapacityNeed
    public var device: String
    public var deviceClass: DeviceClass
    public var workload: String
    public var guestValue: Double
    public var nativeValue: Double?
    public var bounds: [CapacityBound]
    /// The smallest bound and its resource.
    public var guests: Int?
    public var binding: String?
    /// At `guests`, how much of each bounded resource is used (0…1).
    public var utilization: [String: Double]
    /// Measured concurrency sweep (lab --guests) and its USL fit (four or more guest counts).
    public var sweep: [SweepPoint] = []
    public var usl: USLFit?
}

public struct CapacityPlan: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var hostCores: Int
    public var p99MaxNs: Double?
    public var answers: [CapacityAnswer]
    public var warnings: [String]
    public var model: [String]
}

/// How many guests one host carries. A first-order model, stated in the plan itself.
public enum CapacityPlanner {
    static func samples(_ runs: [CompareRun], workload: String, metric: String) -> [Double] {
        // Each run's mean over its repetitions (a store's summary row).
        runs.compactMap { r in r.workloads.first { $0.name == workload }?.metrics[metric]?.mean }
    }

    /// The metrics a plan for `needs` reads: theirs and tail latency.
    public static func metrics(_ needs: [CapacityNeed]) -> [String] {
        Set(needs.map(\.metric) + [Metric.latP99.key]).sorted()
    }

    public static func plan(_ records: [RunRecord], needs: [CapacityNeed], hostCores: Int, p99MaxNs: Double? = nil) -> CapacityPlan {
        plan(records.map { CompareRun($0, metrics: metrics(needs)) }, needs: needs, hostCores: hostCores, p99MaxNs: p99MaxNs)
    }

    /// The plan from what a store reads per run (`RunStore.compareRuns` of `metrics(needs)`):
    /// keys and one summary row per workload and metric, never the records.
    public static func plan(_ records: [CompareRun], needs: [CapacityNeed], hostCores: Int, p99MaxNs: Double? = nil) -> CapacityPlan {
        var answers: [CapacityAnswer] = []
        var warnings: [String] = []
        for need in needs {
            let family = records.filter { $0.family == need.family }
            let names = Set(family.flatMap { $0.workloads.map(\.name) }).filter { $0.contains(need.workload) }.sorted()
            guard !names.isEmpty else {
                warnings.append("\(need.text): no \(need.family) workload named like '\(need.workload)' in the selection")
                continue
            }
            let natives = family.filter { $0.role == .native }
            let guests = family.filter { $0.role == .guest }
            // Paravirtual devices first, then passthrough, then emulated.
            func rank(_ c: String) -> Int { c == DeviceClass.paravirtual.rawValue ? 0 : c == DeviceClass.passthrough.rawValue ? 1 : c == DeviceClass.emulated.rawValue ? 2 : 3 }
            var devices: [String] = []
            for g in guests.sorted(by: { (rank($0.deviceClass), $0.device) < (rank($1.deviceClass), $1.device) })
                where !devices.contains(g.device) { devices.append(g.device) }
            if devices.isEmpty { warnings.append("\(need.text): no guest runs of \(need.family) to plan from") }
            for device in devices {
                let recs = guests.filter { $0.device == device }
                // Guests measured alone (not as one of several concurrent guests of a sweep).
                let alone = recs.filter { ($0.labGuests ?? "1") == "1" }
                // The matching workload this device does best: the way to deliver the need.
                let scored = names.compactMap { n -> (String, Double)? in
                    let v = samples(alone.isEmpty ? recs : alone, workload: n, metric: need.metric)
                    return v.isEmpty ? nil : (n, v.reduce(0, +) / Double(v.count))
                }
                guard let (workload, guestValue) = scored.max(by: { $0.1 < $1.1 }) else { continue }
                let nativeSamples = samples(natives, workload: workload, metric: need.metric)
                let nativeValue = nativeSamples.isEmpty ? nil : nativeSamples.reduce(0, +) / Double(nativeSamples.count)
                var bounds: [CapacityBound] = []
                let unit = Metric.named(need.metric)?.unit ?? ""
                func fmt(_ v: Double) -> String {
                    for (scale, prefix) in [(1e9, "G"), (1e6, "M"), (1e3, "k")] where v >= scale {
                        let attached = unit.hasPrefix("bit") || unit.hasPrefix("B/")
                        return formatFixed(v / scale, digits: 2) + (attached ? " \(prefix)\(unit)" : "\(prefix) \(unit)")
                    }
                    return formatFixed(v, digits: v < 100 ? 2 : 0) + " " + unit
                }
                // One guest must reach the need at all.
                if guestValue < need.value {
                    bounds.append(CapacityBound(resource: "guest", guests: 0,
                                                explanation: "one guest on \(device) reaches \(fmt(guestValue)) in \(workload), below the \(fmt(need.value)) needed"))
                }
                // The host's device: native throughput shared by all guests.
                if let nv = nativeValue {
                    bounds.append(CapacityBound(resource: "device", guests: Int((nv / need.value).rounded(.down)),
                                                explanation: "the host's own \(workload) reaches \(fmt(nv)); guests share it"))
                } else {
                    warnings.append("\(need.text) on \(device): no native run of \(workload), so the host device's limit is unknown (run vbench run --native on the host)")
                }
                // Host CPU: a guest at its maximum keeps about one host core busy (its vCPU
                // thread; under TCG the translator), so each operation costs 1/guestValue core-seconds.
                bounds.append(CapacityBound(resource: "cpu", guests: Int((Double(hostCores) * guestValue / need.value).rounded(.down)),
                                            explanation: "\(hostCores) host cores; a guest at its \(fmt(guestValue)) maximum keeps about one core busy, so the need costs \(formatFixed(need.value / guestValue, digits: 2)) core per guest"))
                if let limit = p99MaxNs {
                    let p99 = samples(recs, workload: workload, metric: Metric.latP99.key)
                    if let p = p99.max() {
                        if p > limit {
                            bounds.append(CapacityBound(resource: "latency", guests: 0, explanation: "p99 of one guest is \(formatFixed(p / 1e6, digits: 2)) ms, above the \(formatFixed(limit / 1e6, digits: 2)) ms allowed"))
                        }
                    } else {
                        warnings.append("\(need.text) on \(device): no latency histogram in \(workload); --p99-max not checked")
                    }
                }
                // A concurrency sweep measures sharing directly: the most guests that each still
                // got the need, measured, or predicted by the USL fit when there are 4+ counts.
                let points = sweep(recs, workload: workload, metric: need.metric)
                var usl: USLFit?
                if points.count >= 2 {
                    usl = USLFit.fit(points.map { (Double($0.guests), $0.aggregate) })
                    if let f = usl {
                        var n = 0
                        while n < 4096 && f.throughput(Double(n + 1)) / Double(n + 1) >= need.value { n += 1 }
                        bounds.append(CapacityBound(resource: "sweep", guests: n,
                                                    explanation: "USL fit to \(points.count) measured guest counts (σ \(formatFixed(f.sigma, digits: 3)), κ \(formatFixed(f.kappa, digits: 4))\(f.knee.map { ", peak at \(formatFixed($0, digits: 1)) guests" } ?? "")): up to \(n) guests each still get \(fmt(need.value))"))
                    } else {
                        let ok = points.filter { $0.perGuest >= need.value }.map(\.guests).max() ?? 0
                        bounds.append(CapacityBound(resource: "sweep", guests: ok,
                                                    explanation: "measured with \(points.map { "\($0.guests)" }.joined(separator: ", ")) concurrent guests: at \(ok) each still got \(fmt(need.value)) (fewer than 4 counts: no USL fit, no extrapolation)"))
                    }
                }
                // A measured sweep replaces the CPU assumption: it measured the sharing itself.
                if points.count >= 2, let i = bounds.firstIndex(where: { $0.resource == "cpu" }) {
                    bounds[i].guests = nil
                    bounds[i].explanation += " — not used: the sweep measured how guests share the host"
                }
                let bounded = bounds.filter { $0.guests != nil }
                let minimum = bounded.min { $0.guests! < $1.guests! }
                var utilization: [String: Double] = [:]
                if let n = minimum?.guests, n > 0 {
                    let demand = Double(n) * need.value
                    if let nv = nativeValue { utilization["device"] = demand / nv }
                    if bounds.contains(where: { $0.resource == "cpu" && $0.guests != nil }) {
                        utilization["cpu"] = demand / (Double(hostCores) * guestValue)
                    }
                    if let f = usl { utilization["sweep"] = demand / f.throughput(Double(n)) }
                }
                answers.append(CapacityAnswer(need: need, device: device, deviceClass: DeviceClass(rawValue: recs[0].deviceClass) ?? .unknown, workload: workload,
                                              guestValue: guestValue, nativeValue: nativeValue, bounds: bounds,
                                              guests: minimum?.guests, binding: minimum?.resource, utilization: utilization,
                                              sweep: points, usl: usl))
            }
        }
        return CapacityPlan(hostCores: hostCores, p99MaxNs: p99MaxNs, answers: answers, warnings: warnings, model: model)
    }

    /// The model and its assumptions, printed with every plan.
    public static let model = [
        "Guests of one profile each need the stated rate; a resource allows floor(capacity / need) guests; the smallest bound binds.",
        "device: the host's own run of the same workload (role native) is the device's capacity, shared by all guests; without a native run this bound is unknown, not assumed.",
        "guest: one guest must reach the need at all (its best matching workload on that device model).",
        "cpu: a guest running at its measured maximum keeps about one host core busy (its vCPU thread; under TCG the translator, under KVM the exits and the I/O thread), so the need costs need/maximum of a core; the host has the stated cores. This overstates the cost where the guest's limit is the device, not its CPU.",
        "latency: with --p99-max, a device whose single-guest p99 is above it carries no guest; more guests only raise p99, which this first-order model does not predict without a concurrency sweep.",
        "sweep: with `vbench lab run --guests 1,2,3,4` records, the aggregate of N concurrent guests is measured; with four or more counts the Universal Scalability Law X(N) = λN/(1+σ(N−1)+κN(N−1)) is fitted (λ = X(1)) and the largest N whose X(N)/N still meets the need is the bound; with fewer, only measured counts are used. On a 2-core host the sweep is bounded by those cores.",
        "Not modelled: memory per guest; the guest (single-guest) bound uses guests measured alone.",
    ]
}

/// Gunther's Universal Scalability Law, X(N) = λN / (1 + σ(N−1) + κN(N−1)): σ the share that
/// serializes (contention), κ the cost of keeping N parties coherent (crosstalk).
public struct USLFit: Codable, Sendable, Equatable {
    public var lambda: Double
    public var sigma: Double
    public var kappa: Double
    /// The N of the peak, sqrt((1 − σ) / κ); nil when κ is 0 (throughput only levels off).
    public var knee: Double?
    /// Root mean square of the relative residuals at the measured points.
    public var rmsRelativeError: Double

    public func throughput(_ n: Double) -> Double { lambda * n / (1 + sigma * (n - 1) + kappa * n * (n - 1)) }

    /// Fits to (N, X(N)) points with N = 1 among them (λ = X(1)): N/C(N) − 1 = σ(N−1) + κN(N−1)
    /// with C(N) = X(N)/X(1), least squares through the origin; σ and κ kept at 0 or above.
    /// Needs four or more distinct N.
    public static func fit(_ points: [(n: Double, x: Double)]) -> USLFit? {
        let byN = Dictionary(grouping: points, by: \.n).mapValues { $0.map(\.x).reduce(0, +) / Double($0.count) }
        guard byN.count >= 4, let x1 = byN[1], x1 > 0 else { return nil }
        var sxx = 0.0, sxz = 0.0, szz = 0.0, sxy = 0.0, szy = 0.0
        // In N order: sums in a fixed order give the same fit however the points were gathered.
        for (n, x) in byN.sorted(by: { $0.key < $1.key }) where n > 1 && x > 0 {
            let c = x / x1, y = n / c - 1, a = n - 1, b = n * (n - 1)
            sxx += a * a; sxz += a * b; szz += b * b; sxy += a * y; szy += b * y
        }
        let det = sxx * szz - sxz * sxz
        guard det > 0 else { return nil }
        var sigma = (sxy * szz - szy * sxz) / det
        var kappa = (szy * sxx - sxy * sxz) / det
        if kappa < 0 { kappa = 0; sigma = sxx > 0 ? sxy / sxx : 0 }
        if sigma < 0 { sigma = 0; kappa = szz > 0 ? max(0, szy / szz) : 0 }
        var fit = USLFit(lambda: x1, sigma: sigma, kappa: kappa, knee: kappa > 0 ? ((1 - min(sigma, 1)) / kappa).squareRoot() : nil, rmsRelativeError: 0)
        let errors = byN.sorted { $0.key < $1.key }.map { n, x in (fit.throughput(n) - x) / x }
        fit.rmsRelativeError = (errors.map { $0 * $0 }.reduce(0, +) / Double(errors.count)).squareRoot()
        return fit
    }
}

/// Aggregate throughput of N concurrent guests, measured (a lab `--guests` sweep).
public struct SweepPoint: Codable, Sendable, Equatable {
    public var guests: Int
    /// Sum over the guests of each one's mean (averaged over rounds).
    public var aggregate: Double
    public var perGuest: Double
}

extension CapacityPlanner {
    /// The sweep of one device and workload: records tagged lab.guests=N (and lab.guest, lab.round).
    static func sweep(_ records: [CompareRun], workload: String, metric: String) -> [SweepPoint] {
        var byN: [Int: [String: [Double]]] = [:]  // N → round → per-guest values
        for r in records {
            guard let n = r.labGuests.flatMap(Int.init), let v = samples([r], workload: workload, metric: metric).first else { continue }
            byN[n, default: [:]][r.labRound ?? "0", default: []].append(v)
        }
        return byN.keys.sorted().map { n in
            let sums = byN[n]!.sorted { $0.key < $1.key }.map { $0.value.reduce(0, +) }
            let aggregate = sums.reduce(0, +) / Double(sums.count)
            return SweepPoint(guests: n, aggregate: aggregate, perGuest: aggregate / Double(n))
        }
    }
}
