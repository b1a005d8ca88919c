import Synchronization
import VBenchCore
import VBenchSystem

/// Which engine moves the bytes.
public enum EngineKind: String, Sendable, CaseIterable {
    /// Linux native AIO with batched submit and reap.
    case libaio
    /// io_uring through liburing, file and buffers registered where the kernel allows.
    case ioUring = "io_uring"
    /// Completes every request at once: measures the harness.
    case null
}

/// Runs workloads against a prepared target: repetitions × jobs, each job a thread with its
/// own aio context, and turns job outcomes into repetition and workload results.
public struct BlockHarness: Sendable {
    public var target: PreparedTarget
    public var engine: EngineKind
    /// Called about every 100 ms while jobs run and at each step.
    public var progress: @Sendable (ProgressEvent) -> Void

    /// Where a run is, for the progress line.
    public struct ProgressEvent: Sendable {
        public var workload: String
        public var repetition: Int
        public var repetitions: Int
        public var elapsedNs: UInt64
        public var plannedNs: UInt64?
        public var completedOps: UInt64
    }

    public init(target: PreparedTarget, engine: EngineKind = .libaio,
                progress: @escaping @Sendable (ProgressEvent) -> Void = { _ in }) {
        self.target = target
        self.engine = engine
        self.progress = progress
    }

    /// Runs every repetition of `spec` and summarizes them.
    public func run(_ spec: BlockWorkloadSpec) throws(BlockError) -> WorkloadResult {
        var repetitions: [RepetitionResult] = []
        for index in 0..<spec.repetitions {
            repetitions.append(try runRepetition(spec, index: index))
        }
        if spec.verify && spec.readPercent < 100 {
            try verifyTarget(spec)
        }
        return WorkloadResult(spec: spec, repetitions: repetitions)
    }

    /// One repetition: all jobs start together and the slowest bounds the elapsed time.
    func runRepetition(_ spec: BlockWorkloadSpec, index: Int) throws(BlockError) -> RepetitionResult {
        let plans = jobPlans(spec, repetition: index)
        let outcomes = Mutex<[Int: JobOutcome]>([:])
        let setupFailures = Mutex<[Int: SystemError]>([:])
        let progresses = (0..<plans.count).map { _ in JobProgress() }
        let target = self.target
        let engine = self.engine
        let bs = spec.blockSizeBytes
        let barrier = StartBarrier(parties: plans.count)
        let planned = spec.runtimeNs.map { $0 + spec.rampNs }
        do throws(SystemError) {
            try ThreadGroup.run(count: plans.count, whileRunning: {
                let done = progresses.reduce(0) { $0 + $1.completedOps }
                let started = barrier.startNs
                progress(ProgressEvent(workload: spec.name, repetition: index + 1, repetitions: spec.repetitions,
                                       elapsedNs: started == 0 ? 0 : Clock.monotonicNs() &- started,
                                       plannedNs: planned, completedOps: done))
            }) { job in
                let plan = plans[job]
                do throws(SystemError) {
                    // Everything slow (open, buffers, io_setup) happens before the common start.
                    let file = try BenchmarkFile(path: target.path, writable: plan.spec.readPercent < 100,
                                                 direct: target.direct)
                    let buffers = try AlignedBuffer(count: spec.ioDepth * bs)
                    Self.fillRandom(buffers.base, count: buffers.count, seed: plan.seed)
                    func startTogether<E: IOEngine & ~Copyable>(_ engine: inout E) -> JobOutcome {
                        BlockJobRunner.run(plan, engine: &engine, buffers: buffers.base,
                                           startNs: barrier.arriveAndWait(), progress: progresses[job])
                    }
                    let outcome: JobOutcome
                    switch engine {
                    case .libaio:
                        var e = try LibAIOEngine(descriptor: file.descriptor, depth: spec.ioDepth)
                        outcome = startTogether(&e)
                    case .ioUring:
                        var e = try IOURingEngine(descriptor: file.descriptor, depth: spec.ioDepth, buffers: buffers.base, count: buffers.count)
                        outcome = startTogether(&e)
                    case .null:
                        var e = NullEngine(depth: spec.ioDepth)
                        outcome = startTogether(&e)
                    }
                    outcomes.withLock { $0[job] = outcome }
                } catch {
                    setupFailures.withLock { $0[job] = error }
                    barrier.abandon()
                }
            }
        } catch {
            throw .system(error)
        }
        if let (job, error) = setupFailures.withLock({ $0.min { $0.key < $1.key } }) {
            throw .jobFailed(workload: spec.name, job: job, failure: .system(error))
        }
        let results = outcomes.withLock { $0 }.sorted { $0.key < $1.key }.map(\.value)
        if let (job, failure) = results.enumerated().compactMap({ i, o in o.failure.map { (i, $0) } }).first {
            if case .verify(let mismatch) = failure { throw .verifyFailed(path: target.path, mismatch: mismatch) }
            throw .jobFailed(workload: spec.name, job: job, failure: failure)
        }
        var read = LatencyHistogram(), write = LatencyHistogram(), all = LatencyHistogram()
        var jobs: [JobResult] = []
        for (i, o) in results.enumerated() {
            read.absorb(o.readLatency)
            write.absorb(o.writeLatency)
            jobs.append(JobResult(index: i, readOps: o.readOps, writeOps: o.writeOps, readBytes: o.readBytes,
                                  writeBytes: o.writeBytes, cpuUserNs: o.cpuUserNs, cpuSystemNs: o.cpuSystemNs,
                                  submitCalls: o.submitCalls, reapCalls: o.reapCalls))
        }
        all.absorb(read)
        all.absorb(write)
        let start = results.map(\.measureStartNs).min() ?? 0
        let end = results.map(\.measureEndNs).max() ?? start
        return RepetitionResult(index: index, elapsedNs: end &- start, jobs: jobs,
                                latency: all, readLatency: read, writeLatency: write)
    }

