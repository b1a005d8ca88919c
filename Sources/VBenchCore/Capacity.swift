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
    static func samples(_ records: [RunRecord], workload: String, metric: String) -> [Double] {
        let per = records.compactMap { r -> Double? in
            guard let w = r.workloads.first(where: { $0.name == workload }) else { return nil }
            if let s = w.summary[metric] { return s.mean }
            if metric == Metric.latP99.key, let p = w.latencyNs?.percentiles["p99"] { return Double(p) }
            return nil
        }
        return per
    }

    public static func plan(_ records: [RunRecord], needs: [CapacityNeed], hostCores: Int, p99MaxNs: Double? = nil) -> CapacityPlan {
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
            var devices: [String] = []
            for g in guests where !devices.contains(g.device.distinguishingDriver) { devices.append(g.device.distinguishingDriver) }
            if devices.isEmpty { warnings.append("\(need.text): no guest runs of \(need.family) to plan from") }
            for device in devices {
                let recs = guests.filter { $0.device.distinguishingDriver == device }
                // The matching workload this device does best: the way to deliver the need.
                let scored = names.compactMap { n -> (String, Double)? in
                    let v = samples(recs, workload: n, metric: need.metric)
                    return v.isEmpty ? nil : (n, v.reduce(0, +) / Double(v.count))
                }
                guard let (workload, guestValue) = scored.max(by: { $0.1 < $1.1 }) else { continue }
                let nativeSamples = samples(natives, workload: workload, metric: need.metric)
                let nativeValue = nativeSamples.isEmpty ? nil : nativeSamples.reduce(0, +) / Double(nativeSamples.count)
                var bounds: [CapacityBound] = []
                let unit = Metric.named(need.metric)?.unit ?? ""
                func fmt(_ v: Double) -> String { formatFixed(v, digits: v < 100 ? 2 : 0) + " " + unit }
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
                let bounded = bounds.filter { $0.guests != nil }
                let minimum = bounded.min { $0.guests! < $1.guests! }
                var utilization: [String: Double] = [:]
                if let n = minimum?.guests, n > 0 {
                    let demand = Double(n) * need.value
                    if let nv = nativeValue { utilization["device"] = demand / nv }
                    utilization["cpu"] = demand / (Double(hostCores) * guestValue)
                }
                answers.append(CapacityAnswer(need: need, device: device, deviceClass: recs[0].device.deviceClass, workload: workload,
                                              guestValue: guestValue, nativeValue: nativeValue, bounds: bounds,
                                              guests: minimum?.guests, binding: minimum?.resource, utilization: utilization))
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
        "Not modelled yet: measured concurrency sweeps (1, 2, 4 … guests at once) and a Universal Scalability Law fit to them; memory per guest.",
    ]
}
