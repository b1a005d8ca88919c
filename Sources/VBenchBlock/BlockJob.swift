import Synchronization
import VBenchCore
import VBenchSystem

/// What one job (thread) does in one repetition.
public struct JobPlan: Sendable {
    public var spec: BlockWorkloadSpec
    public var jobIndex: Int
    /// The byte range this job addresses: the whole target for random patterns, its own slice
    /// for sequential ones.
    public var regionStart: UInt64
    public var regionBytes: UInt64
    /// Check every read against the verify pattern.
    public var checkReads: Bool
    /// Seed for this job's offsets and read/write choices.
    public var seed: UInt64
}

/// Why a job stopped early.
public enum JobFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case system(SystemError)
    case shortTransfer(offset: UInt64, expected: Int, got: Int64)
    case verify(VerifyPattern.Mismatch)

    public var description: String {
        switch self {
        case .system(let e): "\(e)"
        case let .shortTransfer(offset, expected, got):
            got < 0
                ? "I/O at byte offset \(offset) failed: errno \(-got)"
                : "I/O at byte offset \(offset) moved \(got) of \(expected) bytes"
        case .verify(let m): "verify failed \(m)"
        }
    }
}

/// Counters and histograms of one job in one repetition.
public struct JobOutcome: Sendable {
    public var readOps: UInt64 = 0
    public var writeOps: UInt64 = 0
    public var readBytes: UInt64 = 0
    public var writeBytes: UInt64 = 0
    public var readLatency = LatencyHistogram()
    public var writeLatency = LatencyHistogram()
    public var cpuUserNs: UInt64 = 0
    public var cpuSystemNs: UInt64 = 0
    public var submitCalls: UInt64 = 0
    public var reapCalls: UInt64 = 0
    /// When measuring started and ended (monotonic ns).
    public var measureStartNs: UInt64 = 0
    public var measureEndNs: UInt64 = 0
    public var failure: JobFailure?
}

/// Live progress of a job, read by the progress line.
public final class JobProgress: Sendable {
    let completed = Atomic<UInt64>(0)
    public init() {}
    public var completedOps: UInt64 { completed.load(ordering: .relaxed) }
}

