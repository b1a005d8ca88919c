import Foundation
import Testing
import VBenchCore
import VBenchProbe
import VBenchSystem
import VBenchTestSupport
@testable import VBenchMemory

@Suite struct StreamTests {
    /// The kernels really ran: the arrays hold exactly what STREAM's scalar replay predicts.
    @Test(arguments: [1, 2, 3])
    func kernelsProduceWhatStreamPredicts(threads: Int) throws {
        let r = try StreamBenchmark(elements: 100_003, threads: threads, iterations: 4).run()
        #expect(r.verificationError == nil, "\(r.verificationError ?? "")")
        for test in [MemTest.copy, .scale, .add, .triad] {
            #expect(r.seconds[test]?.count == 3, "first of 4 iterations dropped")
            #expect(r.seconds[test]?.allSatisfy { $0 > 0 } == true)
        }
        #expect(r.firstTouchFaults > 0, "fresh anonymous pages fault on first touch")
    }

    /// A wrong element is caught by the verification pass.
    @Test func verificationCatchesACorruptedElement() throws {
        let a = try SharedDoubles(count: 1000), b = try SharedDoubles(count: 1000), c = try SharedDoubles(count: 1000)
        // Replay 3 iterations on the arrays the way the threads would, then corrupt one element.
        for j in 0..<1000 { a.pointer[j] = 2; b.pointer[j] = 2; c.pointer[j] = 0 }
        for _ in 0..<3 {
            Kernels.copy(c.pointer, a.pointer, 0, 1000)
            Kernels.scale(b.pointer, c.pointer, 3, 0, 1000)
            Kernels.add(c.pointer, a.pointer, b.pointer, 0, 1000)
            Kernels.triad(a.pointer, b.pointer, c.pointer, 3, 0, 1000)
        }
        #expect(StreamBenchmark.verify(a: a, b: b, c: c, iterations: 3) == nil)
        b.pointer[517] += 1
        #expect(StreamBenchmark.verify(a: a, b: b, c: c, iterations: 3)?.contains("b[517]") == true)
    }

    /// STREAM's counting: 16 bytes per element for copy and scale, 24 for add and triad.
    @Test func harnessRecordsStreamBandwidthAndChaseLatency() throws {
        let h = MemHarness(arrayBytes: 8 << 20, threads: 2, iterations: 3, chaseSizes: [16 << 10, 1 << 20], chaseRepetitions: 2)
        let workloads = try h.run()
        #expect(workloads.map(\.name) == ["stream-copy", "stream-scale", "stream-add", "stream-triad", "first-touch-24m", "chase-16k", "chase-1m"])
        let triad = try #require(workloads.first { $0.name == "stream-triad" })
        let rep = try #require(triad.repetitions.first)
        let expected = 24.0 * Double((8 << 20) / 8) / (Double(rep.elapsedNs) / 1e9)
        #expect(abs((rep.metrics["bwBytesPerSec"] ?? 0) - expected) / expected < 0.01)
        #expect(triad.repetitions.count == 2)
        #expect(workloads.last?.summary["loadLatencyNs"]?.min ?? 0 > 0)
        // Every metric is in the catalog, and a record of these workloads is sound.
        let keys = Set(workloads.flatMap { $0.repetitions.flatMap { $0.metrics.keys } })
        #expect(keys.isSubset(of: Set(Metric.mem.map(\.key))))
        let when = Date(timeIntervalSince1970: 1_800_000_000)
        let record = RunRecord(runId: UUID(), startTime: when, endTime: when, role: .guest, tool: ToolInfo(),
                               environment: Environment(hostname: "h", kernelRelease: "k", cpuModel: "c", onlineCpus: 2, memoryBytes: 1,
                                                        numaNodes: 1, hypervisor: HypervisorInfo(vendor: .kvm)),
                               device: DeviceInfo(kind: "memory", name: "node0", deviceClass: .virtual), family: "mem",
                               target: nil, workloads: workloads)
        #expect(try RunRecord.decode(try record.jsonData()) == record)
    }
}

@Suite struct PointerChaseTests {
    /// Sattolo's shuffle makes one cycle through every slot: the chase visits all of them.
    @Test(arguments: [2, 3, 64, 1000, 4096])
    func permutationIsOneCycleThroughEverySlot(count: Int) {
        let next = PointerChase.cycle(count: count, seed: 42)
        #expect(Set(next).count == count)
        var seen = Set<Int>()
        var p = 0
        for _ in 0..<count { seen.insert(p); p = next[p] }
        #expect(seen.count == count && p == 0, "back at the start after exactly count steps")
        #expect(PointerChase.cycle(count: count, seed: 42) == next && (count < 4 || PointerChase.cycle(count: count, seed: 43) != next))
    }

    @Test func chaseMeasuresAPositiveLatency() throws {
        let ns = try PointerChase(rangeBytes: 64 << 10).run(loads: 100_000)
        #expect(ns > 0 && ns.isFinite)
    }
}

