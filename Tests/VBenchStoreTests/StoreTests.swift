import Foundation
import Testing
import VBenchTestSupport
import VBenchCore
@testable import VBenchStore
@testable import VBenchStoreAPI
import VBenchPostgres

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

    static let receipt = receipt(host: "host")

    static func receipt(host: String) -> Receipt {
        Receipt(peer: "unix:/run/vbench.sock", receivedAt: Date(timeIntervalSince1970: 1_800_000_100),
                collectorHost: host, collectorKernel: "6.18.44")
    }
}

/// The backends every store test runs on. PostgreSQL is left out only when no server could
/// start (`PostgresServerTests` then shows as skipped, with the reason; CI requires it).
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    static var available: [Backend] {
        if case .success = PostgresTestServer.shared { return [.sqlite, .postgres] }
        return [.sqlite]
    }
}

/// A fresh, empty store of one backend (a file in a scratch folder, or a new database on the
/// test server), opened as often as a test needs; removed with the value.
final class TestStore: @unchecked Sendable {
    let backend: Backend
    let location: String
    private let scratch: ScratchFolder?
    private let server: PostgresTestServer?
    private var opened: [any RunStore] = []

    init(_ backend: Backend) throws {
        self.backend = backend
        switch backend {
        case .sqlite:
            let dir = try ScratchFolder()
            scratch = dir
            server = nil
            location = dir.path + "/vbench.sqlite"
        case .postgres:
            let server = try PostgresTestServer.shared.get()
            self.server = server
            scratch = nil
            location = try server.makeDatabase()
        }
    }

    /// A new connection to the store (a new SQLite pool, a new PostgreSQL connection).
    func open() throws -> any RunStore {
        let store: any RunStore = switch backend {
        case .sqlite: try SQLiteRunStore(path: location)
        case .postgres: try PostgresRunStore(url: try PostgresURL(location), password: server?.password, retryWindow: .seconds(20))
        }
        opened.append(store)
        return store
    }

    deinit {
        for s in opened { s.close() }
        server?.dropDatabase(location)
    }
}

@Suite struct PostgresServerTests {
    /// Skipped, loudly, only when no server can start; CI (VBENCH_REQUIRE_POSTGRES=1) fails instead.
    @Test(.enabled(if: Self.serverError == nil || PostgresTestServer.required,
                   "no PostgreSQL server could start for the store tests: \(Self.serverError ?? "")"))
    func theStoreTestsRunOnARealPostgreSQL() throws {
        let server = try PostgresTestServer.shared.get()
        let version = try server.psql("SHOW server_version")
        #expect(version.split(separator: ".").first.flatMap { Int($0) } ?? 0 >= 12)
        #expect(Backend.available == [.sqlite, .postgres])
    }

    static var serverError: String? {
        if case .failure(let e) = PostgresTestServer.shared {
            let banner = "*** POSTGRESQL STORE TESTS SKIPPED: \(e.reason) ***"
            FileHandle.standardError.write(Data((banner + "\n").utf8))
            return e.reason
        }
        return nil
    }
}

/// One suite, two backends: every case runs on SQLite and on PostgreSQL.
@Suite struct StoreContractTests {
    @Test(arguments: Backend.available)
    func storesOnceAndAnswersDuplicates(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = try t.open()
        let r = Records.make()
        #expect(try store.store(r, receipt: Records.receipt) == .stored)
        #expect(try store.store(r, receipt: Records.receipt) == .duplicate)
        #expect(try store.runs(RunQuery()).count == 1)
        #expect(try store.record(r.runId) == r)
        #expect(try store.record(UUID()) == nil)
    }

    @Test(arguments: Backend.available)
    func aBatchIsOneTransactionAndRepeatsInsideItAreDuplicates(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = try t.open()
        let a = Records.make(start: 1_800_000_000), b = Records.make(start: 1_800_000_001)
        _ = try store.store(b, receipt: Records.receipt)
        let outcomes = try store.store(batch: [(a, Records.receipt), (b, Records.receipt), (a, Records.receipt)])
        #expect(outcomes == [.stored, .duplicate, .duplicate])
        #expect(try store.runs(RunQuery()).count == 2)
        #expect(try store.metricSamples(RunQuery(), metric: "iops").count == 4)  // a's two repetitions once, b's once
    }

    @Test(arguments: Backend.available)
    func schemaIsMigratedByNumberedMigrations(_ backend: Backend) throws {
        let t = try TestStore(backend)
        #expect(try t.open().appliedMigrations() == StoreSchema.migrations)
        #expect(try t.open().appliedMigrations() == StoreSchema.migrations)  // opening again applies nothing twice
    }

    @Test(arguments: Backend.available)
    func recordsSurviveReopening(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let r = Records.make()
        do {
            let store = try t.open()
            _ = try store.store(r, receipt: Records.receipt)
            store.close()
        }
        let again = try t.open()
        #expect(try again.record(r.runId) == r)
        #expect(try again.store(r, receipt: Records.receipt) == .duplicate)
    }

