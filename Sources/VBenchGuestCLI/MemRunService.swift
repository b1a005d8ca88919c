import ArgumentParser
import FoundationEssentials
import VBenchCore
import VBenchReport
import VBenchMemory
import VBenchProbe
import VBenchSystem

/// `vbench run --device mem`: STREAM, the pointer chase and first touch, one record.
struct MemRunService {
    var sizeBytes: UInt64?
    var threads: Int?
    var iterations: Int?
    var output: OutputOptions
    var stream = true
    var chase = true

    func run() -> ExitCode {
        let fs = RootedFileSystem()
        let environment = SystemProbe(fs: fs).environment()
        let tags: [String: String]
        do { tags = try output.parsedTags() } catch { return fail("\(error)", code: VBenchExit.usage) }
        let caches = CacheTopology(fs: fs)
        let llc = caches.lastLevelBytes
        let arrayBytes = sizeBytes ?? MemHarness.streamArrayBytes(lastLevelCacheBytes: llc ?? 0)
        let threadCount = threads ?? Affinity.onlineCPUs()
        var allTags = tags
        if let llc { allTags["mem.lastLevelCacheBytes"] = "\(llc)" }
        // One node: say so; several: triad for every (CPU node, memory node) pair as well.
        let topology = NUMATopology(fs: fs, onlineCPUs: environment.onlineCpus)
        var pairs: [MemHarness.NUMAPair] = []
        if topology.nodes.count <= 1 {
            note("one NUMA node: measuring node 0 (local vs remote needs two or more nodes)")
            allTags["mem.numa"] = "single-node"
        } else {
            let cpusOf = Dictionary(topology.nodes.map { ($0.id, $0.cpus) }, uniquingKeysWith: { a, _ in a })
            pairs = topology.measurementPairs.map { MemHarness.NUMAPair(cpuNode: $0.cpuNode, cpus: cpusOf[$0.cpuNode] ?? [], memoryNode: $0.memoryNode) }
            note("\(topology.nodes.count) NUMA nodes: STREAM triad for each of \(pairs.count) (CPU node, memory node) pairs as well")
            allTags["mem.numa"] = "nodes=\(topology.nodes.count)"
        }
        let harness = MemHarness(arrayBytes: arrayBytes, threads: threadCount, iterations: iterations ?? 10,
                                 chaseSizes: MemHarness.chaseSizes(upTo: Int(max(arrayBytes, 16 << 20))), numaPairs: pairs,
                                 stream: stream, chase: chase)
        let live = ProgressLine()
        let start = Date()
        let workloads: [WorkloadResult]
        do { workloads = try harness.run { live.show($0) } } catch {
            live.clear()
            return fail("\(error)", code: VBenchExit.benchmarkFailed)
        }
        live.clear()
        let device = DeviceInfo(kind: "memory", name: environment.numaNodes <= 1 ? "node0" : "all-nodes",
                                sizeBytes: environment.memoryBytes,
                                deviceClass: environment.hypervisor.vendor == .none ? .native : .virtual)
        let record = RunRecord(runId: UUID(), startTime: start, endTime: Date(),
                               role: output.native ? .native : .guest, tool: ToolInfo(), tags: allTags,
                               environment: environment, device: device, family: "mem", target: nil, workloads: workloads)
        return output.emit(record, table: MemTable.render(record))
    }
}

/// The table `vbench run --device mem` prints.
enum MemTable {
    static func render(_ r: RunRecord) -> String {
        var table = ReportTable(title: "", header: ["WORKLOAD", "SIZE", "THREADS", "BEST", "MEDIAN", "COV", "N"], numeric: [1, 2, 3, 4, 5, 6])
        for w in r.workloads {
            guard let spec = w.spec.mem else { continue }
            let isChase = spec.test == .chase
            let key = isChase ? Metric.loadLatency.key : Metric.bandwidth.key
            guard let s = w.summary[key] else { continue }
            func show(_ v: Double) -> String {
                isChase ? formatFixed(v, digits: 1) + " ns" : formatFixed(v / 1e9, digits: 2) + " GB/s"
            }
            // STREAM reports the best (minimum time = maximum rate); latency's best is the minimum.
            let best = isChase ? s.min : s.max
            table.append([w.name, ByteCount.human(spec.arrayBytes), "\(spec.threads)", show(best), show(s.median),
                               formatFixed(s.cov * 100, digits: 1) + "%", "\(w.repetitions.count)"])
        }
        let env = r.environment
        return "memory of \(r.role == .native ? "the native host" : "a guest") on \(env.hypervisor.vendor.displayName), kernel \(env.kernelRelease), \(env.onlineCpus) CPUs, \(env.numaNodes) NUMA node(s)\n"
            + TableRenderer.text(table)
            + "\nSTREAM: GB/s = 10^9 bytes/s as STREAM counts them, best of the iterations after the first; first touch: the three arrays' first writes (page faults per second in the record); chase: ns per dependent load."
    }
}
