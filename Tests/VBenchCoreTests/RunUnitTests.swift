import Foundation
import Testing
@testable import VBenchCore
import VBenchTestSupport

/// Runs as the sample unit: simulated runs with a random run effect plus noise inside each run,
/// the variance components, the detectable change, drift, and history baselines.
@Suite struct RunUnitTests {
    /// Normal deviates from a seeded generator (Box–Muller).
    struct Normal {
        var rng: SplitMix64
        init(seed: UInt64) { rng = SplitMix64(seed: seed) }
        mutating func next(_ mu: Double = 0, _ sigma: Double = 1) -> Double {
            let u1 = Double(rng.next() >> 11) / Double(1 << 53) + 1e-300, u2 = Double(rng.next() >> 11) / Double(1 << 53)
            return mu + sigma * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
    }

    /// `runs` records of `reps` repetitions: each run's level is mean·(1 + runEffect·z), each
    /// repetition that level·(1 + noise·z).
    static func runs(_ count: Int, mean: Double, runEffect: Double, noise: Double, reps: Int, start: Double = 1_800_000_000,
                     spacing: Double = 60, drift: Double = 0, g: inout Normal) -> [RunRecord] {
        (0..<count).map { i in
            let t = start + Double(i) * spacing
            let level = mean * (1 + drift * (t - 1_800_000_000) / 86_400) * (1 + runEffect * g.next())
            var r = Synthetic.record(iops: (0..<reps).map { _ in level * (1 + noise * g.next()) })
            r.startTime = Date(timeIntervalSince1970: t)
            return r
        }
    }

    static func iops(_ c: Comparison) -> MetricComparison? { c.items.first { $0.metric == "iops" } }

    @Test func fDistributionMatchesReferenceValues() {
        // scipy.stats.f: ppf(0.95, 3, 10) = 3.70826, ppf(0.05, 5, 20) = 0.219388, cdf(2, 4, 12) = 0.841370.
        #expect(abs(FDistribution.quantile(0.95, d1: 3, d2: 10) - 3.7082648) < 1e-5)
        #expect(abs(FDistribution.quantile(0.05, d1: 5, d2: 20) - 0.2193881) < 1e-5)
        #expect(abs(FDistribution.cdf(2, d1: 4, d2: 12) - 0.8413696) < 1e-6)
    }

    @Test func varianceComponentsMatchAHandComputation() throws {
        // Computed independently with numpy and scipy (log scale, runs nested in two sides).
        let s = try #require(RunSpread.estimate([[[10, 11, 12], [14, 15, 13], [9, 10, 11]], [[20, 19, 21, 22], [22, 23, 21]]]))
        #expect(s.dfBetween == 3 && s.dfWithin == 11 && s.runs == 5 && s.repetitions == 16)
        #expect(abs(s.meanSquareBetween - 0.06364503899008075) < 1e-12 && abs(s.meanSquareWithin - 0.005737037208982584) < 1e-12)
        #expect(abs(s.repetitionsPerRun - 3.142857142857143) < 1e-12)
        #expect(abs(s.icc - 0.762562557571728) < 1e-9 && abs(s.iccUpper - 0.9683692283633752) < 1e-6)
        #expect(abs(s.designEffectUpper - 3.0750769179215185) < 1e-5 && !s.repetitionsCarryRunSpread)
        // No replication at one of the levels: nothing to estimate.
        #expect(RunSpread.estimate([[[1, 2, 3]], [[4, 5, 6]]]) == nil, "one run a side")
        #expect(RunSpread.estimate([[[1], [2], [3]]]) == nil, "one repetition a run")
    }

    @Test func theUpperBoundOfTheRunShareCoversTheTruth() {
        // ρ = 0.5 (run effect and noise of equal size), 6 runs of 5: the 95 % bound holds ≈ 95 %.
        var g = Normal(seed: 11)
        var covered = 0
        let trials = 400
        for _ in 0..<trials {
            let runs = (0..<6).map { _ in
                let level = g.next(0, 0.05)
                return (0..<5).map { _ in exp(level + g.next(0, 0.05)) }
            }
            if let s = RunSpread.estimate([runs]), s.iccUpper >= 0.5 { covered += 1 }
        }
        #expect(covered >= 360 && covered <= 395, "\(covered) of \(trials)")
    }