    @Test(arguments: Backend.available)
    func queriesSelectByClassDriverKernelHypervisorRoleHostTagAndTime(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = try t.open()
        let virtio = Records.make(start: 1_800_000_000, tags: ["lab": "a"])
        let ide = Records.make(device: "sda", driver: "sd", controller: "ata_piix", deviceClass: .emulated, start: 1_800_000_100, tags: ["lab": "a"])
        let newKernel = Records.make(kernel: "6.1.0-55-amd64", start: 1_800_000_200, tags: ["lab": "b"])
        let native = Records.make(hypervisor: .none, device: "nvme0n1", driver: "nvme", controller: "nvme", deviceClass: .native,
                                  role: .native, start: 1_800_000_300)
        for r in [virtio, ide, newKernel] { _ = try store.store(r, receipt: Records.receipt) }
        _ = try store.store(native, receipt: Records.receipt(host: "hv-2"))
        func ids(_ q: RunQuery) throws -> Set<UUID> { Set(try store.runs(q).map(\.runId)) }
        #expect(try ids(RunQuery(deviceClass: .emulated)) == [ide.runId])
        #expect(try ids(RunQuery(driver: "ata_piix")) == [ide.runId])
        #expect(try ids(RunQuery(driver: "virtio_blk")) == [virtio.runId, newKernel.runId])
        #expect(try ids(RunQuery(kernel: "6.1.0-55-amd64")) == [newKernel.runId])
        #expect(try ids(RunQuery(hypervisor: Hypervisor.none)) == [native.runId])
        #expect(try ids(RunQuery(role: .native)) == [native.runId])
        #expect(try ids(RunQuery(collectorHost: "hv-2")) == [native.runId])
        #expect(try ids(RunQuery(collectorHost: "host")) == [virtio.runId, ide.runId, newKernel.runId])
        #expect(try ids(RunQuery(tags: ["lab": "a"])) == [virtio.runId, ide.runId])
        #expect(try ids(RunQuery(since: Date(timeIntervalSince1970: 1_800_000_150))) == [newKernel.runId, native.runId])
        #expect(try ids(RunQuery(since: Date(timeIntervalSince1970: 1_800_000_050), until: Date(timeIntervalSince1970: 1_800_000_250)))
                    == [ide.runId, newKernel.runId])
        let newestFirst = try store.runs(RunQuery(limit: 2)).map(\.runId)
        #expect(newestFirst == [native.runId, newKernel.runId])
        let row = try #require(try store.runs(RunQuery(deviceClass: .emulated)).first)
        #expect(row.device == "sda" && row.driver == "sd" && row.peer == "unix:/run/vbench.sock" && row.workloads == 1)
        #expect(row.collectorHost == "host" && row.startTime == Date(timeIntervalSince1970: 1_800_000_100))
    }

    @Test(arguments: Backend.available)
    func metricSamplesKeepEveryRepetition(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = try t.open()
        let a = Records.make(kernel: "6.1.0-55-amd64", iops: [1000, 1010, 990])
        let b = Records.make(kernel: "6.1.0-56-amd64", iops: [900, 910])
        _ = try store.store(a, receipt: Records.receipt)
        _ = try store.store(b, receipt: Records.receipt)
        let samples = try store.metricSamples(RunQuery(kernel: "6.1.0-55-amd64"), metric: "iops")
        #expect(samples.map(\.value) == [1000, 1010, 990])
        #expect(samples.map(\.repetition) == [0, 1, 2])
        #expect(samples.allSatisfy { $0.runId == a.runId && $0.workload == "randread-4k-qd16" })
        #expect(try store.metricSamples(RunQuery(), metric: "iops").count == 5)
    }

    @Test(arguments: Backend.available)
    func concurrentWritersStoreEachRunIdOnce(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let records = (0..<20).map { Records.make(start: 1_800_000_000 + Double($0)) }
        let stores = try (0..<4).map { _ in try t.open() }  // four connections, as four collectors would
        let outcomes = NSLock()
        nonisolated(unsafe) var stored = 0, duplicates = 0, failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for r in records.shuffled() {
                do {
                    let outcome = try stores[worker % stores.count].store(r, receipt: Records.receipt)
                    outcomes.lock()
                    if outcome == .stored { stored += 1 } else { duplicates += 1 }
                    outcomes.unlock()
                } catch {
                    outcomes.lock(); failures.append("\(error)"); outcomes.unlock()
                }
            }
        }
        #expect(failures.isEmpty)
        #expect(stored == 20)
        #expect(duplicates == 140)
        #expect(try stores[0].runs(RunQuery()).count == 20)
    }

    @Test(arguments: Backend.available)
    func exportPagesEveryRunWithItsReceiptInRunIdOrder(_ backend: Backend) throws {
        let t = try TestStore(backend)
        let store = try t.open()
        let records = (0..<7).map { Records.make(start: 1_800_000_000 + Double($0)) }
        for (i, r) in records.enumerated() { _ = try store.store(r, receipt: Records.receipt(host: "hv-\(i % 2)")) }
        var pages: [[StoredRun]] = []
        var after: UUID?
        while true {
            let page = try store.export(after: after, limit: 3)
            if page.isEmpty { break }
            pages.append(page)
            after = page.last?.record.runId
        }
        #expect(pages.map(\.count) == [3, 3, 1])
        let exported = pages.flatMap { $0 }
        #expect(exported.map { $0.record.runId.uuidString.lowercased() } == records.map { $0.runId.uuidString.lowercased() }.sorted())
        for run in exported {
            let original = try #require(records.firstIndex { $0.runId == run.record.runId })
            #expect(run.record == records[original])
            #expect(run.receipt.collectorHost == "hv-\(original % 2)" && run.receipt.peer == Records.receipt.peer)
            #expect(run.receipt.receivedAt == Records.receipt.receivedAt)
            #expect(try RunRecord.decode(Data(try #require(run.receipt.receivedJSON).utf8)) == records[original])
        }
        #expect(try store.contains(records.map(\.runId) + [UUID()]) == Set(records.map(\.runId)))
        #expect(try store.contains([]) == [])
    }
}

