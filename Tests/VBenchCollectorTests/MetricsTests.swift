import Foundation
import NIOCore
import Testing
import VBenchTestSupport
@testable import VBenchCollector
import VBenchCore
import VBenchWire
import VBenchStore
import VBenchStoreAPI
import VBenchUplink

/// The collector's /metrics, read over real HTTP and checked by Prometheus's own linter
/// (`promtool check metrics`) and by the OpenMetrics parser of prometheus_client.
@Suite struct MetricsEndpointTests {
    static let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A record with `iops` per repetition and a p99 of `p99Ns`.
    static func record(role: RunRole, iops: [Double], host: String = "guest-1") -> RunRecord {
        var r = sampleRecord()
        r.role = role
        r.environment.hostname = host
        if role == .native {
            r.device = DeviceInfo(kind: "block", name: "nvme0n1", driver: "nvme", controllerDriver: "nvme", deviceClass: .native)
            r.environment.hypervisor = HypervisorInfo(vendor: .none)
        }
        let job = { (v: Double) in
            JobResult(index: 0, readOps: UInt64(v), writeOps: 0, readBytes: UInt64(v) * 4096, writeBytes: 0,
                      cpuUserNs: 0, cpuSystemNs: 0, submitCalls: 1, reapCalls: 1)
        }
        var h = LatencyHistogram()
        h.record(200_000, count: 99)
        h.record(2_000_000, count: 1)
        r.workloads = [WorkloadResult(spec: BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 32),
                                      repetitions: iops.enumerated().map { i, v in
                                          RepetitionResult(index: i, elapsedNs: 1_000_000_000, jobs: [job(v)], latency: h, readLatency: h,
                                                           writeLatency: nil)
                                      })]
        return r
    }

    static func fetch(_ port: Int, accept: String?) throws -> (String, String) {
        let script = """
            import sys, urllib.request
            req = urllib.request.Request(sys.argv[1])
            if len(sys.argv) > 2: req.add_header("Accept", sys.argv[2])
            with urllib.request.urlopen(req, timeout=20) as r:
                sys.stdout.write(r.headers.get("Content-Type") + "\\n" + r.read().decode())
            """
        let (status, out) = try run(["timeout", "30", "python3", "-c", script, "http://127.0.0.1:\(port)/metrics"] + (accept.map { [$0] } ?? []))
        guard status == 0, let nl = out.firstIndex(of: "\n") else { throw MetricsTestError(text: "fetching /metrics failed: \(out)") }
        return (String(out[..<nl]), String(out[out.index(after: nl)...]))
    }

    struct MetricsTestError: Error, CustomStringConvertible { var text: String; var description: String { text } }

    static func run(_ arguments: [String], stdin: String? = nil) throws -> (Int32, String) {
        try TestCommand.run(arguments, stdin: stdin)
    }

    @Test(.enabled(if: Self.promtool != nil, "promtool is not installed (Debian's prometheus package; scripts/deps installs it)"))
    func latestResultsAndCountersPassPromtoolAndTheOpenMetricsParser() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let store = try SQLiteRunStore(path: dir.path + "/vbench.sqlite")
        var config = Collector.Configuration(endpoints: [.unix(path: dir.path + "/c.sock")], collectorHost: "hv-\"7\"",
                                             collectorKernel: "6.18", vsockAllowed: false)
        config.metrics = MetricsAddress(host: "127.0.0.1", port: 0)
        let collector = Collector(configuration: config, store: store)
        let bound = try collector.start()
        defer { collector.stop() }
        let metricsURL = try #require(bound.first { $0.hasPrefix("metrics ") })
        let port = try #require(Int(metricsURL.split(separator: ":").last!.split(separator: "/").first!))
        let endpoint = try #require(bound.compactMap { try? Endpoint($0) }.first)

        let native = Self.record(role: .native, iops: [40_000, 40_000])
        let guest = Self.record(role: .guest, iops: [10_000, 12_000])
        let acks = try Uplink(endpoint: endpoint, timeout: .seconds(20)).send([native, guest, guest])
        #expect(acks.count == 2)

        let (promType, prom) = try Self.fetch(port, accept: nil)
        #expect(promType.hasPrefix("text/plain; version=0.0.4"))
        let (lint, lintOutput) = try Self.run([Self.promtool!, "check", "metrics"], stdin: prom)
        #expect(lint == 0 && lintOutput.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(lintOutput)")
        // The figures are the record's: mean IOPS 11000, ratio to native 11000/40000, counters.
        let iops = prom.split(separator: "\n").first { $0.hasPrefix("vbench_iops{") }.map(String.init) ?? ""
        #expect(iops.hasSuffix(" 11000"))
        #expect(iops.contains("host=\"hv-\\\"7\\\"\"") && iops.contains("driver=\"virtio_blk\"") && iops.contains("class=\"paravirtual\""))
        #expect(iops.contains("guest=\"guest-1\"") && iops.contains("kernel=\"6.1.0-56-amd64\"") && iops.contains("workload=\"randread-4k-qd32\""))
        #expect(prom.contains("metric=\"iops\"} 0.275\n"))
        #expect(prom.contains("vbench_collector_records_stored_total{host=\"hv-\\\"7\\\"\"} 2\n"))
        #expect(prom.contains("vbench_collector_records_duplicate_total{host=\"hv-\\\"7\\\"\"} 1\n"))
        #expect(prom.contains("vbench_collector_connections_total{host=\"hv-\\\"7\\\"\"} 1\n"))
        #expect(prom.contains("vbench_latency_seconds{") && prom.contains("percentile=\"99\""))
        #expect(!prom.contains("nvme0n1"), "native runs are baselines, not series of their own")

        let (omType, om) = try Self.fetch(port, accept: "application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
        #expect(omType.hasPrefix("application/openmetrics-text; version=1.0.0"))
        #expect(om.hasSuffix("# EOF\n"))
        let parse = """
            import sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
            fams = list(text_string_to_metric_families(sys.stdin.read()))
            print(" ".join(sorted(f.name + ":" + f.type for f in fams)))
            """
        let (parsed, families) = try Self.run(["timeout", "30", "/usr/bin/python3", "-c", parse], stdin: om)
        #expect(parsed == 0, "the OpenMetrics parser refused the exposition: \(families)")
        #expect(families.contains("vbench_collector_records_stored:counter") && families.contains("vbench_iops:gauge"))
        #expect(families.contains("vbench_native_ratio:gauge"))
    }

    @Test func addressesParseAndBadOnesAreNamed() throws {
        #expect(try MetricsAddress("127.0.0.1:9464") == MetricsAddress(host: "127.0.0.1", port: 9464))
        #expect(try MetricsAddress("[::1]:9464") == MetricsAddress(host: "::1", port: 9464))
        #expect(try MetricsAddress(":9464") == MetricsAddress(host: "127.0.0.1", port: 9464))
        #expect { try MetricsAddress("localhost") } throws: { "\($0)".contains("no port") && "\($0)".contains("127.0.0.1:9464") }
        #expect { try MetricsAddress("1.2.3.4:99999") } throws: { "\($0)".contains("0…65535") }
    }
}
