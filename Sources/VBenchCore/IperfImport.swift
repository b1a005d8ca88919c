import FoundationEssentials

/// Maps `iperf3 -J` client output to a RunRecord: one record, one network workload (two with
/// `--bidir`: the client's sending half and its receiving half), one repetition each (iperf3's
/// end-of-test sums over all `-P` streams; its per-second intervals are not repetitions).
/// The record is the client's view: `send` unless iperf3 ran with `-R`. TCP gives goodput at
/// the receiver, retransmits and both ends' CPU; UDP adds loss and jitter. The record is tagged
/// `imported=iperf3`. Server-side output (`iperf3 -s -J`) and failed runs are refused.
public enum IperfImport {
    struct Output: Decodable {
        var start: Start
        var end: End?
        var error: String?
    }
    struct Start: Decodable {
        var version: String?
        var timestamp: Timestamp?
        var connectingTo: ConnectingTo?
        var testStart: TestStart?
        var connected: [Connected]?
        enum CodingKeys: String, CodingKey {
            case version, timestamp, connectingTo = "connecting_to", testStart = "test_start", connected
        }
    }
    struct Timestamp: Decodable { var timesecs: Double? }
    struct ConnectingTo: Decodable { var host: String; var port: Int }
    struct Connected: Decodable {
        var localHost: String?
        enum CodingKeys: String, CodingKey { case localHost = "local_host" }
    }
    struct TestStart: Decodable {
        var proto: String
        var numStreams: Int
        var blksize: Int
        var omit: Double?
        var duration: Double?
        var reverse: Int?
        var bidir: Int?
        enum CodingKeys: String, CodingKey {
            case proto = "protocol", numStreams = "num_streams", blksize, omit, duration, reverse, bidir
        }
    }
    struct End: Decodable {
        var sumSent: Sum?
        var sumReceived: Sum?
        var sum: Sum?
        /// `--bidir`: the server-to-client half.
        var sumSentReverse: Sum?
        var sumReceivedReverse: Sum?
        var cpu: CPU?
        enum CodingKeys: String, CodingKey {
            case sumSent = "sum_sent", sumReceived = "sum_received", sum, cpu = "cpu_utilization_percent",
                 sumSentReverse = "sum_sent_bidir_reverse", sumReceivedReverse = "sum_received_bidir_reverse"
        }
    }
    struct Sum: Decodable {
        var seconds: Double
        var bytes: UInt64
        var bitsPerSecond: Double
        var retransmits: UInt64?
        var jitterMs: Double?
        var lostPercent: Double?
        enum CodingKeys: String, CodingKey {
            case seconds, bytes, bitsPerSecond = "bits_per_second", retransmits, jitterMs = "jitter_ms", lostPercent = "lost_percent"
        }
    }
    struct CPU: Decodable {
        var hostTotal: Double, hostUser: Double, hostSystem: Double, remoteTotal: Double
        enum CodingKeys: String, CodingKey {
            case hostTotal = "host_total", hostUser = "host_user", hostSystem = "host_system", remoteTotal = "remote_total"
        }
    }

    /// Whether `data` looks like iperf3 JSON (checked on its first bytes).
    public static func looksLikeIperf(_ head: String) -> Bool {
        head.contains("\"start\"") && (head.contains("\"iperf 3") || head.contains("\"connecting_to\"") || head.contains("\"intervals\""))
    }

    /// The local address iperf3 used, when it reported one (to name the interface).
    public static func localAddress(in data: Data) -> String? {
        (try? JSONDecoder().decode(Output.self, from: data))?.start.connected?.first?.localHost
    }

