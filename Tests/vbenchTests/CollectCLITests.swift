import Foundation
import Testing
import VBenchCollector
import VBenchCore
import VBenchStore
import VBenchUplink

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
        let r = try Binary.run(["run", "--target", dir.path, "--rw", "randread", "--runtime", "0.2", "--ramp", "0", "--repeat", "1",
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

    @Test func unreachableCollectorSpoolsAndSendDeliversLater() throws {
        let dir = try ScratchFolder()
        let socket = dir.path + "/later.sock"
        let r = try Binary.run(["run", "--target", dir.path, "--rw", "randread", "--runtime", "0.2", "--ramp", "0", "--repeat", "1",
                                "--size", "8m", "--out", dir.path + "/guest", "--send", "unix:" + socket])
        #expect(r.status == 0, "the run succeeded; only the delivery waits")
        #expect(r.stderr.contains("1 record(s) wait in"))
        let collector = try CollectorProcess(arguments: ["--listen", "unix:" + socket, "--store", dir.path + "/host.sqlite"])
        let sent = try Binary.run(["send", "--to", "unix:" + socket, "--spool", dir.path + "/guest/spool"])
        #expect(sent.status == 0 && sent.stdout.contains("stored 1, already stored 0, still spooled 0"), "\(sent.stdout) \(sent.stderr)")
        #expect(collector.terminate() == 0)
    }

    /// kill -9 in the middle of ingest: every record the collector acknowledged is in the store.
    @Test func killNineLosesNoAcknowledgedRecord() throws {
        let dir = try ScratchFolder()
        let socket = dir.path + "/k.sock"
        let storePath = dir.path + "/host.sqlite"
        let collector = try CollectorProcess(arguments: ["--listen", "unix:" + socket, "--store", storePath])
        let acked = NSLock()
        nonisolated(unsafe) var ackedIds: [UUID] = []
        nonisolated(unsafe) var attempted = 0
        let sender = Thread {
            let uplink = Uplink(endpoint: .unix(path: socket), timeout: .seconds(5))
            for i in 0..<2000 {
                let batch = (0..<4).map { j in Self.record(i * 4 + j) }
                acked.lock(); attempted += batch.count; acked.unlock()
                guard let acks = try? uplink.send(batch) else { return }
                acked.lock(); ackedIds += acks.keys; acked.unlock()
            }
        }
        sender.start()
        // Kill once some records are acknowledged and more are in flight.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            acked.lock(); let n = ackedIds.count; acked.unlock()
            if n >= 40 { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        collector.kill9()
        Thread.sleep(forTimeInterval: 0.5)
        acked.lock(); let acknowledged = ackedIds; let tried = attempted; acked.unlock()
        #expect(acknowledged.count >= 40)
        let store = try SQLiteRunStore(path: storePath)
        let lost = try acknowledged.filter { try store.record($0) == nil }
        #expect(lost.isEmpty, "\(lost.count) acknowledged records lost")
        let stored = try store.runs(RunQuery(limit: 100_000)).count
        print("kill -9 test: \(tried) records sent, \(acknowledged.count) acknowledged, \(stored) stored, \(lost.count) acknowledged lost")
    }

    static func record(_ i: Int) -> RunRecord {
        RunRecord(runId: UUID(), startTime: Date(timeIntervalSince1970: 1_800_000_000 + Double(i)),
                  endTime: Date(timeIntervalSince1970: 1_800_000_001 + Double(i)), role: .guest, tool: ToolInfo(),
                  environment: Environment(hostname: "g", kernelRelease: "6.1.0-56-amd64", cpuModel: "c", onlineCpus: 1,
                                           memoryBytes: 1 << 29, numaNodes: 1, hypervisor: HypervisorInfo(vendor: .qemuTcg)),
                  device: DeviceInfo(kind: "block", name: "vda", driver: "virtio_blk", deviceClass: .paravirtual),
                  family: "blk", target: nil, workloads: [])
    }
}
