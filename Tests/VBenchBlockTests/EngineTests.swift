import Foundation
import Testing
@testable import VBenchBlock
import VBenchCore
import VBenchSystem
import SystemPackage

/// The engine on real files with O_DIRECT.
@Suite(.serialized) struct EngineTests {
    @Test func createdFileIsFullyAllocatedFilledAndRemoved() throws {
        let dir = try ScratchFolder()
        let target = try prepare(dir.path + "/t.dat", size: 4 << 20)
        #expect(target.created && target.holdsVerifyPattern && target.direct)
        let attributes = try FileManager.default.attributesOfItem(atPath: target.path)
        #expect((attributes[.size] as? NSNumber)?.uint64Value == 4 << 20)
        // Every 512-byte unit carries the pattern: reads hit written blocks, not holes.
        let data = try Data(contentsOf: URL(fileURLWithPath: target.path))
        data.withUnsafeBytes { raw in
            #expect(VerifyPattern.check(raw.baseAddress!, count: raw.count, offset: 0) == nil)
        }
        try BlockTargetPreparer.cleanUp(target)
        #expect(!FileManager.default.fileExists(atPath: target.path))
    }

    /// Both real engines move the same bytes, op for op.
    @Test(arguments: [(IOPattern.read, 4096, 1, 1), (.randread, 4096, 16, 1), (.write, 65536, 8, 2), (.randwrite, 512, 4, 1)],
          [EngineKind.libaio, .ioUring])
    func sizeBoundRunsMoveExactlyTheAskedBytes(shape: (pattern: IOPattern, bs: Int, depth: Int, jobs: Int), engine: EngineKind) throws {
        let (pattern, bs, depth, jobs) = shape
        let dir = try ScratchFolder()
        let target = try prepare(dir.path + "/t.dat", size: 8 << 20, bs: bs)
        defer { try? BlockTargetPreparer.cleanUp(target) }
        let perJob: UInt64 = 2 << 20
        let spec = BlockWorkloadSpec(pattern: pattern, blockSizeBytes: bs, ioDepth: depth, numJobs: jobs,
                                     sizeBytes: perJob, repetitions: 2)
        let result = try BlockHarness(target: target, engine: engine).run(spec)
        #expect(result.repetitions.count == 2)
        for rep in result.repetitions {
            #expect(rep.readBytes + rep.writeBytes == perJob * UInt64(jobs))
            #expect(rep.readOps + rep.writeOps == perJob / UInt64(bs) * UInt64(jobs))
            #expect(rep.latencyNs?.histogram.totalCount == rep.readOps + rep.writeOps)
            #expect(rep.jobs.count == jobs)
            #expect(rep.elapsedNs > 0)
            if pattern.fixedReadPercent == 100 { #expect(rep.writeOps == 0) } else { #expect(rep.readOps == 0) }
        }
        #expect(result.summary["iops"]?.n == 2)
    }

    @Test func timeBoundRunMeasuresTheRuntime() throws {
        let dir = try ScratchFolder()
        let target = try prepare(dir.path + "/t.dat", size: 8 << 20)
        defer { try? BlockTargetPreparer.cleanUp(target) }
        let spec = BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 8,
                                     runtimeNs: 300_000_000, rampNs: 100_000_000, repetitions: 1)
        let rep = try #require(try BlockHarness(target: target).run(spec).repetitions.first)
        #expect(rep.elapsedNs == 300_000_000)
        #expect(rep.readOps > 0)
        #expect(rep.cpuUserNs + rep.cpuSystemNs > 0)
        #expect(rep.jobs[0].submitCalls > 0 && rep.jobs[0].reapCalls > 0)
        // Batching: one io_submit and one io_getevents serve several operations at QD8.
        #expect(rep.jobs[0].submitCalls < rep.readOps)
        #expect(rep.jobs[0].reapCalls < rep.readOps)
    }

    @Test(arguments: [EngineKind.libaio, .ioUring])
    func readMixIsHonoured(engine: EngineKind) throws {
        let dir = try ScratchFolder()
        let target = try prepare(dir.path + "/t.dat", size: 8 << 20)
        defer { try? BlockTargetPreparer.cleanUp(target) }
        let spec = BlockWorkloadSpec(pattern: .randrw, blockSizeBytes: 4096, ioDepth: 4, readPercent: 70,
                                     sizeBytes: 16 << 20, repetitions: 1)
        let rep = try #require(try BlockHarness(target: target, engine: engine).run(spec).repetitions.first)
        let share = Double(rep.readOps) / Double(rep.readOps + rep.writeOps)
        #expect(abs(share - 0.70) < 0.03, "read share \(share)")
        #expect(rep.readLatencyNs != nil && rep.writeLatencyNs != nil)
    }