    /// Sequential jobs get a slice each; random jobs address the whole target.
    func jobPlans(_ spec: BlockWorkloadSpec, repetition: Int) -> [JobPlan] {
        let bs = UInt64(spec.blockSizeBytes)
        let slice = target.sizeBytes / UInt64(spec.numJobs) / bs * bs
        return (0..<spec.numJobs).map { job in
            let sequential = !spec.pattern.isRandom
            return JobPlan(
                spec: spec, jobIndex: job,
                regionStart: sequential ? UInt64(job) * slice : 0,
                regionBytes: sequential ? max(bs, slice) : target.sizeBytes,
                checkReads: spec.verify && target.holdsVerifyPattern && (target.direct || spec.readPercent == 100),
                seed: spec.seed &+ UInt64(repetition) &* 0x1000_0000_01B3 &+ UInt64(job))
        }
    }

    /// Reads the whole target back after a writing workload and checks every 512-byte unit.
    func verifyTarget(_ spec: BlockWorkloadSpec) throws(BlockError) {
        let chunk = 1 << 20
        do {
            let file = try BenchmarkFile(path: target.path, writable: false, direct: target.direct)
            let buffer = try AlignedBuffer(count: chunk)
            var offset: UInt64 = 0
            while offset < target.sizeBytes {
                let n = Int(min(UInt64(chunk), target.sizeBytes - offset))
                let got = try file.read(into: buffer.base, count: n, at: offset)
                if got < n {
                    throw BlockError.verifyFailed(path: target.path, mismatch: .init(offset: offset + UInt64(got), reason: "short read during verify"))
                }
                if let mismatch = VerifyPattern.check(buffer.base, count: n, offset: offset) {
                    if !target.holdsVerifyPattern && mismatch.reason.hasPrefix("no vbench pattern") {
                        // A device or existing file: only blocks this run wrote carry the pattern.
                        offset += UInt64(n)
                        continue
                    }
                    throw BlockError.verifyFailed(path: target.path, mismatch: mismatch)
                }
                offset += UInt64(n)
            }
        } catch let e as BlockError {
            throw e
        } catch let e as SystemError {
            throw .system(e)
        } catch {
            throw .system(SystemError("verify", target.path, errno: .ioError))
        }
    }

    /// Lets jobs start together once every one of them is ready; a job that failed to get
    /// ready abandons its place so the others do not wait for it.
    final class StartBarrier: Sendable {
        private let parties: Int
        private let arrived = Atomic<Int>(0)
        private let start = Atomic<UInt64>(0)

        init(parties: Int) { self.parties = parties }

        /// The common start time (monotonic ns), or 0 before everyone arrived.
        var startNs: UInt64 { start.load(ordering: .acquiring) }

        /// Waits for the others; returns the common start time.
        func arriveAndWait() -> UInt64 {
            if arrived.add(1, ordering: .acquiringAndReleasing).newValue == parties {
                start.store(Clock.monotonicNs(), ordering: .releasing)
            }
            while true {
                let s = start.load(ordering: .acquiring)
                if s != 0 { return s }
                Clock.sleep(nanoseconds: 50_000)
            }
        }

        func abandon() {
            if arrived.add(1, ordering: .acquiringAndReleasing).newValue == parties {
                start.store(Clock.monotonicNs(), ordering: .releasing)
            }
        }
    }

    static func fillRandom(_ base: UnsafeMutableRawPointer, count: Int, seed: UInt64) {
        let words = base.bindMemory(to: UInt64.self, capacity: count / 8)
        var s = seed | 1
        for i in 0..<(count / 8) { words[i] = VerifyPattern.splitMix(&s) }
    }
}
