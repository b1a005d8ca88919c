import Foundation
import Synchronization
import VBenchCore
import VBenchStoreAPI
import VBenchSystem

/// A whole lab campaign: rounds × kernels × boots × concurrent guests of one matrix, each boot
/// checked (every disk and NIC measured, records sent, the transport check and throttles as
/// planned), the native baseline on this machine, and the run's table, summary and records
/// under `out/lab/RUN`. The CLI parses options into a `Request` and maps the outcome to an
/// exit code; everything between is here.
public enum LabCampaign {
    /// What to run, as `vbench lab run` and `vbench lab demo` take it from their options.
    public struct Request: Sendable {
        /// A matrix name (`LabMatrix.named`); `demo` also leaves out what this machine cannot run.
        public var matrixName: String
        public var cache: LabCache
        public var boot: LabMatrix.BootMode?
        public var runtimeSeconds: Double?
        public var repetitions: Int?
        public var rounds = 1
        /// A concurrency sweep (records carry lab.guests and lab.guest); nil: one guest per boot.
        public var guestCounts: [Int]?
        public var nativeBaseline = true
        /// Bound of one boot; nil: the matrix's default for its slowest boot.
        public var bootTimeout: Double?
        /// Bound of the whole campaign, from `started`.
        public var timeout: Double = 3600
        /// The results store's location, as the user wrote it.
        public var store: String
        /// Folder for the run's summary, records and the native baseline's file.
        public var out: String
        public var tags: [String: String] = [:]
        public var uplink: LabUplink = .automatic
        public var acceleration: Acceleration = .auto
        public var started: UInt64 = Clock.monotonicNs()

        public init(matrixName: String, cache: LabCache, store: String, out: String) {
            self.matrixName = matrixName
            self.cache = cache
            self.store = store
            self.out = out
        }
    }

    /// What the campaign found: its records (the transport check's left out), the table the
    /// terminal shows, where the summary and records went, and every failure by boot.
    public struct Outcome: Sendable {
        public var runId: String
        public var records: [RunRecord]
        public var table: String
        public var folder: String
        public var failures: [String]
    }

