import Foundation
import Testing
import VBenchTestSupport
import VBenchCore
@testable import VBenchStore

enum Records {
    static func make(kernel: String = "6.1.0-56-amd64", hypervisor: Hypervisor = .qemuTcg, device: String = "vda",
                     driver: String = "virtio_blk", controller: String = "virtio-pci", deviceClass: DeviceClass = .paravirtual,
                     role: RunRole = .guest, start: Double = 1_800_000_000, tags: [String: String] = [:],
                     iops: [Double] = [1000, 1100]) -> RunRecord {
        var h = LatencyHistogram()
        h.record(50_000, count: 10)
        let reps = iops.enumerated().map { i, v in
            RepetitionResult(index: i, elapsedNs: 1_000_000_000,
                             jobs: [JobResult(index: 0, readOps: UInt64(v), writeOps: 0, readBytes: UInt64(v) * 4096, writeBytes: 0,
                                              cpuUserNs: 10, cpuSystemNs: 20, submitCalls: 5, reapCalls: 5)],
                             latency: h, readLatency: h, writeLatency: nil)
        }
        let spec = BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 16, runtimeNs: 1_000_000_000,
                                     repetitions: iops.count)
        return RunRecord(
            runId: UUID(), startTime: Date(timeIntervalSince1970: start), endTime: Date(timeIntervalSince1970: start + 5),
            role: role, tool: ToolInfo(), tags: tags,
            environment: Environment(hostname: "guest", kernelRelease: kernel, cpuModel: "QEMU Virtual CPU", onlineCpus: 1,
                                     memoryBytes: 512 << 20, numaNodes: 1, hypervisor: HypervisorInfo(vendor: hypervisor)),
            device: DeviceInfo(kind: "block", name: device, sizeBytes: 64 << 20, driver: driver, controllerDriver: controller,
                               driverChain: [driver, controller], deviceClass: deviceClass),
            family: "blk", target: TargetInfo(path: "/dev/\(device)", kind: .blockDevice, sizeBytes: 64 << 20, direct: true, filesystem: nil),
            workloads: [WorkloadResult(spec: spec, repetitions: reps)])
    }

    static let receipt = Receipt(peer: "unix:/run/vbench.sock", receivedAt: Date(timeIntervalSince1970: 1_800_000_100),
                                 collectorHost: "host", collectorKernel: "6.18.44")
}

@Suite struct SQLiteStoreTests {
    @Test func storesOnceAndAnswersDuplicates() throws {
        let dir = try ScratchFolder()
        let store = try SQLiteRunStore(path: dir.path + "/vbench.sqlite")
        let r = Records.make()
        #expect(try store.store(r, receipt: Records.receipt) == .stored)
        #expect(try store.store(r, receipt: Records.receipt) == .duplicate)
        #expect(try store.runs(RunQuery()).count == 1)
        #expect(try store.record(r.runId) == r)
        #expect(try store.record(UUID()) == nil)
    }

    @Test func schemaIsMigratedAndTheJournalIsWAL() throws {
        let dir = try ScratchFolder()
        let path = dir.path + "/vbench.sqlite"
        let store = try SQLiteRunStore(path: path)
        #expect(try store.appliedMigrations() == ["1-runs"])
        let (status, output) = try sqlite(path, "PRAGMA journal_mode;")
        #expect(status == 0 && output.trimmingCharacters(in: .whitespacesAndNewlines) == "wal")
    }

    @Test func recordsSurviveReopening() throws {
        let dir = try ScratchFolder()
        let path = dir.path + "/vbench.sqlite"
        let r = Records.make()
        do {
            let store = try SQLiteRunStore(path: path)
            _ = try store.store(r, receipt: Records.receipt)
        }
        let again = try SQLiteRunStore(path: path)
        #expect(try again.record(r.runId) == r)
        #expect(try again.store(r, receipt: Records.receipt) == .duplicate)
    }

