import Foundation
import Testing
import VBenchTestSupport
import VBenchCore
import VBenchReport
@testable import VBenchStore
@testable import VBenchStoreAPI
import VBenchPostgres

/// Guest audits as records carry them (compact: no evidence or fixes).
enum Audits {
    static let scheduler = AuditFinding(check: "scheduler", subject: "vda", severity: .warning,
                                        summary: "vda (virtio_blk) uses mq-deadline: the host schedules this disk's I/O again",
                                        evidence: [], affects: ["blk:vda"])
    static let hpet = AuditFinding(check: "clocksource", subject: "hpet", severity: .warning,
                                   summary: "hpet: every clock read is a system call and a trapped device access", evidence: [], affects: ["all"])
    /// Not costly: an info line, and a warning that changes no number.
    static let thp = AuditFinding(check: "thp", subject: "madvise", severity: .info, summary: "", evidence: [], affects: ["mem"])
    static let agent = AuditFinding(check: "agent", subject: "qemu-guest-agent", severity: .warning, summary: "no guest agent runs", evidence: [])

    static func audit(_ findings: [AuditFinding]) -> GuestAudit { GuestAudit(distribution: "debian", family: .debian, findings: findings) }

    static func make(_ findings: [AuditFinding]?, device: String = "vda", driver: String = "virtio_blk", controller: String = "virtio-pci",
                     deviceClass: DeviceClass = .paravirtual, role: RunRole = .guest, start: Double = 1_800_000_000,
                     tags: [String: String] = [:]) -> RunRecord {
        var r = Records.make(hypervisor: role == .native ? Hypervisor.none : .qemuTcg, device: device, driver: driver, controller: controller,
                             deviceClass: deviceClass, role: role, start: start, tags: tags)
        r.environment.audit = findings.map(audit)
        return r
    }
}

/// Raw SQL on a test store, outside vbench (sqlite3 or psql): what migration 6 left behind.
extension TestStore {
    func sql(_ text: String) throws -> String {
        switch backend {
        case .sqlite:
            let (status, output) = try TestCommand.run(["timeout", "60", "sqlite3", "-bail", location, text])
            guard status == 0 else { throw StoreError(path: location, reason: "sqlite3 failed (\(status)) on \(text): \(output)") }
            return output.trimmingCharacters(in: .whitespacesAndNewlines)
        case .postgres:
            let server = try PostgresTestServer.shared.get()
            return try server.psql(text, database: String(location.split(separator: "/").last ?? ""))
        }
    }

    /// Turns a store of today's schema back into one made by migration `5-compare` (its
    /// tables and columns exactly; migration 6 only adds): what a store written before
    /// migration 6 looks like, with records that do and do not carry audits.
    func rewindToMigration5() throws {
        switch backend {
        case .sqlite:
            _ = try sql("""
                PRAGMA foreign_keys = OFF; BEGIN; DROP INDEX runs_configuration; ALTER TABLE runs DROP COLUMN configuration_id;
                DROP TABLE configurations; DELETE FROM grdb_migrations WHERE identifier = '6-configurations'; COMMIT;
                """)
            #expect(try sql("SELECT identifier FROM grdb_migrations ORDER BY rowid").split(separator: "\n").map(String.init)
                    == Array(StoreSchema.migrations.prefix(5)))
        case .postgres:
            _ = try sql("""
                BEGIN; ALTER TABLE runs DROP COLUMN configuration_id; DROP TABLE configurations;
                DELETE FROM vbench_migrations WHERE identifier = '6-configurations'; COMMIT;
                """)
            #expect(try sql("SELECT count(*) FROM vbench_migrations") == "5")
        }
    }

    func tableExists(_ name: String) throws -> Bool {
        switch backend {
        case .sqlite: try sql("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '\(name)'") == "1"
        case .postgres: try sql("SELECT to_regclass('public.\(name)') IS NOT NULL") == "t"
        }
    }
}

/// Migration `6-configurations` and the warnings reports read through it, on both backends.
@Suite(.serialized) struct ConfigurationStoreTests {
    static let blkMetrics = ReportBuilder.metrics(family: "blk").map(\.key)

    static func report(_ store: any RunStore, _ query: RunQuery = RunQuery()) throws -> Report {
        let facts = try store.reportFacts(query, metrics: blkMetrics, partition: nil, latency: false)
        return ReportBuilder.build(facts.inputs(by: nil)[0].input, selection: "test")
    }