@Suite struct CacheTopologyTests {
    /// A two-socket tree: two L3 instances (shared by different CPUs) are summed, L1i ignored.
    @Test func lastLevelCachesOfEverySocketAreSummed() throws {
        let root = try ScratchFolder()
        for cpu in 0..<4 {
            let base = "/sys/devices/system/cpu/cpu\(cpu)/cache"
            try root.write("\(base)/index0/level", "1"); try root.write("\(base)/index0/type", "Data"); try root.write("\(base)/index0/size", "32K")
            try root.write("\(base)/index0/shared_cpu_list", "\(cpu)")
            try root.write("\(base)/index1/level", "1"); try root.write("\(base)/index1/type", "Instruction"); try root.write("\(base)/index1/size", "32K")
            try root.write("\(base)/index1/shared_cpu_list", "\(cpu)")
            try root.write("\(base)/index3/level", "3"); try root.write("\(base)/index3/type", "Unified"); try root.write("\(base)/index3/size", "16384K")
            try root.write("\(base)/index3/shared_cpu_list", cpu < 2 ? "0-1" : "2-3")
        }
        let t = CacheTopology(fs: RootedFileSystem(root: root.path))
        #expect(t.lastLevelBytes == 2 * (16 << 20))
        #expect(t.caches.filter { $0.level == 1 }.count == 4)
        #expect(MemHarness.streamArrayBytes(lastLevelCacheBytes: 32 << 20) == 128 << 20)
        #expect(MemHarness.streamArrayBytes(lastLevelCacheBytes: 0) == 64 << 20)
        #expect(CacheTopology(fs: RootedFileSystem(root: root.path + "/nothing")).lastLevelBytes == nil)
    }

    @Test func thisMachineHasALastLevelCache() {
        // The development machine (and CI) exposes its caches in sysfs.
        #expect((CacheTopology(fs: RootedFileSystem()).lastLevelBytes ?? 0) > 0)
    }
}

@Suite struct NUMATests {
    /// A two-socket tree as sysfs lays it out (node0: CPUs 0-3,8-11; node1: 4-7,12-15;
    /// SLIT 10/21), plus a memory-only node 2 (CXL): pairs are every CPU node × every node.
    @Test func twoNodeTreeGivesLocalAndRemotePairs() throws {
        let root = try ScratchFolder()
        try root.write("/sys/devices/system/node/node0/cpulist", "0-3,8-11")
        try root.write("/sys/devices/system/node/node0/distance", "10 21 30")
        try root.write("/sys/devices/system/node/node0/meminfo", "Node 0 MemTotal:       65536000 kB\nNode 0 MemFree:        1 kB")
        try root.write("/sys/devices/system/node/node1/cpulist", "4-7,12-15")
        try root.write("/sys/devices/system/node/node1/distance", "21 10 30")
        try root.write("/sys/devices/system/node/node2/cpulist", "")
        try root.write("/sys/devices/system/node/node2/distance", "30 30 10")
        let t = NUMATopology(fs: RootedFileSystem(root: root.path), onlineCPUs: 16)
        #expect(t.nodes.map(\.id) == [0, 1, 2])
        #expect(t.nodes[0].cpus == [0, 1, 2, 3, 8, 9, 10, 11] && t.nodes[1].cpus == [4, 5, 6, 7, 12, 13, 14, 15])
        #expect(t.nodes[0].distances == [10, 21, 30] && t.nodes[0].memoryBytes == 65_536_000 * 1024)
        #expect(t.nodesWithCPUs.map(\.id) == [0, 1])
        let pairs = t.measurementPairs.map { "\($0.cpuNode)-\($0.memoryNode)" }
        #expect(pairs == ["0-0", "0-1", "0-2", "1-0", "1-1", "1-2"])
    }

    @Test func oneNodeMachinesMeasureNodeZero() throws {
        let root = try ScratchFolder()
        #expect(NUMATopology(fs: RootedFileSystem(root: root.path), onlineCPUs: 2).measurementPairs.map { "\($0.cpuNode)-\($0.memoryNode)" } == ["0-0"])
        let live = NUMATopology(fs: RootedFileSystem(), onlineCPUs: Affinity.onlineCPUs())
        #expect(live.nodes.first?.id == 0 && live.nodes.first?.cpus.isEmpty == false)
    }

    /// Arrays bound to node 0 through libnuma, threads pinned to the node's CPUs: the kernels
    /// verify, and the harness names the pair.
    @Test func triadOnMemoryBoundToANodeVerifies() throws {
        let r = try StreamBenchmark(elements: 50_000, threads: 2, iterations: 3, cpus: [0], memoryNode: 0).run()
        #expect(r.verificationError == nil)
        let h = MemHarness(arrayBytes: 1 << 20, threads: 1, iterations: 3, chaseSizes: [], numaPairs: [.init(cpuNode: 0, cpus: [0], memoryNode: 0)])
        let names = try h.run().map(\.name)
        #expect(names.contains("stream-triad-cpu0-mem0"))
        #expect(throws: (any Error).self) { try StreamBenchmark(elements: 1000, threads: 1, iterations: 2, memoryNode: 99).run() }
    }
}
