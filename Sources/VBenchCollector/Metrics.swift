import FoundationEssentials
import Synchronization
import VBenchCore

/// The latest result of each guest, device and workload a collector has seen, and the native
/// baselines, kept for the metrics endpoint. Updated when a record is stored; seeded from the
/// store at start so a restarted collector does not scrape empty.
public final class LatestResults: Sendable {
    struct Key: Hashable, Comparable {
        var family, guest, cid, device, workload: String
        static func < (a: Key, b: Key) -> Bool {
            (a.family, a.guest, a.cid, a.device, a.workload) < (b.family, b.guest, b.cid, b.device, b.workload)
        }
    }

    struct Entry {
        var labels: [(String, String)]
        var startTime: Date
        /// Mean over repetitions, by metric key.
        var means: [String: Double]
    }

    private struct State {
        var guests: [Key: Entry] = [:]
        /// Native means by family and workload name, with their start time.
        var natives: [String: (start: Date, means: [String: Double])] = [:]
    }

    private let state = Mutex(State())
    public let host: String

    public init(host: String) { self.host = host }

    /// The metrics exported per workload (keys of `RepetitionResult.metrics`).
    static let exported = ["iops", "bwBytesPerSec", "latP50Ns", "latP99Ns", "latMeanNs", "throughputBitsPerSec",
                           "transactionsPerSec", "connectionsPerSec", "loadLatencyNs"]

    /// Takes in a stored record (older than what is known for the same series is ignored).
    public func update(_ record: RunRecord, peer: String) {
        let cid = peer.hasPrefix("vsock:cid=") ? String(peer.dropFirst("vsock:cid=".count)) : ""
        state.withLock { s in
            for w in record.workloads {
                var means: [String: Double] = [:]
                for metric in Self.exported {
                    let v = w.values(of: metric)
                    if !v.isEmpty { means[metric] = v.reduce(0, +) / Double(v.count) }
                }
                guard !means.isEmpty else { continue }
                if record.role == .native {
                    let k = record.family + "/" + w.name
                    if let known = s.natives[k], known.start > record.startTime { continue }
                    s.natives[k] = (record.startTime, means)
                    continue
                }
                let key = Key(family: record.family, guest: record.environment.hostname, cid: cid, device: record.device.name,
                              workload: w.name)
                if let known = s.guests[key], known.startTime > record.startTime { continue }
                let d = record.device
                s.guests[key] = Entry(labels: [
                    ("host", host), ("guest", record.environment.hostname), ("guest_cid", cid), ("family", record.family),
                    ("workload", w.name), ("device", d.name), ("driver", d.distinguishingDriver),
                    ("class", d.deviceClass.rawValue), ("kernel", record.environment.kernelRelease),
                    ("hypervisor", record.environment.hypervisor.vendor.rawValue),
                ], startTime: record.startTime, means: means)
            }
        }
    }

    /// Series ready for exposition: (metric family, help, unit suffix handled by name, labels, value).
    func samples() -> [(name: String, labels: [(String, String)], value: Double)] {
        let (guests, natives) = state.withLock { s in (s.guests, s.natives) }
        var out: [(String, [(String, String)], Double)] = []
        for key in guests.keys.sorted() {
            guard let e = guests[key] else { continue }
            let m = e.means
            if let v = m["iops"] { out.append(("vbench_iops", e.labels, v)) }
            if let v = m["bwBytesPerSec"] { out.append(("vbench_bandwidth_bytes_per_second", e.labels, v)) }
            if let v = m["throughputBitsPerSec"] { out.append(("vbench_goodput_bytes_per_second", e.labels, v / 8)) }
            if let v = m["transactionsPerSec"] { out.append(("vbench_transactions_per_second", e.labels, v)) }
            if let v = m["connectionsPerSec"] { out.append(("vbench_connections_per_second", e.labels, v)) }
            if let v = m["latP50Ns"] { out.append(("vbench_latency_seconds", e.labels + [("percentile", "50")], v / 1e9)) }
            if let v = m["latP99Ns"] { out.append(("vbench_latency_seconds", e.labels + [("percentile", "99")], v / 1e9)) }
            if let v = m["latMeanNs"] { out.append(("vbench_latency_mean_seconds", e.labels, v / 1e9)) }
            if let v = m["loadLatencyNs"] { out.append(("vbench_memory_load_latency_seconds", e.labels, v / 1e9)) }
            out.append(("vbench_result_start_time_seconds", e.labels, e.startTime.timeIntervalSince1970))
            if let native = natives[key.family + "/" + key.workload]?.means {
                for metric in ["iops", "bwBytesPerSec", "throughputBitsPerSec", "transactionsPerSec", "latP99Ns"] {
                    guard let g = m[metric], let n = native[metric], n > 0 else { continue }
                    out.append(("vbench_native_ratio", e.labels + [("metric", metric)], g / n))
                }
            }
        }
        return out
    }
}