    /// Each row's device, metric and warnings (what the backends and `--from` must agree on).
    static func warnings(_ r: Report) -> [String] {
        r.rows.map { "\($0.device) \($0.metric): " + ($0.warnings ?? []).map { "\($0.short) [\($0.summary)]" }.joined(separator: "; ") }
    }

    /// Three audited runs on vda (two costly warnings, plus an info line and a warning that
    /// changes no number), one unaudited run on vda, two audited runs on an emulated sda (the
    /// vda scheduler warning is not theirs), one native run without an audit.
    static func scenario() -> [RunRecord] {
        let costly = [Audits.scheduler, Audits.hpet, Audits.thp, Audits.agent]
        var out: [RunRecord] = []
        for i in 0..<3 { out.append(Audits.make(costly, start: 1_800_000_000 + Double(i))) }
        out.append(Audits.make(nil, start: 1_800_000_010))
        for i in 0..<2 {
            out.append(Audits.make([Audits.scheduler, Audits.hpet], device: "sda", driver: "sd", controller: "ata_piix",
                                   deviceClass: .emulated, start: 1_800_000_020 + Double(i)))
        }
        out.append(Audits.make(nil, device: "nvme0n1", driver: "nvme", controller: "nvme", deviceClass: .native, role: .native,
                               start: 1_800_000_030))
        return out
    }

    @Test(arguments: Backend.available)
    func migration6BackfillsAStoreMadeByMigration5(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let records = Self.scenario() + [Audits.make([Audits.thp], start: 1_800_000_040)]  // audited, nothing costly
        do {
            let store = try t.open()
            _ = try store.store(batch: records.map { ($0, Records.receipt) })
            store.close()
        }
        try t.rewindToMigration5()
        #expect(try !t.tableExists("configurations"))
        let store = try t.open()
        #expect(try store.appliedMigrations() == StoreSchema.migrations)
        // One costly configuration shared by the vda and sda runs (the same costly findings:
        // which device a finding applies to is decided when reading), one empty (audited,
        // nothing costly); the unaudited runs point at none.
        #expect(try t.sql("SELECT count(*) FROM configurations") == "2")
        #expect(try t.sql("SELECT warnings FROM configurations ORDER BY warnings") == "0\n2")
        #expect(try t.sql("SELECT count(*) FROM runs WHERE configuration_id IS NULL") == "2")
        let vda = records.prefix(3).map { "'\($0.runId.uuidString.lowercased())'" }.joined(separator: ", ")
        #expect(try t.sql("SELECT count(DISTINCT configuration_id) FROM runs WHERE run_id IN (\(vda))") == "1")
        // The report reads them as one ingested after migration 6 would.
        #expect(Self.warnings(try Self.report(store)) == Self.warnings(ReportBuilder.build(records, selection: "test")))
        #expect(try Self.report(store).rows.contains { $0.warnings != nil })
    }

    @Test(arguments: Backend.available)
    func manyRunsShareOneConfigurationRow(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = try t.open()
        let batch = (0..<50).map { Audits.make([Audits.hpet, Audits.scheduler], start: 1_800_000_000 + Double($0)) }
        _ = try store.store(batch: batch.map { ($0, Records.receipt) })
        // Singly, the findings in another order and with non-costly ones: the same content.
        for i in 0..<10 {
            _ = try store.store(Audits.make([Audits.thp, Audits.scheduler, Audits.agent, Audits.hpet], start: 1_800_001_000 + Double(i)),
                                receipt: Records.receipt)
        }
        #expect(try t.sql("SELECT count(*) FROM configurations") == "1")
        #expect(try t.sql("SELECT count(*) FROM runs WHERE configuration_id = (SELECT id FROM configurations)") == "60")
        let stored = try t.sql("SELECT findings FROM configurations")
        #expect(try AuditConfiguration(json: stored) == AuditConfiguration(Audits.audit([Audits.scheduler, Audits.hpet])))
    }