    @Test func queriesSelectByClassDriverKernelHypervisorRoleTagAndTime() throws {
        let dir = try ScratchFolder()
        let store = try SQLiteRunStore(path: dir.path + "/vbench.sqlite")
        let virtio = Records.make(start: 1_800_000_000, tags: ["lab": "a"])
        let ide = Records.make(device: "sda", driver: "sd", controller: "ata_piix", deviceClass: .emulated, start: 1_800_000_100, tags: ["lab": "a"])
        let newKernel = Records.make(kernel: "6.1.0-55-amd64", start: 1_800_000_200, tags: ["lab": "b"])
        let native = Records.make(hypervisor: .none, device: "nvme0n1", driver: "nvme", controller: "nvme", deviceClass: .native,
                                  role: .native, start: 1_800_000_300)
        for r in [virtio, ide, newKernel, native] { _ = try store.store(r, receipt: Records.receipt) }
        func ids(_ q: RunQuery) throws -> Set<UUID> { Set(try store.runs(q).map(\.runId)) }
        #expect(try ids(RunQuery(deviceClass: .emulated)) == [ide.runId])
        #expect(try ids(RunQuery(driver: "ata_piix")) == [ide.runId])
        #expect(try ids(RunQuery(driver: "virtio_blk")) == [virtio.runId, newKernel.runId])
        #expect(try ids(RunQuery(kernel: "6.1.0-55-amd64")) == [newKernel.runId])
        #expect(try ids(RunQuery(hypervisor: Hypervisor.none)) == [native.runId])
        #expect(try ids(RunQuery(role: .native)) == [native.runId])
        #expect(try ids(RunQuery(tags: ["lab": "a"])) == [virtio.runId, ide.runId])
        #expect(try ids(RunQuery(since: Date(timeIntervalSince1970: 1_800_000_150))) == [newKernel.runId, native.runId])
        #expect(try ids(RunQuery(since: Date(timeIntervalSince1970: 1_800_000_050), until: Date(timeIntervalSince1970: 1_800_000_250)))
                    == [ide.runId, newKernel.runId])
        let newestFirst = try store.runs(RunQuery(limit: 2)).map(\.runId)
        #expect(newestFirst == [native.runId, newKernel.runId])
        let row = try #require(try store.runs(RunQuery(deviceClass: .emulated)).first)
        #expect(row.device == "sda" && row.driver == "sd" && row.peer == "unix:/run/vbench.sock" && row.workloads == 1)
    }

    @Test func metricSamplesKeepEveryRepetition() throws {
        let dir = try ScratchFolder()
        let store = try SQLiteRunStore(path: dir.path + "/vbench.sqlite")
        let a = Records.make(kernel: "6.1.0-55-amd64", iops: [1000, 1010, 990])
        let b = Records.make(kernel: "6.1.0-56-amd64", iops: [900, 910])
        _ = try store.store(a, receipt: Records.receipt)
        _ = try store.store(b, receipt: Records.receipt)
        let samples = try store.metricSamples(RunQuery(kernel: "6.1.0-55-amd64"), metric: "iops")
        #expect(samples.map(\.value) == [1000, 1010, 990])
        #expect(samples.allSatisfy { $0.runId == a.runId && $0.workload == "randread-4k-qd16" })
        #expect(try store.metricSamples(RunQuery(), metric: "iops").count == 5)
    }

    @Test func concurrentWritersStoreEachRunIdOnce() throws {
        let dir = try ScratchFolder()
        let path = dir.path + "/vbench.sqlite"
        let records = (0..<20).map { Records.make(start: 1_800_000_000 + Double($0)) }
        let stores = try (0..<4).map { _ in try SQLiteRunStore(path: path) }  // four connections, as four collectors would
        let outcomes = NSLock()
        nonisolated(unsafe) var stored = 0, duplicates = 0
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for r in records.shuffled() {
                let outcome = try? stores[worker % stores.count].store(r, receipt: Records.receipt)
                outcomes.lock()
                if outcome == .stored { stored += 1 } else if outcome == .duplicate { duplicates += 1 }
                outcomes.unlock()
            }
        }
        #expect(stored == 20)
        #expect(duplicates == 140)
        #expect(try stores[0].runs(RunQuery()).count == 20)
    }

    @Test func unwritablePathIsNamed() {
        #expect {
            _ = try SQLiteRunStore(path: "/proc/vbench-no/vbench.sqlite")
        } throws: { error in
            "\(error)".contains("/proc/vbench-no/vbench.sqlite") && "\(error)".contains("permissions")
        }
    }
}

/// Runs the sqlite3 shell when it is installed; the test that uses it checks the WAL mode.
func sqlite(_ path: String, _ sql: String) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["timeout", "30", "python3", "-c",
                   "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(sys.argv[2]).fetchone()[0])", path, sql]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