@Suite struct SQLiteStoreTests {
    @Test func theJournalIsWAL() throws {
        let dir = try ScratchFolder()
        let path = dir.path + "/vbench.sqlite"
        _ = try SQLiteRunStore(path: path)
        let (status, output) = try sqlite(path, "PRAGMA journal_mode;")
        #expect(status == 0 && output.trimmingCharacters(in: .whitespacesAndNewlines) == "wal")
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

@Suite struct StoreLocationTests {
    @Test func pathsAndPostgresURLs() throws {
        #expect(try StoreLocation("results/vbench.sqlite") == .sqlite(path: "results/vbench.sqlite"))
        #expect(try StoreLocation("sqlite:/var/lib/vbench.sqlite") == .sqlite(path: "/var/lib/vbench.sqlite"))
        let url = try PostgresURL("postgres://vbench%2Dci@db.example:6543/fleet?sslmode=require&passfile=/etc/vbench/pgpass")
        #expect(url == PostgresURL(user: "vbench-ci", host: "db.example", port: 6543, database: "fleet", tls: .require,
                                   passfile: "/etc/vbench/pgpass"))
        #expect(try PostgresURL("postgresql://u@[::1]/d") == PostgresURL(user: "u", host: "::1", database: "d"))
        #expect(try PostgresURL("postgres://u@/d?host=/run/postgresql").socketDirectory == "/run/postgresql")
        #expect(url.description == "postgres://vbench-ci@db.example:6543/fleet?sslmode=require&passfile=/etc/vbench/pgpass")
    }

    @Test func badURLsAreNamedAndPasswordsNeverEchoed() {
        for (text, words) in [("postgres://u:hunter2@h/d", ["PGPASSWORD", "postgres://u:***@h/d"]),
                              ("postgres://u@h/d?password=hunter2", ["PGPASSWORD"]),
                              ("postgres://h/d", ["no user"]), ("postgres://u@h", ["no database"]),
                              ("postgres://u@h:0/d", ["1…65535"]), ("postgres://u@h/d?sslmode=maybe", ["sslmode"]),
                              ("postgres://u@h/d?colour=red", ["unknown parameter 'colour'"]), ("redis://h", ["unknown scheme"])] {
            #expect { _ = try StoreLocation(text) } throws: { error in
                let message = "\(error)"
                return words.allSatisfy { message.contains($0) } && !message.contains("hunter2")
            }
        }
    }

    @Test func passwordsComeFromTheEnvironmentOrAPgpassFile() throws {
        let url = try PostgresURL("postgres://vbench@db:5432/fleet")
        #expect(try PostgresCredentials.password(for: url, environment: ["PGPASSWORD": "from-env"]) == "from-env")
        let dir = try ScratchFolder()
        let file = dir.path + "/pgpass"
        try "# comment\nother:5432:*:*:no\ndb:5432:fleet:vbench:pa\\:ss\n*:*:*:*:fallback\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        #expect(try PostgresCredentials.password(for: url, environment: ["PGPASSFILE": file]) == "pa:ss")
        #expect(try PostgresCredentials.password(for: try PostgresURL("postgres://x@y/z"), environment: ["PGPASSFILE": file]) == "fallback")
        try "just-the-password\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        #expect { _ = try PostgresCredentials.password(for: url, environment: ["PGPASSFILE": file]) } throws: { "\($0)".contains("chmod 600") }
        chmod(file, 0o600)
        var withFile = url
        withFile.passfile = file
        #expect(try PostgresCredentials.password(for: withFile, environment: [:]) == "just-the-password")
        withFile.passfile = dir.path + "/missing"
        #expect { _ = try PostgresCredentials.password(for: withFile, environment: [:]) } throws: { "\($0)".contains("does not exist") }
        #expect(try PostgresCredentials.password(for: url, environment: ["HOME": dir.path + "/nohome"]) == nil)
    }
}