    @Test func falseAlarmsStayBelowAlphaWhenWholeRunsMove() {
        // A/A with a large run effect (10 %) and quiet repetitions (1 %): runs as the unit keep the
        // false alarm rate at α; taking repetitions as independent (the old unit) does not.
        var g = Normal(seed: 1)
        let trials = 300
        var runsFlagged = 0, repsFlagged = 0, repsTried = 0
        let t = Thresholds(alpha: 0.01, minChange: 0)
        for _ in 0..<trials {
            let a = Self.runs(6, mean: 30e9, runEffect: 0.10, noise: 0.01, reps: 9, g: &g)
            let b = Self.runs(6, mean: 30e9, runEffect: 0.10, noise: 0.01, reps: 9, start: 1_800_003_600, g: &g)
            if let i = Self.iops(Comparator.compare(baseline: a, candidate: b, thresholds: t)), i.verdict == .regression || i.verdict == .improvement {
                runsFlagged += 1
            }
            if repsTried < 100, let i = Self.iops(Comparator.compare(baseline: a, candidate: b, thresholds: t, unit: .repetitions)) {
                repsTried += 1
                if i.verdict == .regression || i.verdict == .improvement {
                    repsFlagged += 1
                }
            }
        }
        // α·300 = 3 expected; 9 or more has probability < 0.5 % under the binomial.
        #expect(runsFlagged <= 8, "runs as the unit: \(runsFlagged) of \(trials) A/A pairs flagged")
        #expect(repsFlagged >= 30, "repetitions as the unit cry wolf: \(repsFlagged) of \(repsTried)")
    }

