import Foundation
import Testing
import VBenchTestSupport
import VBenchCollector
import VBenchCore
import VBenchStore
import VBenchStoreAPI
import VBenchUplink
import VBenchWire

/// A `vbench collect` process, stopped (SIGTERM) or killed (SIGKILL) by the test that started it.
final class CollectorProcess {
    let process = Process()
    let stderr = Pipe()
    let stdout = Pipe()
    private(set) var tcpPort: Int = 0

    init(arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = ["collect"] + arguments
        process.standardError = stderr
        process.standardOutput = stdout
        try process.run()
        // Wait (bounded) for "listening on tcp://127.0.0.1:PORT" and the ready line.
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !text.contains("SIGINT or SIGTERM stops") {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        if let range = text.range(of: "tcp://127.0.0.1:") {
            tcpPort = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
        }
    }

    func terminate() -> Int32 {
        process.terminate()  // SIGTERM
        process.waitUntilExit()
        return process.terminationStatus
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill9() } }
}

@Suite(.serialized) struct CollectCLITests {
    @Test func runSendsToCollectAndSigtermExitsZero() throws {
        let dir = try ScratchFolder()
        let socket = dir.path + "/c.sock"
        let collector = try CollectorProcess(arguments: ["--listen", "unix:" + socket, "--listen", "tcp://127.0.0.1:0",
                                                         "--store", dir.path + "/host.sqlite", "--json-log"])
        #expect(collector.tcpPort > 0)
        let r = try Binary.run(["run", "--runs", "1", "--target", dir.path, "--rw", "randread", "--runtime", "0.2", "--ramp", "0", "--repeat", "1",
                                "--size", "8m", "--out", dir.path + "/guest", "--send", "unix:" + socket])
        #expect(r.status == 0)
        #expect(r.stderr.contains("1 stored, 0 already there"), "\(r.stderr)")
        // The same record again, over TCP: a duplicate.
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/guest/runs").first)
        let again = try Binary.run(["send", "--to", "tcp://127.0.0.1:\(collector.tcpPort)", "--spool", dir.path + "/guest/spool",
                                    dir.path + "/guest/runs/" + file])
        #expect(again.stdout.contains("stored 0, already stored 1, still spooled 0"), "\(again.stdout) \(again.stderr)")
        #expect(collector.terminate() == 0)
        let store = try SQLiteRunStore(path: dir.path + "/host.sqlite")
        let runs = try store.runs(RunQuery())
        #expect(runs.count == 1 && runs[0].peer == "unix:" + socket)
        let log = String(decoding: collector.stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("\"event\":\"stored\"") && log.contains("\"event\":\"duplicate\"") && log.contains("\"event\":\"stopped\""))
    }