    /// The record in `data` (iperf3 -J client output). `device` is the NIC it ran over when the
    /// importer knows it; otherwise the device is `unknown`.
    public static func records(from data: Data, file: String, environment: Environment, device: DeviceInfo?,
                               role: RunRole, tags: [String: String]) throws(ImportError) -> [RunRecord] {
        let output: Output
        do { output = try JSONDecoder().decode(Output.self, from: data) } catch {
            throw ImportError(file: file, reason: "not iperf3 JSON output (\(error)); run the iperf3 client with -J")
        }
        if let error = output.error {
            throw ImportError(file: file, reason: "iperf3 reported a failed test (\(error)); nothing to import")
        }
        guard let test = output.start.testStart, let end = output.end, let connecting = output.start.connectingTo else {
            throw ImportError(file: file, reason: "iperf3 output without test_start/connecting_to/end: import the client's -J output, not the server's")
        }
        let transport = test.proto.lowercased()
        guard transport == "tcp" || transport == "udp" else {
            throw ImportError(file: file, reason: "iperf3 protocol \(test.proto) is not modelled (tcp, udp)")
        }
        // iperf3 3.12 says --bidir only through the reverse sums (no test_start key).
        let bidir = (test.bidir ?? 0) != 0 || end.sumReceivedReverse != nil
        var halves: [(NetDirection, received: Sum?, sent: Sum?)] = [((test.reverse ?? 0) != 0 ? .receive : .send,
                                                                    transport == "udp" ? (end.sum ?? end.sumReceived) : end.sumReceived,
                                                                    end.sumSent ?? end.sum)]
        if bidir { halves.append((.receive, end.sumReceivedReverse, end.sumSentReverse)) }
        var workloads: [WorkloadResult] = []
        var longest: UInt64 = 0
        for (direction, receivedSum, sentSum) in halves {
            // The receiver's view is the goodput; UDP has one `sum` from the receiver.
            guard let received = receivedSum, let sent = sentSum, received.seconds > 0 else {
                throw ImportError(file: file, reason: "iperf3 output has no end sums\(bidir ? " for both directions of --bidir" : "") (the test did not finish)")
            }
            let elapsed = UInt64(received.seconds * 1e9)
            longest = max(longest, elapsed)
            var metrics: [String: Double] = [Metric.throughput.key: received.bitsPerSecond]
            if let r = sent.retransmits { metrics[Metric.retransmits.key] = Double(r) }
            if let cpu = end.cpu {
                // One CPU figure for the whole test: both halves of --bidir share it.
                metrics[Metric.cpuLocal.key] = cpu.hostTotal
                metrics[Metric.cpuPeer.key] = cpu.remoteTotal
            }
            if transport == "udp" {
                if let j = received.jitterMs { metrics[Metric.jitter.key] = j * 1e6 }
                if let l = received.lostPercent { metrics[Metric.lostPercent.key] = l }
            }
            let share = bidir ? 0.5 : 1.0
            let cpuUser = UInt64((end.cpu?.hostUser ?? 0) / 100 * Double(elapsed) * share)
            let cpuSystem = UInt64((end.cpu?.hostSystem ?? 0) / 100 * Double(elapsed) * share)
            let job = JobResult(index: 0, readOps: 0, writeOps: 0,
                                readBytes: direction == .receive ? received.bytes : 0,
                                writeBytes: direction == .send ? sent.bytes : 0,
                                cpuUserNs: cpuUser, cpuSystemNs: cpuSystem, submitCalls: 0, reapCalls: 0)
            let rep = RepetitionResult(index: 0, elapsedNs: elapsed, jobs: [job], metrics: metrics)
            let spec = NetWorkloadSpec(test: .stream, transport: transport, direction: direction, streams: test.numStreams,
                                       messageSizeBytes: test.blksize, runtimeNs: elapsed,
                                       rampNs: UInt64((test.omit ?? 0) * 1e9), repetitions: 1,
                                       peer: "\(connecting.host):\(connecting.port)", interface: device?.name)
            workloads.append(WorkloadResult(spec: .net(spec), repetitions: [rep]))
        }
        let ramp = UInt64((test.omit ?? 0) * 1e9)
        var allTags = tags
        allTags["imported"] = "iperf3"
        if bidir { allTags["iperf3.bidir"] = "1" }
        let start = Date(timeIntervalSince1970: output.start.timestamp?.timesecs ?? 0)
        let version = output.start.version.map { $0.hasPrefix("iperf ") ? String($0.dropFirst(6)) : $0 } ?? "unknown"
        return [RunRecord(
            runId: ImportSupport.contentId(data), startTime: start,
            endTime: start.addingTimeInterval(Double(longest + ramp) / 1e9), role: role,
            tool: ToolInfo(name: "iperf3", version: version), tags: allTags, environment: environment,
            device: device ?? DeviceInfo(kind: "net", name: "unknown", deviceClass: .unknown),
            family: "net", target: nil, workloads: workloads)]
    }
}