    @Test(arguments: Backend.available)
    func aReportWarnsBesideNumbersMeasuredUnderACostlyConfiguration(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = try t.open()
        _ = try store.store(batch: Self.scenario().map { ($0, Records.receipt) })
        let report = try Self.report(store)
        let virtio = try #require(report.rows.first { $0.device == "virtio_blk" && $0.metric == "iops" })
        #expect(virtio.warnings?.map(\.short) == ["clocksource hpet — 3 of 4 runs", "scheduler vda — 3 of 4 runs"])
        let emulated = try #require(report.rows.first { $0.device == "ata_piix" && $0.metric == "iops" })
        #expect(emulated.warnings?.map(\.short) == ["clocksource hpet — 2 of 2 runs"])  // not vda's scheduler
        #expect(report.rows.filter { $0.role == .native }.allSatisfy { $0.warnings == nil })

        let text = ReportRender.text(report)
        #expect(text.contains("⚠1") && text.contains("⚠2"))
        #expect(text.contains("scheduler vda — 3 of 4 runs: vda (virtio_blk) uses mq-deadline"), "\(text)")
        #expect(text.contains("clocksource hpet — 2 of 2 runs"))
        let markdown = ReportRender.markdown(report)
        #expect(markdown.contains("## ⚠ Costly configurations"))
        #expect(markdown.contains("  - warning: scheduler vda — 3 of 4 runs: vda (virtio_blk) uses mq-deadline"), "\(markdown)")
        let html = HTMLRender.page(report)
        #expect(html.contains("<div class=\"costly\" role=\"note\">"))
        #expect(html.contains("scheduler vda — 3 of 4 runs"))
        #expect(html.contains("<a href=\"#costly-1\">⚠1</a>") && html.contains("id=\"costly-1\""))
        #expect(!html.contains("<script"))
        let csv = ReportRender.csv(report)
        #expect(csv.hasPrefix("FAMILY,") && csv.contains(",WARNINGS\r\n"))
        #expect(csv.contains("clocksource hpet — 3 of 4 runs; scheduler vda — 3 of 4 runs"))
        let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        #expect(json.contains("\"warnings\":[{") && json.contains("\"ofRuns\":4"))

        // Runs without an audit: no warning, no mark, no section.
        let plain = try Self.report(store, RunQuery(role: .native))
        #expect(plain.rows.allSatisfy { $0.warnings == nil } && !plain.rows.isEmpty)
        for page in [ReportRender.text(plain), ReportRender.markdown(plain), HTMLRender.page(plain)] {
            #expect(!page.contains("⚠") && !page.contains("Costly configurations") && !page.contains("class=\"costly"))
        }
    }

    @Test(arguments: Backend.available)
    func aWarningForAnotherDeviceIsNotShown(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = try t.open()
        let vdb = (0..<3).map { Audits.make([Audits.scheduler], device: "vdb", start: 1_800_000_000 + Double($0)) }
        _ = try store.store(batch: vdb.map { ($0, Records.receipt) })
        let report = try Self.report(store)
        #expect(!report.rows.isEmpty && report.rows.allSatisfy { $0.warnings == nil })
        #expect(!ReportRender.text(report).contains("⚠"))
        #expect(ReportBuilder.build(vdb, selection: "test").rows.allSatisfy { $0.warnings == nil })
        // The same disk named vda carries it.
        let vda = Audits.make([Audits.scheduler], device: "vda", start: 1_800_000_100)
        _ = try store.store(vda, receipt: Records.receipt)
        #expect(try Self.report(store).rows.first { $0.metric == "iops" }?.warnings?.map(\.short) == ["scheduler vda — 1 of 4 runs"])
    }

