import FoundationEssentials
import VBenchCore

/// Records with chosen repetition values: what `compare` sees from real runs, without the runs.
public enum Synthetic {
    public static func record(iops: [Double], p99Ns: [Double]? = nil, driver: String = "virtio_blk", workload: String = "randread-4k-qd32",
                       kernel: String = "6.1.0-56-amd64", tags: [String: String] = [:], role: RunRole = .guest,
                       latencyNs: [UInt64]? = nil) -> RunRecord {
        var reps: [RepetitionResult] = []
        for (i, v) in iops.enumerated() {
            var histogram: LatencyHistogram?
            if let values = latencyNs {
                var h = LatencyHistogram()
                for v in values { h.record(v) }
                histogram = h
            }
            var rep = RepetitionResult(index: i, elapsedNs: 1_000_000_000, jobs: [], latency: histogram, readLatency: nil, writeLatency: nil)
            rep.metrics = [Metric.iops.key: v, Metric.bandwidth.key: v * 4096]
            if let p = p99Ns { rep.metrics[Metric.latP99.key] = p[i] }
            reps.append(rep)
        }
        var spec = BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 32, runtimeNs: 1_000_000_000)
        spec.name = workload
        return RunRecord(
            runId: UUID(), startTime: Date(timeIntervalSince1970: 1_800_000_000), endTime: Date(timeIntervalSince1970: 1_800_000_010),
            role: role, tool: ToolInfo(), tags: tags,
            environment: Environment(hostname: "h", kernelRelease: kernel, cpuModel: "cpu", onlineCpus: 2,
                                     memoryBytes: 1 << 30, numaNodes: 1, hypervisor: HypervisorInfo(vendor: .qemuTcg)),
            device: DeviceInfo(kind: "block", name: "vda", driver: driver == "ata_piix" ? "sd" : driver,
                               controllerDriver: driver == "ata_piix" ? "ata_piix" : "virtio-pci", driverChain: [driver],
                               deviceClass: driver == "ata_piix" ? .emulated : .paravirtual),
            family: "blk", target: nil, workloads: [WorkloadResult(spec: .block(spec), repetitions: reps)])
    }

    /// `n` values around `mean` with a fixed ±`spread` pattern (deterministic noise).
    public static func around(_ mean: Double, _ n: Int, spread: Double = 0.01) -> [Double] {
        (0..<n).map { mean * (1 + spread * [0.9, -0.7, 0.3, -1.0, 0.6, -0.2, 0.8, -0.5, 0.1, -0.4][$0 % 10]) }
    }
}

