import VBenchCore
import VBenchSystem

/// Runs the memory workloads and turns them into a RunRecord's workloads: STREAM copy, scale,
/// add and triad (one repetition per timed iteration, the first dropped), the pointer chase
/// over a range of sizes, and the first-touch page-fault rate.
public struct MemHarness: Sendable {
    public var arrayBytes: UInt64
    public var threads: Int
    public var iterations: Int
    public var chaseSizes: [Int]
    public var chaseRepetitions: Int
    public var pin: Bool
    /// On a machine with several NUMA nodes: STREAM triad with threads on one node's CPUs and
    /// the arrays bound to another node (local on the diagonal, remote elsewhere). Empty on one node.
    public var numaPairs: [NUMAPair]
    /// Which parts run: STREAM (with the first touch of its arrays and the NUMA pairs) and the chase.
    public var stream: Bool
    public var chase: Bool

    public struct NUMAPair: Sendable, Equatable {
        public var cpuNode: Int
        public var cpus: [Int]
        public var memoryNode: Int
        public init(cpuNode: Int, cpus: [Int], memoryNode: Int) {
            self.cpuNode = cpuNode
            self.cpus = cpus
            self.memoryNode = memoryNode
        }
    }

    /// STREAM's rule: each array at least four times the sum of the last-level caches; never
    /// below 64 MiB. `lastLevelCacheBytes` comes from the probe.
    public static func streamArrayBytes(lastLevelCacheBytes: UInt64) -> UInt64 {
        max(4 * lastLevelCacheBytes, 64 << 20)
    }

    /// Chase ranges from 16 KiB to `maxBytes` in steps of ×4, and `maxBytes` itself: L1, L2,
    /// last-level cache and DRAM each get points.
    public static func chaseSizes(upTo maxBytes: Int) -> [Int] {
        var sizes: [Int] = []
        var s = 16 << 10
        while s <= maxBytes { sizes.append(s); s *= 4 }
        if sizes.last != maxBytes { sizes.append(maxBytes) }
        return sizes
    }

    public init(arrayBytes: UInt64, threads: Int, iterations: Int = 10, chaseSizes: [Int], chaseRepetitions: Int = 3, pin: Bool = true,
                numaPairs: [NUMAPair] = [], stream: Bool = true, chase: Bool = true) {
        self.numaPairs = numaPairs
        self.stream = stream
        self.chase = chase
        self.arrayBytes = arrayBytes
        self.threads = threads
        self.iterations = iterations
        self.chaseSizes = chaseSizes
        self.chaseRepetitions = chaseRepetitions
        self.pin = pin
    }

    public enum Problem: Error, CustomStringConvertible {
        case verification(String)
        case system(SystemError)
        public var description: String {
            switch self {
            case .verification(let why): "STREAM results are wrong: \(why)"
            case .system(let e): "\(e)"
            }
        }
    }

    public func run(progress: (String) -> Void = { _ in }) throws(Problem) -> [WorkloadResult] {
        var workloads = stream ? try streamWorkloads(progress: progress) : []
        if chase { workloads += try chaseWorkloads(progress: progress) }
        return workloads
    }

    func streamWorkloads(progress: (String) -> Void) throws(Problem) -> [WorkloadResult] {
        let elements = Int(arrayBytes) / MemoryLayout<Double>.stride
        progress("STREAM: 3 arrays of \(ByteCount.human(arrayBytes)), \(threads) thread(s), \(iterations) iterations")
        let stream: StreamBenchmark.Result
        do { stream = try StreamBenchmark(elements: elements, threads: threads, iterations: iterations, pin: pin).run() } catch {
            throw .system(error)
        }
        if let why = stream.verificationError { throw .verification(why) }
        var workloads: [WorkloadResult] = []
        for test in [MemTest.copy, .scale, .add, .triad] {
            let bytes = Double((test.streamBytesPerElement ?? 0) * elements)
            let reps = (stream.seconds[test] ?? []).enumerated().map { i, s in
                RepetitionResult(index: i, elapsedNs: UInt64(s * 1e9), jobs: [], metrics: [Metric.bandwidth.key: bytes / s])
            }
            workloads.append(WorkloadResult(spec: .mem(MemWorkloadSpec(test: test, arrayBytes: arrayBytes, threads: threads, pinned: pin,
                                                                      repetitions: iterations - 1)),
                                            repetitions: reps))
        }
        let touch = RepetitionResult(index: 0, elapsedNs: UInt64(stream.firstTouchSeconds * 1e9), jobs: [],
                                     metrics: [Metric.pageFaults.key: Double(stream.firstTouchFaults) / max(stream.firstTouchSeconds, 1e-9),
                                               Metric.bandwidth.key: 3 * Double(arrayBytes) / max(stream.firstTouchSeconds, 1e-9)])
        workloads.append(WorkloadResult(spec: .mem(MemWorkloadSpec(test: .firstTouch, arrayBytes: 3 * arrayBytes, threads: threads,
                                                                  pinned: pin, repetitions: 1)), repetitions: [touch]))
        for pair in numaPairs {
            progress("STREAM triad: CPUs of node \(pair.cpuNode), memory on node \(pair.memoryNode)")
            let r: StreamBenchmark.Result
            do {
                r = try StreamBenchmark(elements: elements, threads: pair.cpus.count, iterations: iterations, pin: true,
                                        cpus: pair.cpus, memoryNode: pair.memoryNode).run()
            } catch { throw .system(error) }
            if let why = r.verificationError { throw .verification(why) }
            let bytes = Double((MemTest.triad.streamBytesPerElement ?? 0) * elements)
            let reps = (r.seconds[.triad] ?? []).enumerated().map { i, s in
                RepetitionResult(index: i, elapsedNs: UInt64(s * 1e9), jobs: [], metrics: [Metric.bandwidth.key: bytes / s])
            }
            let name = "stream-triad-cpu\(pair.cpuNode)-mem\(pair.memoryNode)"
            workloads.append(WorkloadResult(spec: .mem(MemWorkloadSpec(name: name, test: .triad, arrayBytes: arrayBytes, threads: pair.cpus.count,
                                                                      pinned: true, repetitions: iterations - 1, numaNode: pair.memoryNode)),
                                            repetitions: reps))
        }
        return workloads
    }

    func chaseWorkloads(progress: (String) -> Void) throws(Problem) -> [WorkloadResult] {
        var workloads: [WorkloadResult] = []
        for size in chaseSizes {
            progress("pointer chase over \(ByteCount.human(UInt64(size)))")
            let loads = max(1 << 20, min(size / PointerChase.slotBytes * 8, 1 << 24))
            var reps: [RepetitionResult] = []
            for r in 0..<chaseRepetitions {
                let ns: Double
                do { ns = try PointerChase(rangeBytes: size, seed: 0x5eed &+ UInt64(r)).run(loads: loads) } catch { throw .system(error) }
                reps.append(RepetitionResult(index: r, elapsedNs: UInt64(ns * Double(loads)), jobs: [],
                                             metrics: [Metric.loadLatency.key: ns]))
            }
            workloads.append(WorkloadResult(spec: .mem(MemWorkloadSpec(test: .chase, arrayBytes: UInt64(size), threads: 1, pinned: pin,
                                                                      repetitions: chaseRepetitions)), repetitions: reps))
        }
        return workloads
    }
}