/// Prometheus text exposition (0.0.4) and OpenMetrics 1.0, written by hand: the figures are a
/// snapshot computed at scrape time from the latest results, whose series come and go with
/// guests and devices (a registry of long-lived gauge objects, as swift-prometheus keeps, would
/// need every stale series unregistered by hand), and OpenMetrics needs `# EOF` and counter
/// families named without `_total`, which the text format does not have.
public enum MetricsExposition {
    public enum Format: Sendable {
        case prometheus
        case openMetrics

        public var contentType: String {
            switch self {
            case .prometheus: "text/plain; version=0.0.4; charset=utf-8"
            case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }

        /// OpenMetrics when the scraper's Accept header asks for it (Prometheus does).
        public init(accept: String?) {
            self = (accept ?? "").contains("application/openmetrics-text") ? .openMetrics : .prometheus
        }
    }

    static let help: [String: (type: String, help: String)] = [
        "vbench_iops": ("gauge", "I/O operations per second of the latest run (mean over repetitions)."),
        "vbench_bandwidth_bytes_per_second": ("gauge", "Block or memory bandwidth of the latest run, bytes per second."),
        "vbench_goodput_bytes_per_second": ("gauge", "TCP payload delivered per second of the latest run, bytes per second."),
        "vbench_transactions_per_second": ("gauge", "Request/response transactions per second of the latest run."),
        "vbench_connections_per_second": ("gauge", "Connect/request/response/close cycles per second of the latest run."),
        "vbench_latency_seconds": ("gauge", "Latency percentile of the latest run, seconds."),
        "vbench_latency_mean_seconds": ("gauge", "Mean latency of the latest run, seconds."),
        "vbench_memory_load_latency_seconds": ("gauge", "Dependent load latency (pointer chase) of the latest run, seconds."),
        "vbench_result_start_time_seconds": ("gauge", "Start of the latest run of the series, seconds since 1970."),
        "vbench_native_ratio": ("gauge", "Guest figure over the native baseline's for the same workload (1 = native speed)."),
        "vbench_collector_connections": ("counter", "Connections accepted."),
        "vbench_collector_connected": ("gauge", "Connections open now."),
        "vbench_collector_records_stored": ("counter", "Records stored (committed, then acknowledged)."),
        "vbench_collector_records_duplicate": ("counter", "Records whose run id was stored already (acknowledged as duplicates)."),
        "vbench_collector_rejects": ("counter", "Frames or records refused (bad frame, bad record, timeouts, store failures)."),
        "vbench_collector_store_errors": ("counter", "Store operations that failed (records left with their senders)."),
        "vbench_collector_stored_bytes": ("counter", "Record payload bytes stored."),
        "vbench_collector_start_time_seconds": ("gauge", "When the collector started, seconds since 1970."),
    ]

    /// The whole exposition.
    public static func render(latest: LatestResults, stats: CollectorStats, startTime: Date, format: Format) -> String {
        var families: [String: [(labels: [(String, String)], value: Double)]] = [:]
        var order: [String] = []
        func add(_ name: String, _ labels: [(String, String)], _ value: Double) {
            if families[name] == nil { order.append(name) }
            families[name, default: []].append((labels, value))
        }
        for s in latest.samples() { add(s.name, s.labels, s.value) }
        let host = [("host", latest.host)]
        add("vbench_collector_connections", host, Double(stats.connections))
        add("vbench_collector_connected", host, Double(stats.connected))
        add("vbench_collector_records_stored", host, Double(stats.stored))
        add("vbench_collector_records_duplicate", host, Double(stats.duplicates))
        add("vbench_collector_rejects", host, Double(stats.rejected))
        add("vbench_collector_store_errors", host, Double(stats.storeErrors))
        add("vbench_collector_stored_bytes", host, Double(stats.storedBytes))
        add("vbench_collector_start_time_seconds", host, startTime.timeIntervalSince1970)

        var out = ""
        for name in order {
            guard let meta = help[name], let samples = families[name] else { continue }
            let counter = meta.type == "counter"
            let familyName = counter && format == .prometheus ? name + "_total" : name
            out += "# HELP \(familyName) \(escapeHelp(meta.help))\n"
            out += "# TYPE \(familyName) \(meta.type)\n"
            if format == .openMetrics, let unit = unit(of: name) { out += "# UNIT \(familyName) \(unit)\n" }
            for s in samples {
                out += (counter ? name + "_total" : name)
                if !s.labels.isEmpty {
                    out += "{" + s.labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
                }
                out += " " + number(s.value) + "\n"
            }
        }
        if format == .openMetrics { out += "# EOF\n" }
        return out
    }

    /// OpenMetrics units: a family's name must end with its unit.
    static func unit(of name: String) -> String? {
        if name.hasSuffix("_seconds") { return "seconds" }
        if name.hasSuffix("_bytes") { return "bytes" }
        return nil
    }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    static func escapeLabel(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }

    static func escapeHelp(_ s: String) -> String {
        s.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }
}
