import Foundation
import Testing
import VBenchCore

/// Real fio 3.33 runs made here (O_DIRECT on a file under /var/tmp), imported, and held to the
/// numbers fio itself printed: numjobs × group_reporting × rw, json and json+.
@Suite(.serialized) struct FioImportMatrixTests {
    static let fio = "/usr/bin/fio"

    struct Case: CustomStringConvertible, Sendable {
        var numjobs: Int
        var group: Bool
        var rw: String
        var plus: Bool
        var description: String { "numjobs=\(numjobs)\(group ? " group_reporting" : "") rw=\(rw) \(plus ? "json+" : "json")" }
    }

    static let cases: [Case] = {
        var c: [Case] = []
        for (numjobs, group) in [(1, false), (2, false), (2, true)] {
            for rw in ["randread", "randwrite", "randrw"] { c.append(Case(numjobs: numjobs, group: group, rw: rw, plus: true)) }
        }
        c.append(Case(numjobs: 1, group: false, rw: "randread", plus: false))
        c.append(Case(numjobs: 2, group: true, rw: "randrw", plus: false))
        c.append(Case(numjobs: 2, group: false, rw: "randread", plus: false))
        return c
    }()

    /// Runs fio for `c` and returns its JSON output.
    static func run(_ c: Case, in dir: String) throws -> Data {
        let out = dir + "/out.json"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["60", fio, "--name=m", "--filename=\(dir)/f.dat", "--size=16m", "--direct=1", "--ioengine=libaio",
                       "--rw=\(c.rw)", "--bs=4k", "--iodepth=4", "--numjobs=\(c.numjobs)", "--runtime=500ms", "--time_based"]
            + (c.group ? ["--group_reporting"] : []) + ["--output-format=\(c.plus ? "json+" : "json")", "--output=\(out)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ImportError(file: out, reason: "fio exited \(p.terminationStatus)") }
        return try Data(contentsOf: URL(fileURLWithPath: out))
    }

    static let environment = Environment(hostname: "h", kernelRelease: "6.1.0", cpuModel: "cpu", onlineCpus: 2,
                                         memoryBytes: 1 << 30, numaNodes: 1, hypervisor: HypervisorInfo(vendor: .kvm))

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: fio), "needs Debian's fio (scripts/deps installs it)"), arguments: cases)
    func importGivesWhatFioPrinted(_ c: Case) throws {
        let dir = "/var/tmp/vbench-fio-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try Self.run(c, in: dir)
        let fioJobs = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["jobs"] as? [[String: Any]])
        #expect(fioJobs.count == (c.group ? 1 : c.numjobs), "\(c): fio printed \(fioJobs.count) entries")
        func sum(_ dir: String, _ key: String) -> Double {
            fioJobs.reduce(0) { $0 + ((($1[dir] as? [String: Any])?[key] as? NSNumber)?.doubleValue ?? 0) }
        }
        let records = try FioImport.records(from: data, file: "out.json", environment: Self.environment, device: nil, role: .native, tags: [:])
        // fio writes warnings into its --output file before the JSON; the import reads past them.
        let warned = Data("fio: time_based requires a runtime/timeout setting\n".utf8) + data
        #expect(try FioImport.records(from: warned, file: "w.json", environment: Self.environment, device: nil, role: .native, tags: [:])
                    .first?.workloads.first?.repetitions.first?.metrics == records.first?.workloads.first?.repetitions.first?.metrics)
        let workloads = try #require(records.first?.workloads)
        #expect(records.count == 1 && workloads.count == 1, "\(c): one job, one workload whatever numjobs and group_reporting")
        let rep = try #require(workloads.first?.repetitions.first)
        #expect(rep.jobs.count == fioJobs.count && workloads[0].spec.block?.numJobs == c.numjobs)
        func close(_ a: Double?, _ b: Double, _ what: String) {
            guard let a else { Issue.record("\(c): no \(what)"); return }
            #expect(abs(a - b) <= max(1e-9, b * 0.001), "\(c): \(what) vbench \(a) vs fio \(b)")
        }
        // One entry: the IOPS and bandwidth fio printed for it. Clones reported one by one:
        // fio's group rule (its "Run status group" line), each direction's total over the
        // longest clone's runtime; the clones' own figures differ from it when their runtimes do
        // (by 1 ms in 500 here now and then).
        func group(_ dir: String, _ key: String) -> Double {
            let ms = fioJobs.compactMap { (($0[dir] as? [String: Any])?["runtime"] as? NSNumber)?.doubleValue }.max() ?? 0
            return ms > 0 ? sum(dir, key) / (ms / 1000) : 0
        }
        let single = fioJobs.count == 1
        let readIops = single ? sum("read", "iops") : group("read", "total_ios")
        let writeIops = single ? sum("write", "iops") : group("write", "total_ios")
        close(rep.metrics[Metric.iops.key], readIops + writeIops, "IOPS")
        close(rep.metrics[Metric.bandwidth.key], single ? sum("read", "bw_bytes") + sum("write", "bw_bytes")
                                                        : group("read", "io_bytes") + group("write", "io_bytes"), "bandwidth")
        if !single {
            // The clones' own figures add up to the group's within their runtimes' spread.
            let perClone = sum("read", "iops") + sum("write", "iops")
            #expect(abs(perClone - (readIops + writeIops)) <= (readIops + writeIops) * 0.01, "\(c): clones \(perClone) vs group \(readIops + writeIops)")
        }
        if readIops > 0 { close(rep.metrics[Metric.readIops.key], readIops, "read IOPS") }
        if writeIops > 0 { close(rep.metrics[Metric.writeIops.key], writeIops, "write IOPS") }
        // Percentiles of the main direction (reads for a mixed job), as fio printed them.
        let main = c.rw == "randwrite" ? "write" : "read"
        let printed = fioJobs.compactMap { (($0[main] as? [String: Any])?["clat_ns"] as? [String: Any])?["percentile"] as? [String: Double] }
        if fioJobs.count == 1 {
            #expect(rep.metrics[Metric.latP50.key] == printed.first?["50.000000"], "\(c): p50")
            #expect(rep.metrics[Metric.latP99.key] == printed.first?["99.000000"], "\(c): p99")
        } else if c.plus {
            // Clones reported one by one merge through their bins: the merged p99 lies between theirs.
            let p99 = try #require(rep.metrics[Metric.latP99.key], "\(c): no merged p99")
            let each = printed.compactMap { $0["99.000000"] }
            #expect(each.count == 2 && p99 >= each.min()! && p99 <= each.max()!, "\(c): merged p99 \(p99) vs clones \(each)")
        } else {
            #expect(rep.metrics[Metric.latP99.key] == nil && records[0].tags["fio.note"]?.contains("json+") == true,
                    "\(c): separate clones' percentiles cannot be merged without bins, and the record says so")
        }
        // json+ bins become the workload's histograms: each direction's count is fio's.
        if c.plus {
            #expect(rep.latencyNs?.histogram.totalCount == UInt64(sum("read", "total_ios") + sum("write", "total_ios")), "\(c): histogram count")
            if readIops > 0 { #expect(rep.readLatencyNs?.histogram.totalCount == UInt64(sum("read", "total_ios"))) }
            if writeIops > 0 { #expect(rep.writeLatencyNs?.histogram.totalCount == UInt64(sum("write", "total_ios"))) }
        } else {
            #expect(rep.latencyNs == nil)
        }
    }

    /// fio's percentile rule on its bins: the first bin where the running count reaches p %.
    @Test func percentileFollowsFiosRule() {
        let bins: [(value: UInt64, count: UInt64)] = [(100, 50), (200, 49), (300, 1)]
        #expect(FioImport.percentile(50, bins: bins) == 100)
        #expect(FioImport.percentile(99, bins: bins) == 200)
        #expect(FioImport.percentile(99.5, bins: bins) == 300)
        #expect(FioImport.percentile(50, bins: []) == nil)
    }
}
