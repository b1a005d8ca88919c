import Foundation
import NIOCore
import Synchronization
import VBenchWire
import Testing
import VBenchCollector
import VBenchCore
import VBenchPostgres
@testable import VBenchStore
@testable import VBenchStoreAPI
import VBenchTestSupport
import VBenchUplink

/// Several collectors writing to one real PostgreSQL, and that database restarted under them.
@Suite(.serialized) struct FleetTests {
    /// A collector in this process, storing in `url` as `host`.
    static func collector(host: String, url: String, password: String, socket: String, retry: Duration = .seconds(30)) throws
        -> (Collector, PostgresRunStore, Endpoint) {
        let store = try PostgresRunStore(url: try PostgresURL(url), password: password, retryWindow: retry)
        let config = Collector.Configuration(endpoints: [.unix(path: socket)], collectorHost: host, collectorKernel: "6.18",
                                             vsockAllowed: false)
        let collector = Collector(configuration: config, store: store)
        let bound = try collector.start()
        return (collector, store, try Endpoint(bound[0]))
    }

    @Test(.enabled(if: PostgresTestServer.testsRun, "no PostgreSQL server can start here"))
    func manyCollectorsOneDatabaseKeepTheReceivingHostAndStoreEachRunOnce() throws {
        let server = try PostgresTestServer.shared.get()
        let url = try server.makeDatabase()
        defer { server.dropDatabase(url) }
        let dir = try ScratchFolder(under: "/tmp")
        let hosts = ["hv-a", "hv-b", "hv-c"]
        let collectors = try hosts.map { try Self.collector(host: $0, url: url, password: server.password, socket: "\(dir.path)/\($0).sock") }
        defer { for (c, s, _) in collectors { c.stop(); s.close() } }
        // 20 runs of each host's own guests, and 10 runs every collector receives at once
        // (a guest retrying against several hosts): each must be stored once.
        let own = hosts.map { h in (0..<20).map { i in Records.make(start: 1_800_000_000 + Double(i), tags: ["guest.of": h]) } }
        let shared = (0..<10).map { Records.make(start: 1_800_001_000 + Double($0), tags: ["guest.of": "all"]) }
        let results = Mutex<[Int: [UUID: Ack.Status]]>([:])
        DispatchQueue.concurrentPerform(iterations: hosts.count * 2) { job in
            let h = job % hosts.count
            let records = job < hosts.count ? own[h] : shared
            let acks = (try? Uplink(endpoint: collectors[h].2, timeout: .seconds(30)).send(records)) ?? [:]
            results.withLock { $0[job] = acks }
        }
        let all = results.withLock { $0 }
        for job in 0..<hosts.count { #expect(all[job]?.values.allSatisfy { $0 == .stored } == true && all[job]?.count == 20) }
        let sharedAcks = (hosts.count..<hosts.count * 2).flatMap { all[$0].map { Array($0.values) } ?? [] }
        #expect(sharedAcks.count == 30)
        #expect(sharedAcks.filter { $0 == .stored }.count == 10)
        #expect(sharedAcks.filter { $0 == .duplicate }.count == 20)

        let reader = try PostgresRunStore(url: try PostgresURL(url), password: server.password)
        defer { reader.close() }
        #expect(try reader.runs(RunQuery()).count == 70)
        for (h, host) in hosts.enumerated() {
            let rows = try reader.runs(RunQuery(collectorHost: host, tags: ["guest.of": host]))
            #expect(Set(rows.map(\.runId)) == Set(own[h].map(\.runId)))
            #expect(rows.allSatisfy { $0.collectorHost == host && $0.peer.hasPrefix("unix:") })
        }
        let sharedRows = try reader.runs(RunQuery(tags: ["guest.of": "all"]))
        #expect(sharedRows.count == 10)
        #expect(Set(sharedRows.map(\.collectorHost)).isSubset(of: Set(hosts)))
        #expect(try server.psql("SELECT count(*) - count(DISTINCT (run_id, workload_index, repetition_index, metric)) FROM metrics",
                                database: String(url.split(separator: "/").last!)) == "0")
    }

    /// The acceptance test of issue 7: PostgreSQL crashes twice while two collectors ingest from
    /// 32 senders: a quick restart (`pg_ctl restart -m immediate`), which the collectors' stores
    /// ride out by reconnecting, then an outage longer than their retry window (stopped for 6 s),
    /// during which they refuse records (`store-unavailable`) and the senders keep them in their
    /// spools and resend. Every acknowledged record must be in the database after recovery, every
    /// record sent must arrive in the end, and nothing may be stored twice.
    @Test(.enabled(if: PostgresTestServer.testsRun, "no PostgreSQL server can start here"))
    func databaseRestartedMidIngestLosesNoAcknowledgedRecordAndStoresNothingTwice() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let server = try PostgresTestServer.start(in: dir.path + "/pg")
        defer { server.stop() }
        let url = server.url
        let hosts = ["hv-a", "hv-b"]
        let collectors = try hosts.map {
            try Self.collector(host: $0, url: url, password: server.password, socket: "\(dir.path)/\($0).sock", retry: .seconds(3))
        }
        defer { for (c, s, _) in collectors { c.stop(); s.close() } }

        let senders = 32, perSender = 25, chunk = 5
        let records = (0..<senders).map { s in
            (0..<perSender).map { i in Records.make(start: 1_800_000_000 + Double(s * 1000 + i), tags: ["sender": "\(s)"]) }
        }
        let total = senders * perSender
        struct Progress { var acked = Set<UUID>(); var ackedAtRestart = -1; var ackedAtOutage = -1; var resends = 0; var failures = 0; var spooled = 0 }
        let progress = Mutex(Progress())
        let start = Date()
        let deadline = start.addingTimeInterval(240)
        // The crashes: a restart once a quarter of the records are acknowledged, a 6 s outage at half.
        let restarter = Thread {
            func waitFor(_ fraction: Int) -> Int? {
                while Date() < deadline {
                    let n = progress.withLock { $0.acked.count }
                    if n >= total * fraction / 4 { return n }
                    usleep(5_000)
                }
                return nil
            }
            guard let first = waitFor(1) else { return }
            try? server.restart(immediate: true)
            progress.withLock { $0.ackedAtRestart = first }
            guard let second = waitFor(2) else { return }
            try? server.halt()
            progress.withLock { $0.ackedAtOutage = second }
            sleep(6)
            try? server.resume()
        }
        restarter.start()
        let dirPath = dir.path
        DispatchQueue.concurrentPerform(iterations: senders) { s in
            let spool = Spool(directory: "\(dirPath)/spool-\(s)")
            let delivery = Delivery(uplink: Uplink(endpoint: collectors[s % hosts.count].2, timeout: .seconds(20)), spool: spool)
            var given: [UUID] = []
            func settle(_ outcome: Delivery.Outcome?) {
                let left = Set(((try? spool.load().records) ?? []).map(\.runId))
                progress.withLock { p in
                    for id in given where !left.contains(id) { p.acked.insert(id) }
                    if outcome?.failure != nil { p.failures += 1 }
                    p.spooled += outcome?.spooled ?? 0
                }
            }
            for part in stride(from: 0, to: perSender, by: chunk) {
                let batch = Array(records[s][part..<min(part + chunk, perSender)])
                given += batch.map(\.runId)
                settle(try? delivery.deliver(batch))
            }
            // What was not acknowledged waits in the spool: resend until it is empty.
            while Date() < deadline, let left = try? spool.load().records, !left.isEmpty {
                usleep(200_000)
                progress.withLock { $0.resends += 1 }
                settle(try? delivery.deliver([]))
            }
        }
        while !restarter.isFinished && Date() < deadline { usleep(10_000) }
        let p = progress.withLock { $0 }
        let elapsed = Date().timeIntervalSince(start)

        #expect(p.ackedAtRestart >= total / 4 && p.ackedAtRestart < total, "the restart happened mid-ingest")
        #expect(p.ackedAtOutage >= total / 2 && p.ackedAtOutage < total, "the outage happened mid-ingest")
        #expect(p.acked.count == total, "every record was acknowledged in the end (\(p.acked.count) of \(total))")
        let reader = try PostgresRunStore(url: try PostgresURL(url), password: server.password)
        defer { reader.close() }
        let allIds = records.flatMap { $0.map(\.runId) }
        let present = try reader.contains(allIds)
        let lost = p.acked.subtracting(present)
        #expect(lost.isEmpty, "acknowledged but not in the database after the crash: \(lost.count)")
        let db = String(url.split(separator: "/").last!)
        let rows = Int(try server.psql("SELECT count(*) FROM runs", database: db)) ?? -1
        let metricRows = Int(try server.psql("SELECT count(*) FROM metrics", database: db)) ?? -1
        let perRecordMetrics = records[0][0].workloads.reduce(0) { $0 + $1.repetitions.reduce(0) { $0 + $1.metrics.count } }
        #expect(rows == total, "runs stored once each")
        #expect(metricRows == total * perRecordMetrics, "no child row stored twice")
        for id in allIds.shuffled().prefix(50) {
            let original = records.flatMap { $0 }.first { $0.runId == id }
            #expect(try reader.record(id) == original)
        }
        let reconnects = collectors.map { $0.1.counters.connects - 1 }
        let storeErrors = collectors.map { $0.0.stats.storeErrors }.reduce(0, +)
        let duplicatesAcked = collectors.map { $0.0.stats.duplicates }.reduce(0, +)
        #expect(reconnects.allSatisfy { $0 >= 1 }, "each collector's store reconnected after the crash: \(reconnects)")
        #expect(storeErrors > 0 && p.failures > 0 && p.spooled > 0, "the outage sent records back to their senders, who spooled and resent them")
        print("""
            restart mid-ingest: \(total) records from \(senders) senders via \(hosts.count) collectors; crash (pg_ctl restart -m immediate) \
            after \(p.ackedAtRestart) acks, 6 s outage after \(p.ackedAtOutage); store reconnects \(reconnects), store errors \(storeErrors), sender failures \(p.failures), \
            records left in spools after a failed delivery \(p.spooled), extra resend rounds \(p.resends), acked as duplicates \(duplicatesAcked); in the database: \(rows) runs, \(total - present.count) missing, \
            \(lost.count) acked-but-lost, \(rows - Set(allIds).count) stored twice; \(String(format: "%.1f", elapsed)) s
            """)
    }
}