    /// SQLite, PostgreSQL and `report --from` (records in memory) give the same warnings.
    /// compare says when its sides ran under different costly configurations (a kernel upgrade
    /// that also switched the scheduler), from the store as from the records.
    @Test(arguments: Backend.available)
    func compareNamesAConfigurationOnlyOneSideRanUnder(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = try t.open()
        let before = (0..<4).map { Audits.make([], start: 1_800_000_000 + Double($0), tags: ["side": "a"]) }
        let after = (0..<4).map { Audits.make([Audits.scheduler], start: 1_800_000_100 + Double($0), tags: ["side": "b"]) }
        let other = (0..<2).map { Audits.make([Audits.hpet], device: "vdb", start: 1_800_000_200 + Double($0), tags: ["side": "b"]) }
        let unaudited = Audits.make(nil, start: 1_800_000_300, tags: ["side": "a"])
        _ = try store.store(batch: (before + after + other + [unaudited]).map { ($0, Records.receipt) })
        let metrics = ["iops"]
        let (b, c) = (try store.compareRuns(RunQuery(tags: ["side": "a"]), metrics: metrics),
                      try store.compareRuns(RunQuery(tags: ["side": "b"]), metrics: metrics))
        #expect(b.filter { $0.costly == [] }.count == 4 && b.filter { $0.costly == nil }.count == 1, "audited clean vs no audit")
        #expect(c.filter { $0.costly?.map(\.label) == ["scheduler vda"] }.count == 4)
        let fromStore = Comparator.compare(baseline: b, candidate: c)
        let fromRecords = Comparator.compare(baseline: before + [unaudited], candidate: after + other)
        #expect(fromStore.configurations == fromRecords.configurations)
        let contrasts = try #require(fromStore.configurations)
        // vda's scheduler in 0 of 5 baseline and 4 of 4 candidate runs; hpet affects all, so it
        // reaches the vdb runs (2 of 2), which the baseline has none of.
        let scheduler = try #require(contrasts.first { $0.label == "scheduler vda" })
        #expect((scheduler.baselineRuns, scheduler.baselineOf, scheduler.candidateRuns, scheduler.candidateOf) == (0, 5, 4, 6) && scheduler.differs,
                "\(scheduler)")
        let notes = CompareReport.notes(fromStore)
        #expect(notes.contains { $0.hasPrefix("configuration differs") && $0.contains("virtio_blk: scheduler vda in 0 of 5 baseline and 4 of 6 candidate runs") && $0.contains("clocksource hpet in 0 of 5 baseline and 2 of 6") }, "\(notes)")
        #expect(CompareReport.markdown(fromStore, baseline: "a", candidate: "b").contains("⚠ configuration differs"))
        // Sides under the same setting: named, not called a difference.
        let same = Comparator.compare(baseline: after, candidate: after)
        #expect(same.configurations?.allSatisfy { !$0.differs } == true)
        #expect(CompareReport.notes(same).contains { $0.hasPrefix("configuration: both sides") })
        #expect(!CompareReport.notes(Comparator.compare(baseline: before, candidate: before)).contains { $0.hasPrefix("configuration") })
    }

    @Test func theBackendsAndRecordFilesAgree() throws {
        let records = Self.scenario()
        let expected = Self.warnings(ReportBuilder.build(records, selection: "test"))
        #expect(expected.contains { $0.contains("scheduler vda — 3 of 4 runs") })
        for backend in Backend.available {
            let t = try TestStore(backend)
            let store = try t.open()
            _ = try store.store(batch: records.map { ($0, Records.receipt) })
            #expect(Self.warnings(try Self.report(store)) == expected, "\(backend)")
        }
    }

    @Test(arguments: Backend.available)
    func aRecordThatDoesNotDecodeFailsMigration6NamingTheRunAndChangesNothing(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let records = Self.scenario()
        do {
            let store = try t.open()
            _ = try store.store(batch: records.map { ($0, Records.receipt) })
            store.close()
        }
        try t.rewindToMigration5()
        let victim = records[4].runId.uuidString.lowercased()
        _ = try t.sql("UPDATE records SET record_json = '{\"schemaVersion\": 2, \"runId\": \"\(victim)\"}' WHERE run_id = '\(victim)'")
        do {
            _ = try t.open()
            Issue.record("migration 6 succeeded over a record that does not decode")
        } catch {
            #expect("\(error)".contains("run \(victim)") && "\(error)".contains("6-configurations"), "\(error)")
        }
        #expect(try !t.tableExists("configurations"))
        switch backend {
        case .sqlite: #expect(try t.sql("SELECT count(*) FROM grdb_migrations") == "5")
        case .postgres: #expect(try t.sql("SELECT count(*) FROM vbench_migrations") == "5")
        }
        #expect(try t.sql("SELECT count(*) FROM runs") == "\(records.count)")
    }
}

@Suite struct AuditConfigurationTests {
    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func theConfigurationIsTheUnionOfWhatCostlyCanReturnInCanonicalOrder() throws {
        let audit = Audits.audit([Audits.thp, Audits.scheduler, Audits.agent, Audits.hpet])
        let c = AuditConfiguration(audit)
        #expect(c.findings.map(\.label) == ["clocksource hpet", "scheduler vda"])
        for (family, device) in [("blk", "vda"), ("blk", "vdb"), ("net", "eth0"), ("mem", nil as String?)] {
            #expect(c.costly(forFamily: family, device: device).map(\.label)
                    == audit.costly(forFamily: family, device: device).compactMap(CostlyFinding.init).sorted().map(\.label))
        }
        #expect(AuditConfiguration(Audits.audit([Audits.hpet, Audits.scheduler])).digest == c.digest)
        #expect(try AuditConfiguration(json: c.json) == c)
        #expect(AuditConfiguration(Audits.audit([Audits.thp])).json == "[]")
        #expect(throws: RecordError.self) { try AuditConfiguration(json: "{") }
    }
}