/// The job loop: fill free slots, submit them in one call, reap up to `ioDepth` completions in
/// one call, time each operation from submission to completion in integer nanoseconds.
public enum BlockJobRunner {
    /// Runs one job to completion on `engine`.
    /// - Parameters:
    ///   - startNs: common start time of all jobs (monotonic), ramp begins here.
    public static func run<Engine: IOEngine & ~Copyable>(
        _ plan: JobPlan, engine: inout Engine, buffers: UnsafeMutableRawPointer,
        startNs: UInt64, progress: JobProgress
    ) -> JobOutcome {
        let spec = plan.spec
        let bs = spec.blockSizeBytes
        let depth = spec.ioDepth
        let batch = max(1, min(spec.submitBatch, depth))
        let firstChunk = max(1, min(spec.submitFirstChunk, batch))
        let blocks = max(1, plan.regionBytes / UInt64(bs))
        let rampEnd = startNs + spec.rampNs
        let deadline: UInt64? = spec.runtimeNs.map { rampEnd + $0 }
        let sizeLimit: UInt64? = spec.sizeBytes
        let verifyWrites = spec.verify
        let checkReads = plan.checkReads

        var out = JobOutcome()
        var rng = plan.seed &+ UInt64(plan.jobIndex) &* 0x9E37_79B9_7F4A_7C15
        var sequentialBlock: UInt64 = 0
        var generation: UInt64 = (plan.seed << 16) | UInt64(plan.jobIndex)
        var measuring = spec.rampNs == 0
        var cpuStart = Clock.threadCPU()
        var cpuAtDeadline: (userNs: UInt64, systemNs: UInt64)?
        out.measureStartNs = startNs
        var issuedBytes: UInt64 = 0
        var stopSubmitting = false
        var inflight = 0

        let submitTimes = UnsafeMutablePointer<UInt64>.allocate(capacity: depth)
        let isWrite = UnsafeMutablePointer<Bool>.allocate(capacity: depth)
        let offsets = UnsafeMutablePointer<UInt64>.allocate(capacity: depth)
        let freeSlots = UnsafeMutablePointer<Int>.allocate(capacity: depth)
        let requests = UnsafeMutablePointer<IORequest>.allocate(capacity: batch)
        let completions = UnsafeMutablePointer<IOCompletion>.allocate(capacity: depth)
        defer {
            submitTimes.deallocate(); isWrite.deallocate(); offsets.deallocate()
            freeSlots.deallocate(); requests.deallocate(); completions.deallocate()
        }
        for i in 0..<depth { freeSlots[i] = depth - 1 - i }
        var freeCount = depth

        loop: while true {
            var now = Clock.monotonicNs()
            if !measuring && now >= rampEnd {
                measuring = true
                out = JobOutcome(submitCalls: 0, reapCalls: 0)
                out.measureStartNs = rampEnd
                cpuStart = Clock.threadCPU()
            }
            if let deadline, now >= deadline, cpuAtDeadline == nil {
                // CPU is counted over the measured window only, like the operations.
                stopSubmitting = true
                cpuAtDeadline = Clock.threadCPU()
            }
            if let sizeLimit, measuring, issuedBytes >= sizeLimit { stopSubmitting = true }

            // Fill the queue before waiting for completions.
            // A refill starts with a small io_submit so the device gets work at once, then
            // doubles the chunk up to `batch`: log2(n) calls for n free slots instead of n.
            var chunk = firstChunk
            var isFirstChunk = true
            submitting: while !stopSubmitting && freeCount > 0 {
                if !isFirstChunk { now = Clock.monotonicNs() }
                isFirstChunk = false
                var n = min(freeCount, chunk)
                chunk = min(chunk * 2, batch)
                if let sizeLimit, measuring {
                    n = min(n, Int((sizeLimit - issuedBytes + UInt64(bs) - 1) / UInt64(bs)))
                }
                for i in 0..<n {
                    freeCount -= 1
                    let slot = freeSlots[freeCount]
                    let block: UInt64
                    if spec.pattern.isRandom {
                        block = next(&rng).multipliedFullWidth(by: blocks).high
                    } else {
                        block = sequentialBlock
                        sequentialBlock = sequentialBlock + 1 == blocks ? 0 : sequentialBlock + 1
                    }
                    let write: Bool = switch spec.readPercent {
                    case 100: false
                    case 0: true
                    default: next(&rng) % 100 >= UInt64(spec.readPercent)
                    }
                    let offset = plan.regionStart + block * UInt64(bs)
                    let buffer = buffers + slot * bs
                    if write && verifyWrites {
                        generation &+= 1
                        VerifyPattern.fill(buffer, count: bs, offset: offset, generation: generation)
                    }
                    isWrite[slot] = write
                    offsets[slot] = offset
                    submitTimes[slot] = now
                    requests[i] = IORequest(isWrite: write, offset: offset, buffer: buffer, count: bs, tag: slot)
                }
                switch engine.submit(UnsafeMutableBufferPointer(start: requests, count: n)) {
                case .success(let accepted):
                    out.submitCalls += 1
                    // Slots the kernel did not take go back to the free list, newest first.
                    for i in stride(from: n - 1, through: accepted, by: -1) {
                        freeSlots[freeCount] = requests[i].tag
                        freeCount += 1
                        if !spec.pattern.isRandom {
                            sequentialBlock = sequentialBlock == 0 ? blocks - 1 : sequentialBlock - 1
                        }
                    }
                    inflight += accepted
                    if measuring { issuedBytes += UInt64(accepted * bs) }
                    if accepted < n { break submitting }  // the kernel's queue is full: reap first
                    if let sizeLimit, measuring, issuedBytes >= sizeLimit { stopSubmitting = true }
                case .failure(let e):
                    out.failure = .system(e)
                    stopSubmitting = true
                }
            }

            if inflight == 0 {
                if stopSubmitting { break loop }
                continue
            }
            let got: Int
            switch engine.reap(minimum: 1, into: UnsafeMutableBufferPointer(start: completions, count: depth)) {
            case .success(let n): got = n
            case .failure(let e):
                out.failure = .system(e)
                break loop
            }
            out.reapCalls += 1
            now = Clock.monotonicNs()
            let counts = measuring && (deadline.map { now <= $0 } ?? true)
            for i in 0..<got {
                let c = completions[i]
                let slot = c.tag
                inflight -= 1
                freeSlots[freeCount] = slot
                freeCount += 1
                guard c.result == Int64(bs) else {
                    if out.failure == nil {
                        out.failure = .shortTransfer(offset: offsets[slot], expected: bs, got: c.result)
                    }
                    stopSubmitting = true
                    continue
                }
                if !isWrite[slot] && checkReads,
                   let mismatch = VerifyPattern.check(buffers + slot * bs, count: bs, offset: offsets[slot]) {
                    if out.failure == nil { out.failure = .verify(mismatch) }
                    stopSubmitting = true
                }
                guard counts else { continue }
                let latency = now &- submitTimes[slot]
                if isWrite[slot] {
                    out.writeOps += 1
                    out.writeLatency.record(latency)
                } else {
                    out.readOps += 1
                    out.readLatency.record(latency)
                }
            }
            if counts {
                out.measureEndNs = now
                progress.completed.store(out.readOps + out.writeOps, ordering: .relaxed)
            }
        }
        let cpuEnd = cpuAtDeadline ?? Clock.threadCPU()
        out.cpuUserNs = cpuEnd.userNs &- cpuStart.userNs
        out.cpuSystemNs = cpuEnd.systemNs &- cpuStart.systemNs
        out.readBytes = out.readOps * UInt64(bs)
        out.writeBytes = out.writeOps * UInt64(bs)
        if let deadline { out.measureEndNs = deadline }
        return out
    }

    /// xorshift64*: fast, good enough for offsets and read/write choices.
    @inline(__always)
    static func next(_ state: inout UInt64) -> UInt64 {
        if state == 0 { state = 0x2545_F491_4F6C_DD1D }
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