    @Test func powerAtTheStatedDetectableChangeIsTheStatedPower() throws {
        // 6 runs a side, run effect 4 %, repetitions 1 % (5 each): the detectable change stated
        // for these sizes, applied as a true change, is caught about 80 % of the time — with the
        // threshold off and with a 5 % threshold that the change must also pass.
        for minChange in [0.0, 0.05] {
            var g = Normal(seed: minChange == 0 ? 2 : 3)
            let runSD = (0.04 * 0.04 + 0.01 * 0.01 / 5).squareRoot()
            let se = runSD * (2.0 / 6).squareRoot()
            let mdc = try #require(Detectability.minimumChange(relativeSE: se, degreesOfFreedom: 10, alpha: 0.01, threshold: minChange))
            let trials = 400
            var caught = 0
            for _ in 0..<trials {
                let a = Self.runs(6, mean: 1e5, runEffect: 0.04, noise: 0.01, reps: 5, g: &g)
                let b = Self.runs(6, mean: 1e5 * (1 - mdc), runEffect: 0.04, noise: 0.01, reps: 5, start: 1_800_003_600, g: &g)
                if Self.iops(Comparator.compare(baseline: a, candidate: b, thresholds: Thresholds(alpha: 0.01, minChange: minChange)))?.verdict == .regression {
                    caught += 1
                }
            }
            let rate = Double(caught) / Double(trials)
            #expect(rate > 0.72 && rate < 0.88, "threshold \(minChange): change \(mdc), caught \(caught) of \(trials)")
        }
        // The item states it too, from its own samples.
        var g = Normal(seed: 4)
        let i = try #require(Self.iops(Comparator.compare(baseline: Self.runs(6, mean: 1e5, runEffect: 0.04, noise: 0.01, reps: 5, g: &g),
                                                          candidate: Self.runs(6, mean: 1e5, runEffect: 0.04, noise: 0.01, reps: 5, g: &g))))
        #expect(i.sampleUnit == .runs && i.detectableChange! > 0.05 && i.detectableChange! < 0.25, "\(i.detectableChange!)")
    }

    @Test func oneRunASideIsTooFewRunsWithTheArithmetic() throws {
        let c = Comparator.compare(baseline: [Synthetic.record(iops: Synthetic.around(25_000, 9))],
                                   candidate: [Synthetic.record(iops: Synthetic.around(18_000, 9))])
        let i = try #require(Self.iops(c))
        #expect(i.verdict == .tooFewRuns && i.test == nil && i.sampleUnit == .runs && i.baseline.count == 1)
        let note = try #require(i.note)
        #expect(note.contains("1 vs 1 runs") && note.contains("2/C(2, 1) = 1.0000") && note.contains("5 vs 5 can (2/C(10, 5) = 0.0079)"), "\(note)")
        #expect(note.contains("vbench run --runs 5") && note.contains("run-to-run spread is unknown"), "\(note)")
        #expect(c.regressions.isEmpty && i.change! < -0.25, "a 28 % drop is still not a verdict from one run a side")
        // With a few runs a side the note gives the number the spread asks for.
        var g = Normal(seed: 5)
        let few = try #require(Self.iops(Comparator.compare(baseline: Self.runs(3, mean: 1e5, runEffect: 0.08, noise: 0.01, reps: 5, g: &g),
                                                            candidate: Self.runs(3, mean: 1e5, runEffect: 0.08, noise: 0.01, reps: 5, g: &g))))
        #expect(few.verdict == .tooFewRuns && few.runsNeeded! > 5, "\(few.note ?? "")")
        #expect(few.note!.contains("repetitions cannot stand in") && few.note!.contains("runs a side bring the detectable change down"), "\(few.note!)")
    }

    @Test func repetitionsStandInOnlyWhenTheRunsShowTheyMay() throws {
        // 40 history runs that agree better than their repetitions predict, and one candidate
        // run 20 % lower: 40 vs 1 runs cannot reach α (1/41), but the runs show no run-to-run
        // spread, so the repetitions stand in.
        let flat = (0..<40).map { i -> RunRecord in
            var r = Synthetic.record(iops: Synthetic.around(25_000, 10).shifted(by: i))
            r.startTime = Date(timeIntervalSince1970: 1_800_000_000 + Double(i) * 60)
            return r
        }
        let lower = [Synthetic.record(iops: Synthetic.around(20_000, 10))]
        let i = try #require(Self.iops(Comparator.compare(baseline: flat, candidate: lower)))
        #expect(i.sampleUnit == .repetitions && i.verdict == .regression, "\(i.note ?? "")")
        #expect(i.runSpread!.repetitionsCarryRunSpread && i.note!.contains("repetitions stand in"))
        // The same history with a 10 % run effect: too few runs, and the note says why reps cannot stand in.
        var g = Normal(seed: 6)
        let moving = Self.runs(40, mean: 25_000, runEffect: 0.10, noise: 0.01, reps: 10, g: &g)
        let j = try #require(Self.iops(Comparator.compare(baseline: moving, candidate: lower)))
        #expect(j.verdict == .tooFewRuns && !j.runSpread!.repetitionsCarryRunSpread && j.note!.contains("cannot stand in"), "\(j.note ?? "")")
        // Asked for, repetitions are the unit whatever the runs say, with the caveat.
        let k = try #require(Self.iops(Comparator.compare(baseline: moving, candidate: lower, unit: .repetitions)))
        #expect(k.sampleUnit == .repetitions && k.note!.contains("--unit repetitions"))
    }

    @Test func aLinearDriftIsNotAStep() throws {
        // Daily history drifting +1 %/day, then a burst of 6 runs: without a drift model the
        // drift reads as a change; with it, A/A stays quiet and a real 15 % step is still caught.
        let t = Thresholds(alpha: 0.01, minChange: 0.05)
        var g = Normal(seed: 8)
        var plainFlags = 0, driftFlags = 0, caught = 0, modelled = 0
        let trials = 50
        for _ in 0..<trials {
            let history = Self.runs(14, mean: 1e5, runEffect: 0.02, noise: 0.01, reps: 3, spacing: 86_400, drift: 0.01, g: &g)
            let burst = Self.runs(6, mean: 1e5, runEffect: 0.02, noise: 0.01, reps: 3, start: 1_800_000_000 + 15 * 86_400, spacing: 300,
                                  drift: 0.01, g: &g)
            if Self.iops(Comparator.compare(baseline: history, candidate: burst, thresholds: t))?.verdict != .unchanged { plainFlags += 1 }
            let d = try #require(Self.iops(Comparator.compare(baseline: history, candidate: burst, thresholds: t, drift: .auto)))
            if d.drift == .linear { modelled += 1 }
            if d.verdict == .regression || d.verdict == .improvement { driftFlags += 1 }
            let stepped = burst.map { r -> RunRecord in
                var r = r
                r.workloads = [WorkloadResult(spec: r.workloads[0].spec, repetitions: r.workloads[0].repetitions.map { rep in
                    var rep = rep
                    rep.metrics = rep.metrics.mapValues { $0 * 0.85 }
                    return rep
                })]
                return r
            }
            if Self.iops(Comparator.compare(baseline: history, candidate: stepped, thresholds: t, drift: .linear))?.verdict == .regression { caught += 1 }
        }
        #expect(modelled == trials, "14 daily runs and a burst a day later: the trend is identifiable")
        #expect(plainFlags >= 40, "the drift alone reads as a change without a model: \(plainFlags) of \(trials)")
        #expect(driftFlags <= 3, "with the drift model: \(driftFlags) of \(trials)")
        #expect(caught >= 42, "a 15 % step on top of the drift: \(caught) of \(trials)")
    }

    @Test func groupsBecomeTheUnitWhenSessionsShift() throws {
        // Six groups of four runs a side; each group (one `vbench run --runs 4`) shifted as a
        // whole by 5 %, runs inside it 1 % apart. Tagged, groups are the samples and A/A stays
        // quiet; the same runs without their group tags look like 24 independent runs a side.
        var g = Normal(seed: 12)
        func side(_ name: String, start: Double) -> [RunRecord] {
            (0..<6).flatMap { k -> [RunRecord] in
                let shift = 1 + 0.05 * g.next()
                return Self.runs(4, mean: 1e5 * shift, runEffect: 0.01, noise: 0.005, reps: 3, start: start + Double(k) * 3600, g: &g)
                    .map { r in var r = r; r.tags["runs.group"] = "\(name)\(k)"; return r }
            }
        }
        let t = Thresholds(alpha: 0.01, minChange: 0)
        var grouped = 0, ungrouped = 0, unitGroups = 0
        let trials = 60
        for _ in 0..<trials {
            let a = side("a", start: 1_800_000_000), b = side("b", start: 1_800_100_000)
            let i = try #require(Self.iops(Comparator.compare(baseline: a, candidate: b, thresholds: t)))
            if i.sampleUnit == .groups { unitGroups += 1 }
            if i.verdict == .regression || i.verdict == .improvement { grouped += 1 }
            let strip = { (rs: [RunRecord]) in rs.map { r in var r = r; r.tags = [:]; return r } }
            let j = try #require(Self.iops(Comparator.compare(baseline: strip(a), candidate: strip(b), thresholds: t)))
            if j.verdict == .regression || j.verdict == .improvement { ungrouped += 1 }
        }
        #expect(unitGroups >= trials - 3, "groups chosen in \(unitGroups) of \(trials)")
        #expect(grouped <= 3, "groups as the unit: \(grouped) of \(trials) A/A flagged")
        #expect(ungrouped >= 8, "runs as if independent across sessions: \(ungrouped) of \(trials) flagged")
        // The item says why, and counts the groups.
        let i = try #require(Self.iops(Comparator.compare(baseline: side("a", start: 1_800_000_000), candidate: side("b", start: 1_800_100_000))))
        #expect(i.baselineGroups == 6 && i.candidateGroups == 6 && i.baseline.count == 6 && i.note!.contains("groups are the unit"), "\(i.note ?? "")")
        // One group against one: too few groups.
        let one = try #require(Self.iops(Comparator.compare(baseline: side("a", start: 1_800_000_000), candidate: Array(side("b", start: 1_800_100_000).prefix(4)))))
        #expect(one.sampleUnit == .groups && one.verdict == .tooFewRuns && one.note!.contains("6 vs 1 groups"), "\(one.note ?? "")")
    }

    @Test func aSessionShiftIsLearnedFromNeighbouringSessions() throws {
        // Three sessions of two runs: means 1.00, 1.10, 0.95 of 100; each session's runs ±1 apart.
        // Relative to the level (101.667): d1 = 0.09836, d2 = -0.14754; each session mean's own
        // variance (runs 1 apart: s² = 0.5, over 2 runs) is 0.25/level².
        let s = try #require(SessionShift.estimate([[99.5, 100.5], [109.5, 110.5], [94.5, 95.5]]))
        let level = 101.6666666666667, v = 0.25 / (level * level)
        let d1 = 10 / level, d2 = -15 / level
        let expected = ((d1 * d1 - 2 * v + d2 * d2 - 2 * v) / 4).squareRoot()
        #expect(s.sessions == 3 && s.pairs == 2 && abs(s.relativeSD - expected) < 1e-12, "\(s.relativeSD) vs \(expected)")
        // Sessions that differ only as their runs predict give 0, and too little history nothing.
        #expect(SessionShift.estimate([[100, 102], [101, 103], [100, 102]])!.relativeSD < 0.005)
        #expect(SessionShift.estimate([[100, 102]]) == nil && SessionShift.estimate([[100], [101]]) == nil)
    }

    @Test func oneSessionASideWithHistoryKeepsFalseAlarmsAtAlpha() throws {
        // Sessions shift by 4 % as a whole, runs inside them by 2 %: one session against the next
        // (the kernel-upgrade design) false-alarms often on its runs alone; with ten earlier
        // sessions of the same machine the shift is in the test, and a 25 % drop is still caught.
        var g = Normal(seed: 14)
        var start = 1_800_000_000.0
        var group = 0
        func session(_ factor: Double = 1) -> [RunRecord] {
            let level = 1e5 * (1 + 0.04 * g.next()) * factor
            group += 1
            start += 3600
            return Self.runs(8, mean: level, runEffect: 0.02, noise: 0.01, reps: 3, start: start, g: &g)
                .map { r in var r = r; r.tags["runs.group"] = "s\(group)"; return r }
        }
        let t = Thresholds(alpha: 0.01, minChange: 0.05)
        var plain = 0, learned = 0, caught = 0, withShift = 0
        let trials = 60
        for _ in 0..<trials {
            let history = (0..<10).flatMap { _ in session() }
            let a = session(), b = session(), slow = session(0.75)
            if let i = Self.iops(Comparator.compare(baseline: a, candidate: b, thresholds: t)), i.verdict == .regression || i.verdict == .improvement { plain += 1 }
            let j = try #require(Self.iops(Comparator.compare(baseline: a, candidate: b, thresholds: t, sessionHistory: history)))
            if j.sessionShift != nil { withShift += 1 }
            if j.verdict == .regression || j.verdict == .improvement { learned += 1 }
            if Self.iops(Comparator.compare(baseline: b, candidate: slow, thresholds: t, sessionHistory: history))?.verdict == .regression { caught += 1 }
        }
        #expect(withShift == trials)
        #expect(plain >= 10, "runs alone: \(plain) of \(trials) A/A flagged")
        #expect(learned <= 3, "with the learned shift: \(learned) of \(trials)")
        #expect(caught >= 45, "25 % drop with the learned shift: \(caught) of \(trials)")
    }

    @Test func twoBurstsLeaveTheDriftUnidentifiable() throws {
        var g = Normal(seed: 9)
        let a = Self.runs(6, mean: 1e5, runEffect: 0.02, noise: 0.01, reps: 3, spacing: 60, g: &g)
        let b = Self.runs(6, mean: 1e5, runEffect: 0.02, noise: 0.01, reps: 3, start: 1_800_000_000 + 86_400, spacing: 60, g: &g)
        let auto = try #require(Self.iops(Comparator.compare(baseline: a, candidate: b, drift: .auto)))
        #expect(auto.drift == .none && auto.note == nil, "auto falls back quietly")
        let linear = try #require(Self.iops(Comparator.compare(baseline: a, candidate: b, drift: .linear)))
        #expect(linear.drift == .none && linear.note!.contains("a trend cannot be told from a step"), "\(linear.note ?? "")")
    }

    @Test func aHistoryBaselineIsTheLastRunsBeforeTheCandidate() {
        func record(_ t: Double, host: String, driver: String = "virtio_blk") -> RunRecord {
            var r = Synthetic.record(iops: [1, 2], driver: driver)
            r.startTime = Date(timeIntervalSince1970: t)
            r.environment.hostname = host
            return r
        }
        let history = (0..<10).map { record(Double($0), host: "a") } + (0..<4).map { record(Double($0), host: "b") }
            + [record(3, host: "a", driver: "ata_piix"), record(50, host: "a")]
        let picked = RunHistory.last(3, of: history, before: Date(timeIntervalSince1970: 20))
        #expect(picked.filter { $0.environment.hostname == "a" && $0.device.distinguishingDriver == "virtio_blk" }.map(\.startTime.timeIntervalSince1970) == [7, 8, 9])
        #expect(picked.filter { $0.environment.hostname == "b" }.count == 3 && picked.filter { $0.device.distinguishingDriver == "ata_piix" }.count == 1)
        #expect(!picked.contains { $0.startTime.timeIntervalSince1970 == 50 }, "nothing at or after the candidate's start")
    }

    @Test func guestsAreNotComparedWithTheNativeHost() {
        let guest = [Synthetic.record(iops: [1, 2, 3])], native = [Synthetic.record(iops: [1, 2, 3], role: .native)]
        #expect(Comparator.pairingProblem(baseline: native, candidate: guest)?.contains("vbench report") == true)
        #expect(Comparator.pairingProblem(baseline: guest, candidate: guest) == nil)
        #expect(Comparator.pairingProblem(baseline: guest + native, candidate: guest) == nil, "mixed sides pair by role")
        // Keyed by role: a native record never meets a guest one inside a comparison.
        let c = Comparator.compare(baseline: guest + native, candidate: guest)
        #expect(c.items.filter { $0.role == .native }.allSatisfy { $0.verdict == .missing })
    }
}

extension Array {
    /// Rotated left by `k`: the same values in another order.
    func shifted(by k: Int) -> [Element] {
        guard !isEmpty else { return self }
        let s = k % count
        return Array(self[s...] + self[..<s])
    }
}