    /// serial:PATH, as a guest's virtio-serial port: here a pseudo-terminal that socat joins to
    /// the collector's Unix socket, as QEMU's chardev does on a real host.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/socat"), "needs socat (scripts/deps installs it)"))
    func runSendsOverASerialPort() throws {
        let dir = try ScratchFolder()
        let socket = dir.path + "/c.sock"
        let port = dir.path + "/vport"
        let collector = try CollectorProcess(arguments: ["--listen", "unix:" + socket, "--store", dir.path + "/host.sqlite"])
        let bridge = Process()
        bridge.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        bridge.arguments = ["60", "/usr/bin/socat", "PTY,link=\(port),raw,echo=0", "UNIX-CONNECT:\(socket)"]
        try bridge.run()
        defer { if bridge.isRunning { bridge.terminate(); bridge.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: port) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let r = try Binary.run(["run", "--runs", "1", "--target", dir.path, "--rw", "randread", "--runtime", "0.2", "--ramp", "0", "--repeat", "1",
                                "--size", "8m", "--out", dir.path + "/guest", "--send", "serial:" + port])
        #expect(r.stderr.contains("sent to serial:\(port): 1 stored"), "\(r.stderr)")
        #expect(collector.terminate() == 0)
        #expect(try SQLiteRunStore(path: dir.path + "/host.sqlite").runs(RunQuery()).count == 1)
    }

    @Test func unreachableCollectorSpoolsAndSendDeliversLater() throws {
        let dir = try ScratchFolder()
        let socket = dir.path + "/later.sock"
        let r = try Binary.run(["run", "--runs", "1", "--target", dir.path, "--rw", "randread", "--runtime", "0.2", "--ramp", "0", "--repeat", "1",
                                "--size", "8m", "--out", dir.path + "/guest", "--send", "unix:" + socket])
        #expect(r.status == 0, "the run succeeded; only the delivery waits")
        #expect(r.stderr.contains("1 record(s) wait in"))
        let collector = try CollectorProcess(arguments: ["--listen", "unix:" + socket, "--store", dir.path + "/host.sqlite"])
        let sent = try Binary.run(["send", "--to", "unix:" + socket, "--spool", dir.path + "/guest/spool"])
        #expect(sent.status == 0 && sent.stdout.contains("stored 1, already stored 0, still spooled 0"), "\(sent.stdout) \(sent.stderr)")
        #expect(collector.terminate() == 0)
    }

    /// kill -9 in the middle of ingest (50 senders, 2,000 records): every record the collector
    /// acknowledged is in the store; after a restart everything is re-sent and stored once.
    @Test func killNineLosesNoAcknowledgedRecordAndResendsStoreOnce() throws {
        let dir = try ScratchFolder()
        let socket = dir.path + "/k.sock"
        let storePath = dir.path + "/host.sqlite"
        let collector = try CollectorProcess(arguments: ["--listen", "unix:" + socket, "--store", storePath])
        let all = (0..<2000).map(Self.record)
        let lock = NSLock()
        nonisolated(unsafe) var ackedIds: [UUID] = []
        let senders = (0..<50).map { s in
            Thread {
                let uplink = Uplink(endpoint: .unix(path: socket), timeout: .seconds(5))
                let mine = Array(all[(s * 40)..<((s + 1) * 40)])
                for chunk in stride(from: 0, to: mine.count, by: 4).map({ Array(mine[$0..<$0 + 4]) }) {
                    guard let acks = try? uplink.send(chunk) else { return }
                    lock.lock(); ackedIds += acks.keys; lock.unlock()
                    if acks.count < chunk.count { return }
                }
            }
        }
        senders.forEach { $0.start() }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            lock.lock(); let n = ackedIds.count; lock.unlock()
            if n >= 300 { break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        collector.kill9()
        while senders.contains(where: { !$0.isFinished }) { Thread.sleep(forTimeInterval: 0.05) }
        lock.lock(); let acknowledged = ackedIds; lock.unlock()
        #expect(acknowledged.count >= 300)
        do {
            let store = try SQLiteRunStore(path: storePath)
            let lost = try acknowledged.filter { try store.record($0) == nil }
            #expect(lost.isEmpty, "\(lost.count) acknowledged records lost")
            let storedBefore = try store.runs(RunQuery(limit: 100_000)).count
            print("kill -9 test: 2000 records, \(acknowledged.count) acknowledged before the kill, \(storedBefore) in the store, \(lost.count) acknowledged lost")
        }
        // Restart and re-send everything: each run id ends up stored exactly once.
        let restarted = try CollectorProcess(arguments: ["--listen", "unix:" + socket, "--store", storePath])
        let uplink = Uplink(endpoint: .unix(path: socket), timeout: .seconds(30))
        var statuses: [UUID: Ack.Status] = [:]
        for chunk in stride(from: 0, to: all.count, by: 200).map({ Array(all[$0..<$0 + 200]) }) {
            statuses.merge(try uplink.send(chunk)) { a, _ in a }
        }
        #expect(restarted.terminate() == 0)
        #expect(statuses.count == 2000)
        for id in acknowledged { #expect(statuses[id] == .duplicate) }
        let store = try SQLiteRunStore(path: storePath)
        #expect(try store.runs(RunQuery(limit: 100_000)).count == 2000)
        print("after restart: \(statuses.values.filter { $0 == .stored }.count) stored now, \(statuses.values.filter { $0 == .duplicate }.count) duplicates")
    }

    /// A full disk under the spool: `vbench send` names the record it could not spool, the
    /// folder and the cause, exits 1, and the record spooled before is still there, whole, with
    /// no temporary file left beside it. The full disk is a 256 KiB tmpfs in a mount namespace
    /// of this test's own (`unshare -rm`), filled with dd: nothing outside it is touched.
    @Test func aFullDiskKeepsTheSpooledRecordsAndSaysWhy() throws {
        let dir = try ScratchFolder()
        let mnt = dir.path + "/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let (first, second) = (Self.record(1), Self.record(2))
        try first.jsonData().write(to: URL(fileURLWithPath: dir.path + "/first.json"))
        try second.jsonData().write(to: URL(fileURLWithPath: dir.path + "/second.json"))
        let script = #"""
            mount -t tmpfs -o size=256k vbench-spool-test "$1" || { echo "no-mount"; exit 0; }
            "$2" send --to "unix:$1/nobody.sock" --spool "$1/spool" --timeout 1 "$3/first.json" >/dev/null 2>&1
            echo "first=$?"
            dd if=/dev/zero of="$1/fill" bs=4k 2>/dev/null
            "$2" send --to "unix:$1/nobody.sock" --spool "$1/spool" --timeout 1 "$3/second.json" 2>"$3/second.err" >/dev/null
            echo "second=$?"
            echo "files=$(ls "$1/spool" | tr '\n' ' ')"
            cat "$1"/spool/*.json > "$3/spooled.json"
            """#
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["60", "unshare", "-rm", "sh", "-c", script, "sh", mnt, Binary.path, dir.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try #require(p.terminationStatus == 0 && !text.contains("no-mount"),
                     "this test needs a private mount namespace (unshare -rm, util-linux) to make a full disk: \(text)")
        #expect(text.contains("first=1"), "unreachable collector: spooled, exit 1: \(text)")
        #expect(text.contains("second=1"), "\(text)")
        let err = try String(contentsOfFile: dir.path + "/second.err", encoding: .utf8)
        #expect(err.contains("cannot spool record \(second.runId.uuidString.lowercased()) in \(mnt)/spool") && err.contains("No space left on device")
                && err.contains("the records spooled before are kept"), "\(err)")
        // Only the first record's file, whole; no temporary file left.
        let files = text.split(separator: "\n").first { $0.hasPrefix("files=") }.map { $0.dropFirst(6).split(separator: " ") } ?? []
        #expect(files == ["\(first.runId.uuidString.lowercased()).json"], "\(text)")
        let kept = try RunRecord.decode(Data(contentsOf: URL(fileURLWithPath: dir.path + "/spooled.json")))
        #expect(kept.runId == first.runId && kept.workloads == first.workloads)
    }

    static func record(_ i: Int) -> RunRecord {
        RunRecord(runId: UUID(), startTime: Date(timeIntervalSince1970: 1_800_000_000 + Double(i)),
                  endTime: Date(timeIntervalSince1970: 1_800_000_001 + Double(i)), role: .guest, tool: ToolInfo(),
                  environment: Environment(hostname: "g", kernelRelease: "6.1.0-56-amd64", cpuModel: "c", onlineCpus: 1,
                                           memoryBytes: 1 << 29, numaNodes: 1, hypervisor: HypervisorInfo(vendor: .qemuTcg)),
                  device: DeviceInfo(kind: "block", name: "vda", driver: "virtio_blk", deviceClass: .paravirtual),
                  family: "blk", target: nil,
                  workloads: [WorkloadResult(spec: BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 1),
                                             repetitions: [RepetitionResult(index: 0, elapsedNs: 1_000_000_000, jobs: [], latency: nil,
                                                                            readLatency: nil, writeLatency: nil)])])
    }
}