    @Test(arguments: [EngineKind.libaio, .ioUring])
    func verifyRoundTripPassesAndCatchesCorruption(engine: EngineKind) throws {
        let dir = try ScratchFolder()
        let target = try prepare(dir.path + "/t.dat", size: 4 << 20)
        defer { try? BlockTargetPreparer.cleanUp(target) }
        let harness = BlockHarness(target: target, engine: engine)
        // Random writes of the pattern, then the read-back pass over the whole file.
        _ = try harness.run(BlockWorkloadSpec(pattern: .randwrite, blockSizeBytes: 8192, ioDepth: 8,
                                              sizeBytes: 4 << 20, repetitions: 1, verify: true))
        // Mixed reads and writes, every read checked while writes run.
        _ = try harness.run(BlockWorkloadSpec(pattern: .randrw, blockSizeBytes: 4096, ioDepth: 16, readPercent: 50,
                                              sizeBytes: 4 << 20, repetitions: 1, verify: true))
        // Corrupt one unit behind vbench's back: a sequential verified read must name its offset.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: target.path))
        try handle.seek(toOffset: 3 * 4096 + 512)
        try handle.write(contentsOf: Data(repeating: 0xAB, count: 100))
        try handle.synchronize()
        try handle.close()
        #expect {
            _ = try harness.run(BlockWorkloadSpec(pattern: .read, blockSizeBytes: 4096, ioDepth: 4,
                                                  sizeBytes: 4 << 20, repetitions: 1, verify: true))
        } throws: { error in
            guard case .verifyFailed(_, let mismatch) = error as? BlockError else { return false }
            return mismatch.offset == 3 * 4096 + 512
        }
    }

    /// io_uring registers the file and the job's buffers here (fio's registerfiles and
    /// fixedbufs), hands a batch to the kernel with one io_uring_enter, and names what to use
    /// when a kernel refuses it.
    @Test func ioUringRegistersFileAndBuffersAndSaysWhatToUseWhenRefused() throws {
        let dir = try ScratchFolder()
        let target = try prepare(dir.path + "/t.dat", size: 4 << 20)
        defer { try? BlockTargetPreparer.cleanUp(target) }
        let file = try BenchmarkFile(path: target.path, writable: false, direct: true)
        let buffers = try AlignedBuffer(count: 8 * 4096)
        let engine = try IOURingEngine(descriptor: file.descriptor, depth: 8, buffers: buffers.base, count: buffers.count)
        #expect(engine.registration.file && engine.registration.buffer)
        let spec = BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 8, runtimeNs: 200_000_000, repetitions: 1)
        let rep = try #require(try BlockHarness(target: target, engine: .ioUring).run(spec).repetitions.first)
        #expect(rep.readOps > 0 && rep.jobs[0].reapCalls < rep.readOps, "one io_uring_enter serves several operations at QD8")
        for e in [Errno.noFunction, .notPermitted, .invalidArgument] {
            #expect(IOURing.refusal(e).hasSuffix("use --engine libaio"), "\(e)")
        }
        #expect(IOURing.refusal(.notPermitted).contains("io_uring_disabled"))
        #expect(IOURing.disabledSetting() == nil || ["0", "1", "2"].contains(IOURing.disabledSetting()!))
    }

    @Test func nullEngineExercisesTheHarnessWithoutIO() throws {
        let dir = try ScratchFolder()
        let target = try prepare(dir.path + "/t.dat", size: 1 << 20)
        defer { try? BlockTargetPreparer.cleanUp(target) }
        let spec = BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 32, sizeBytes: 64 << 20, repetitions: 1)
        let rep = try #require(try BlockHarness(target: target, engine: .null).run(spec).repetitions.first)
        #expect(rep.readOps == 16384)
    }

    @Test func verifyPatternDetectsMisplacedAndZeroedData() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { buffer.deallocate() }
        VerifyPattern.fill(buffer, count: 4096, offset: 8192, generation: 5)
        #expect(VerifyPattern.check(buffer, count: 4096, offset: 8192) == nil)
        #expect(VerifyPattern.check(buffer, count: 4096, offset: 0)?.reason.contains("misplaced") == true)
        memset(buffer + 1024, 0, 512)
        #expect(VerifyPattern.check(buffer, count: 4096, offset: 8192)?.offset == 8192 + 1024)
    }
}
