import FoundationEssentials
import Testing
import VBenchTestSupport
@testable import VBenchCore

@Suite struct CapacityTests {
    static let records = [
        Synthetic.record(iops: Synthetic.around(80_000, 3), role: .native),
        Synthetic.record(iops: Synthetic.around(25_000, 3), latencyNs: (1...100).map { UInt64($0) * 20_000 }),
        Synthetic.record(iops: Synthetic.around(4_000, 3), driver: "ata_piix"),
        Synthetic.record(iops: Synthetic.around(3_000, 3), workload: "randread-4k-qd1"),
    ]

    @Test func theSmallestBoundBindsAndUtilizationFollows() throws {
        let need = try CapacityNeed.parse("blk.randread.iops=5000").get()
        #expect(need.metric == "iops" && need.workload == "randread" && need.value == 5000)
        let plan = CapacityPlanner.plan(Self.records, needs: [need], hostCores: 2)
        let virtio = try #require(plan.answers.first { $0.device == "virtio_blk" })
        // The best matching workload (qd32, not qd1); device 80k/5k = 16, CPU 2 x 25k/5k = 10.
        #expect(virtio.workload == "randread-4k-qd32")
        #expect(virtio.bounds.first { $0.resource == "device" }?.guests == 16)
        #expect(virtio.bounds.first { $0.resource == "cpu" }?.guests == 10)
        #expect(virtio.guests == 10 && virtio.binding == "cpu")
        #expect(abs(virtio.utilization["device"]! - 50_000.0 / 80_000) < 0.01 && abs(virtio.utilization["cpu"]! - 1) < 0.01)
        // One IDE guest cannot reach 5000 IOPS at all.
        let ide = try #require(plan.answers.first { $0.device == "ata_piix" })
        #expect(ide.guests == 0 && ide.binding == "guest")
        #expect(plan.model.count >= 5 && plan.warnings.isEmpty)
    }

    @Test func latencyLimitAndMissingPieces() throws {
        let need = try CapacityNeed.parse("blk.randread.iops=1000").get()
        // virtio's p99 is 1.98 ms: allowed under 2 ms, not under 1 ms.
        #expect(CapacityPlanner.plan(Self.records, needs: [need], hostCores: 2, p99MaxNs: 2e6).answers.first { $0.device == "virtio_blk" }?.binding == "cpu")
        let strict = CapacityPlanner.plan(Self.records, needs: [need], hostCores: 2, p99MaxNs: 1e6)
        #expect(strict.answers.first { $0.device == "virtio_blk" }?.binding == "latency")
        #expect(strict.warnings.contains { $0.contains("no latency histogram") }, "IDE has none: said, not guessed")
        // No native run: the device bound is unknown and the plan says so.
        let guestsOnly = CapacityPlanner.plan(Array(Self.records.dropFirst()), needs: [need], hostCores: 2)
        #expect(guestsOnly.answers.first { $0.device == "virtio_blk" }?.bounds.contains { $0.resource == "device" } == false)
        #expect(guestsOnly.warnings.contains { $0.contains("no native run of randread-4k-qd32") })
        #expect(CapacityPlanner.plan(Self.records, needs: [try CapacityNeed.parse("net.stream.bps=1e9").get()], hostCores: 2).warnings
            .contains { $0.contains("no net workload named like 'stream'") })
    }

    @Test func needsAreParsedStrictly() {
        for bad in ["blk.randread.iops", "blk.randread.iops=-5", "gpu.x.iops=1", "blk.iops=5", "blk.randread.speed=5", "blk.randread.iops=inf"] {
            if case .success = CapacityNeed.parse(bad) { Issue.record("accepted \(bad)") }
        }
        #expect((try? CapacityNeed.parse("net.stream.bps=1e9").get())?.metric == "throughputBitsPerSec")
        #expect((try? CapacityNeed.parse("mem.triad.bw=2e9").get())?.metric == "bwBytesPerSec")
    }
}

@Suite struct USLTests {
    @Test func fitRecoversKnownCoefficients() throws {
        // X(N) from λ = 1000, σ = 0.05, κ = 0.002 at N = 1…8: the fit finds them back.
        let truth = USLFit(lambda: 1000, sigma: 0.05, kappa: 0.002, knee: nil, rmsRelativeError: 0)
        let points = (1...8).map { (Double($0), truth.throughput(Double($0))) }
        let f = try #require(USLFit.fit(points))
        #expect(abs(f.sigma - 0.05) < 1e-6 && abs(f.kappa - 0.002) < 1e-7 && f.rmsRelativeError < 1e-9)
        #expect(abs(f.knee! - (0.95 / 0.002).squareRoot()) < 1e-3)
        // Linear scaling: σ = κ = 0, no knee.
        let linear = try #require(USLFit.fit((1...4).map { (Double($0), 500.0 * Double($0)) }))
        #expect(linear.sigma < 1e-9 && linear.kappa < 1e-9 && linear.knee == nil)
        // Too few counts, or no N = 1: no fit.
        #expect(USLFit.fit([(1, 100), (2, 180), (4, 300)]) == nil)
        #expect(USLFit.fit([(2, 180), (3, 250), (4, 300), (5, 320)]) == nil)
    }

    @Test func sweepRecordsBoundTheGuests() throws {
        // 1…4 concurrent guests of 20k IOPS alone, sharing like σ = 0.1, κ = 0.01.
        let truth = USLFit(lambda: 20_000, sigma: 0.1, kappa: 0.01, knee: nil, rmsRelativeError: 0)
        var records: [RunRecord] = []
        for n in 1...4 {
            for g in 0..<n {
                records.append(Synthetic.record(iops: Synthetic.around(truth.throughput(Double(n)) / Double(n), 3, spread: 0),
                                                tags: ["lab.guests": "\(n)", "lab.guest": "\(g)"]))
            }
        }
        let plan = CapacityPlanner.plan(records, needs: [try CapacityNeed.parse("blk.randread.iops=5000").get()], hostCores: 16)
        let a = try #require(plan.answers.first)
        #expect(a.sweep.map(\.guests) == [1, 2, 3, 4] && abs(a.sweep[3].aggregate - truth.throughput(4)) < 1)
        #expect(abs(a.usl!.sigma - 0.1) < 1e-6 && abs(a.usl!.kappa - 0.01) < 1e-6)
        // Per guest X(N)/N >= 5000 holds up to N = 3 (X(4)/4 ≈ 4237): the sweep binds at 3.
        let expected = (1...20).last { truth.throughput(Double($0)) / Double($0) >= 5000 }!
        #expect(a.binding == "sweep" && a.guests == expected, "\(a.bounds)")
        #expect(abs(a.guestValue - 20_000) < 1, "the single-guest value comes from guests measured alone")
    }
}