    /// Runs `request` on `appliances` (one per kernel, in order), collecting into `store` (the
    /// store `request.store` names, opened by the caller). `log` gets one line per
    /// event, `progress` the live status of the boot under way. Throws `LabError` when the
    /// campaign cannot start (matrix, store, QEMU); failures of boots are in the outcome.
    public static func run(_ request: Request, appliances: [Appliance], store runStore: any RunStore,
                           log: @escaping (String) -> Void, progress: @escaping (String) -> Void) throws -> Outcome {
        let started = request.started
        var matrix = try LabMatrix.named(request.matrixName)
        if let b = request.boot { matrix.boot = b }
        if let r = request.runtimeSeconds { matrix.runtimeSeconds = r }
        if let r = request.repetitions { matrix.repetitions = r }
        try matrix.check(source: "--matrix \(request.matrixName)")
        if !matrix.nics.isEmpty {
            do { try LabNetwork.checkPrerequisites() } catch let e as LabError where request.matrixName == "demo" {
                log("the demo leaves out its NICs: \(e.message)")
                matrix.nics = []
            }
        }
        guard !appliances.isEmpty else { throw LabError("no appliance to boot: name at least one --kernel") }
        let (qemuVersion, qemuLine) = try LabRunner.qemuVersion()
        try AtomicFile.makeDirectories(request.out)
        let runId = ISO8601Stamp.compact(Date()) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        var options = LabRunner.Options(matrix: matrix, cache: request.cache, runId: runId)
        options.acceleration = request.acceleration
        options.uplink = request.uplink
        options.bootTimeout = request.bootTimeout ?? (matrix.boots.map(matrix.defaultBootTimeout).max() ?? 600)
        options.extraTags = request.tags
        log("lab run \(runId): matrix \(matrix.name) (\(LabMatrix.Boot(disks: matrix.disks, nics: matrix.nics).label)), \(matrix.boot.rawValue) boot, cache=\(matrix.cache) aio=\(matrix.aio); kernels \(appliances.map(\.kernel.version).joined(separator: ", ")); \(request.rounds) round(s); \(qemuLine)")
        let (acceleration, why) = try LabRunner(options: options, appliance: appliances[0], store: runStore, log: log,
                                                progress: progress).chooseAcceleration()
        log("acceleration: \(why)")
        if request.matrixName == "demo" {
            let (demo, leftOut) = matrix.demo(under: acceleration)
            if let leftOut {
                log(leftOut)
                matrix = demo
                options.matrix = demo
                options.bootTimeout = request.bootTimeout ?? (demo.boots.map(demo.defaultBootTimeout).max() ?? 600)
            }
        }
        var boots: [BootResult] = []
        var failures: [String] = []
        var index = 0
        // One boot's report and checks (boots of a concurrency step finish together).
        func check(_ b: BootResult, _ devices: LabMatrix.Boot, _ i: Int, _ round: Int, _ appliance: Appliance, guests: Int) throws {
            boots.append(b)
            var statuses = devices.disks.enumerated().map { i, d in "\(d.rawValue)\(Set(devices.disks).count < devices.disks.count ? "#\(i)" : "") \(b.slotStatus[i].map { $0 == 0 ? "ok" : "exit \($0)" } ?? "no result")" }
            if !devices.nics.isEmpty {
                statuses.append("net \(b.netStatus.map { $0 == 0 ? "ok" : "exit \($0)" } ?? "no result") (\(devices.nics.map { "\($0.rawValue) \(b.nicInterfaces[$0] ?? "missing")" }.joined(separator: ", ")); peer \(b.serveReport ?? "said nothing"))")
            }
            log("boot \(i) (kernel \(appliance.kernel.version), round \(round)\(guests > 1 ? ", one of \(guests) concurrent guests" : "")): \(formatFixed(b.seconds, digits: 1)) s, \(b.recordsStored) records (\(b.bytesStored) bytes) collected over \(b.uplink.rawValue); \(statuses.joined(separator: ", "))")
            if matrix.vsockLoopback {
                log("boot \(i): AF_VSOCK inside the guest (vsock_loopback): \(b.vsock?.text ?? "no report")")
                if b.vsock?.exitStatus != 0 { failures.append("boot \(i): the vsock loopback check failed (\(b.vsock?.text ?? "no report"); console: \(b.console))") }
            }
            for (slot, d) in devices.disks.enumerated() where b.slotStatus[slot] != 0 {
                let why = b.stalledSlots[slot].map { "stalled: the run on \($0) outlived SIGKILL, waiting on I/O the device never completed; its later passes were skipped" }
                    ?? b.slotStatus[slot].map { "vbench run exited \($0)" } ?? "no result"
                failures.append("\(d.rawValue) (disk \(slot)): \(why) (console: \(b.console))")
            }
            if !devices.nics.isEmpty {
                if b.netStatus != 0 { failures.append("net (\(devices.nics.map(\.rawValue).joined(separator: ", "))): \(b.netStatus.map { "vbench run --device net exited \($0)" } ?? "no result") (console: \(b.console))") }
                // Every NIC must have its own record, named by its driver.
                let stored = try runStore.runs(RunQuery(tags: ["lab.run": runId, "lab.boot": "\(i)"])).compactMap { try runStore.record($0.runId) }
                for nic in devices.nics where !stored.contains(where: { $0.family == "net" && $0.device.driver == nic.guestDriver }) {
                    failures.append("\(nic.rawValue): no network record with driver \(nic.guestDriver) reached the store (console: \(b.console))")
                }
            }
            if matrix.transportCheckMiB > 0 {
                log("boot \(i): a \(matrix.transportCheckMiB) MiB record over \(b.uplink.rawValue): transport check \(b.transportCheck?.text ?? "no report")")
                let checks = try runStore.runs(RunQuery(tags: ["lab.run": runId, "lab.boot": "\(i)", "lab.check": "transport"])).compactMap { try runStore.record($0.runId) }
                if b.transportCheck?.exitStatus != 0 {
                    failures.append("boot \(i): the \(matrix.transportCheckMiB) MiB record did not arrive (\(b.transportCheck?.text ?? "no report"); console: \(b.console))")
                } else if checks.count != 1 || !LabRunner.transportCheckIntact(checks[0]) {
                    failures.append("boot \(i): the \(matrix.transportCheckMiB) MiB record is not in the store whole (\(checks.count) stored)")
                } else {
                    log("boot \(i): the stored record matches its SHA-256 (\(checks[0].workloads.reduce(0) { $0 + $1.repetitions.count }) repetitions)")
                }
            }
            if matrix.transportBenchmark != nil {
                let lines = b.transportBench
                for l in lines.sorted(by: { ($0.size, $0.transport) > ($1.size, $1.transport) }) {
                    log("boot \(i): transport bench \(l.transport) \(l.size): \(l.records) records, \(l.bytes) bytes in \(formatFixed(l.seconds, digits: 2)) s: \(formatFixed(l.recordsPerSecond, digits: 1)) records/s, \(formatFixed(l.megabytesPerSecond, digits: 2)) MB/s (\(l.sendReport))")
                }
                for size in ["small", "large"] {
                    let pair = lines.filter { $0.size == size }
                    if let v = pair.first(where: { $0.transport == b.uplink.rawValue }), let s = pair.first(where: { $0.transport == LabUplink.virtioSerial.rawValue }), s.seconds > 0, v.seconds > 0 {
                        log("boot \(i): transport bench \(size): \(b.uplink.rawValue) / virtio-serial = \(formatFixed(s.seconds / v.seconds, digits: 2))x the rate")
                    }
                }
                if lines.count != 4 || !lines.allSatisfy(\.delivered) {
                    failures.append("boot \(i): the transport benchmark did not deliver every record (\(b.transportBench.isEmpty ? "no report" : b.transportBench.map { "\($0.transport) \($0.size) exit \($0.exitStatus): \($0.sendReport)" }.joined(separator: " | ")); console: \(b.console))")
                }
            }
            if let f = b.throttleFailure { failures.append("boot \(i): throttling: \(f)") }
            if !b.throttles.isEmpty {
                log("boot \(i): throttled \(b.throttles.sorted { $0.key < $1.key }.map { "disk \($0.key) to \($0.value) IOPS" }.joined(separator: ", ")) from the reference's \(formatFixed(b.throttleReference ?? 0, digits: 0)) IOPS")
            }
            if b.timedOut { failures.append("boot \(i) timed out after \(Int(b.seconds)) s (console: \(b.console))") }
            if b.sendStatus != 0 { failures.append("boot \(i): records were not all sent (send \(b.sendStatus.map(String.init) ?? "never ran"); console: \(b.console))") }
        }
        let sweep = request.guestCounts ?? [1]
        for round in 0..<request.rounds {
            for appliance in appliances {
                for devices in matrix.boots {
                    for n in sweep {
                        let first = index
                        index += n
                        let elapsed = Double(Clock.monotonicNs() - started) / 1e9
                        guard elapsed + 30 < request.timeout else {
                            failures.append("boot \(first)\(n > 1 ? "…\(first + n - 1)" : "") (\(devices.label), kernel \(appliance.kernel.version)) skipped: the --timeout of \(Int(request.timeout)) s is spent")
                            continue
                        }
                        var o = options
                        // Concurrent guests share the host's cores: each runs slower.
                        o.bootTimeout = min(options.bootTimeout * Double(max(1, n)), request.timeout - elapsed)
                        o.extraTags["lab.round"] = "\(round)"
                        o.extraTags["lab.kernel"] = appliance.kernel.version
                        if request.guestCounts != nil { o.extraTags["lab.guests"] = "\(n)" }
                        if n > 1 { log("\(n) concurrent guests (boots \(first)…\(first + n - 1)) with \(devices.label)") }
                        let results = LockedResults(count: n)
                        // Each guest's runner on its own thread; messages serialized.
                        let runners = (0..<n).map { k -> UncheckedBox<LabRunner> in
                            var ok = o
                            if request.guestCounts != nil { ok.extraTags["lab.guest"] = "\(k)" }
                            return UncheckedBox(LabRunner(options: ok, appliance: appliance, store: runStore,
                                                          log: { m in results.serialized { log(m) } },
                                                          progress: { m in results.serialized { progress(m) } }))
                        }
                        let (devs, accel, qv) = (devices, acceleration, qemuVersion)
                        // One thread per guest (at most 16), each boot bounded by its own timeout.
                        try ThreadGroup.run(count: n) { k in
                            results.set(k, Result { try runners[k].value.boot(index: first + k, devices: devs, accel: accel, qemuVersion: qv) })
                        }
                        for k in 0..<n {
                            switch results.get(k) {
                            case .success(let b): try check(b, devices, first + k, round, appliance, guests: n)
                            case .failure(let e): failures.append("boot \(first + k) (one of \(n) concurrent guests): \(e)")
                            case nil: failures.append("boot \(first + k): no result")
                            }
                        }
                    }
                }
            }
        }
        if request.nativeBaseline && !matrix.disks.isEmpty {
            log("native baseline: the same workloads on this machine (a file under \(request.out)/lab)")
            let dir = "\(request.out)/lab/native-\(runId)"
            try AtomicFile.makeDirectories(dir)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var args = ["run", "--device", "blk", "--runs", "1", "--native", "--target", dir, "--size", "\(matrix.diskSizeMiB)m",
                        "--profile", matrix.profile, "--out", request.out, "--store", request.store,
                        "--tag", "lab.run=\(runId)", "--tag", "lab.disk=native", "--tag", "lab.matrix=\(matrix.name)"]
            if let r = matrix.runtimeSeconds { args += ["--runtime", "\(r)"] }
            if let r = matrix.repetitions { args += ["--repeat", "\(r)"] }
            for (k, v) in options.extraTags { args += ["--tag", "\(k)=\(v)"] }
                        let o = try Subprocess.run(options.hostBinary, args, timeout: max(60, min(options.bootTimeout, request.timeout - Double(Clock.monotonicNs() - started) / 1e9)))
            if o.status != 0 { failures.append("native baseline: vbench run exited \(o.status): \(o.stderr.split(separator: "\n").suffix(3).joined(separator: " | "))") }
        }
        let records = try runStore.runs(RunQuery(tags: ["lab.run": runId])).compactMap { try runStore.record($0.runId) }.filter { $0.tags["lab.check"] == nil }
        let table = LabTable.render(records)
        let summary = LabTable.summary(runId: runId, matrix: matrix, acceleration: why, qemu: qemuLine, appliances: appliances,
                                       boots: boots, table: table, failures: failures)
        // Everything of the run under results/lab/RUN: the summary and the records as JSON.
        let folder = "\(request.out)/lab/\(runId)"
        try AtomicFile.makeDirectories(folder)
        try AtomicFile.write(Array(summary.utf8), to: "\(folder)/summary.md")
        let json = try records.map { String(decoding: try $0.jsonData(pretty: false), as: UTF8.self) }
        try AtomicFile.write(Array(("[\n" + json.joined(separator: ",\n") + "\n]\n").utf8), to: "\(folder)/records.json")
        // What each boot's guest reported, as values (events.json): tests and tools read these.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(Array(try encoder.encode(boots.map { BootEvents(boot: $0.index, events: $0.events) })), to: "\(folder)/events.json")
        log("\(records.count) records in \(request.store) (tag lab.run=\(runId)) and \(folder)/records.json; events in \(folder)/events.json; summary in \(folder)/summary.md; took \(Int(Double(Clock.monotonicNs() - started) / 1e9)) s")
        return Outcome(runId: runId, records: records, table: table, folder: folder, failures: failures)
    }
}

/// One boot's events, as `events.json` keeps them.
public struct BootEvents: Codable, Sendable, Equatable {
    public var boot: Int
    public var events: [LabEvent]
}

/// Results of concurrent boots, one slot per guest; `lock` serializes their messages.
final class LockedResults: Sendable {
    private let lock = Mutex(())
    private let items: Mutex<[Result<BootResult, any Error>?]>
    init(count: Int) { items = Mutex(Array(repeating: nil, count: count)) }
    func set(_ i: Int, _ r: Result<BootResult, any Error>) { items.withLock { $0[i] = r } }
    func get(_ i: Int) -> Result<BootResult, any Error>? { items.withLock { $0[i] } }
    /// Runs `body` while no other guest's message is being written.
    func serialized(_ body: () -> Void) { lock.withLock { _ in body() } }
}

/// A value handed to concurrent code that only this file's discipline keeps safe (each runner
/// is used by one thread; their messages go through a lock).
final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
