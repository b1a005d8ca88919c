import Foundation
import Testing
import VBenchTestSupport
@testable import vbench
import ArgumentParser
import VBenchCore
import VBenchGuestCLI
import VBenchStoreAPI

/// The built `vbench` next to the test bundle.
enum Binary {
    static let path: String = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [here, here.deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("vbench").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return here.appendingPathComponent("vbench").path
    }()

    struct Outcome { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ arguments: [String], timeout: Int = 120, environment: [String: String] = [:]) throws -> Outcome {
        let p = Process()
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["-k", "10", "\(timeout)", path] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

/// The golden files of this test target.
let Golden = GoldenFiles(beside: #filePath)

extension GoldenFiles {
    /// Compares with the golden file; `VBENCH_UPDATE_GOLDEN=1` rewrites it.
    func check(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(text == (try golden(name, updatingWith: text)), "differs from Golden/\(name); rerun with VBENCH_UPDATE_GOLDEN=1 if intended",
                sourceLocation: sourceLocation)
    }
}

@Suite struct HelpTextTests {
    /// Every command of the tree with its path: `vbench`, `run`, `runs list`, `lab run`, …
    static let commands: [(path: String, type: any ParsableCommand.Type)] = {
        var out: [(String, any ParsableCommand.Type)] = []
        func walk(_ c: any ParsableCommand.Type, _ path: [String]) {
            out.append((path.isEmpty ? "vbench" : path.joined(separator: "-"), c))
            for sub in c.configuration.subcommands { walk(sub, path + [sub._commandName]) }
        }
        walk(VBench.self, [])
        return out
    }()

    /// The help of every subcommand, as users see it at 100 columns, against its golden file
    /// (`Golden/<path>-help.txt`).
    @Test(arguments: commands.map(\.path))
    func helpOfEveryCommand(_ path: String) throws {
        let type = try #require(Self.commands.first { $0.path == path }?.type)
        try Golden.check(VBench.helpMessage(for: type, columns: 100), path == "vbench" ? "vbench-help.txt" : "\(path)-help.txt")
    }

    /// The guest binary's own root help (its commands are the same definitions as vbench's).
    @Test func guestBinaryHelp() throws {
        let guest = URL(fileURLWithPath: Binary.path).deletingLastPathComponent().appendingPathComponent("vbench-guest").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: guest)
        p.arguments = ["--help"]
        p.environment = ["COLUMNS": "100"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        try Golden.check(text, "vbench-guest-help.txt")
    }
}

@Suite(.serialized) struct ExitCodeTests {
    @Test func versionAndHelpExitZero() throws {
        let v = try Binary.run(["--version"])
        #expect(v.status == 0 && v.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == VBenchVersion.current)
        #expect(try Binary.run(["run", "--help"]).status == 0)
    }

    @Test(arguments: [
        (["run", "--rw", "randread", "--iodepth", "0"], "--iodepth must be 1…4096; got 0"),
        (["run", "--rw", "randread", "--bs", "1000"], "--bs must be a multiple of 512 from 512 to 16m; got 1000"),
        (["run", "--rw", "randread", "--bs", "32m"], "--bs must be a multiple of 512 from 512 to 16m; got 32m"),
        (["run", "--rw", "randread", "--iodepth", "4096", "--bs", "1m"], "keep it at most 1 GiB"),
        (["run", "--device", "net"], "--device net needs --peer HOST[:PORT]"),
        (["run", "--device", "net", "--peer", "127.0.0.1", "--streams", "0"], "--streams must be 1…128; got 0"),
        (["lab", "run", "--guests", "1,0"], "--guests must be a comma-separated list of counts 1…16"),
        (["compare", "kernel=a"], "Missing expected argument"),
        (["compare", "kernel", "kernel=a"], "selection 'kernel': 'kernel' is not key=value"),
        (["serve", "--listen", "nowhere"], "--listen <addr:port>': must be ADDR:PORT (e.g. 0.0.0.0:5201"),
        (["run", "--device", "disk"], "--device must be blk, net, mem or all; got 'disk'"),
        (["run", "--device", "mem", "--threads", "0"], "--threads must be 1…1024; got 0"),
        (["run", "--device", "mem", "--repeat", "1"], "the first iteration is dropped"),
        (["run", "--threads", "2"], "--threads applies to --device mem"),
        (["run", "--profile", "huge"], "huge"),
        (["run", "--runtime", "0"], "--runtime must be more than 0"),
        (["run", "--io-size", "1m", "--runtime", "1"], "pass one"),
        (["run", "--size", "lots"], "--size must be a size such as 256m or 4g; got 'lots'"),
        (["frobnicate"], "frobnicate"),
    ])
    func usageErrorsExit64AndSayWhatToDo(arguments: [String], message: String) throws {
        let r = try Binary.run(arguments)
        #expect(r.status == 64, "\(arguments) exited \(r.status)")
        #expect(r.stderr.contains(message), "stderr: \(r.stderr)")
    }

    /// The one mapping from causes to exit codes gives each documented code, and the README's
    /// list is the same list.
    @Test func everyCauseHasItsDocumentedExitCode() throws {
        let documented: [FailureCause: Int32] = [.error: 1, .regression: 2, .benchmarkFailed: 3, .baselineMissing: 5, .usage: 64]
        #expect(Set(FailureCause.allCases) == Set(documented.keys))
        for cause in FailureCause.allCases {
            #expect(VBenchExit.code(for: VBenchFailure(cause, "x")).rawValue == documented[cause])
        }
        #expect(VBenchExit.code(for: SelectionError("x")) == VBenchExit.usage)
        #expect(VBenchExit.code(for: ValidationError("x")) == VBenchExit.usage)
        #expect(VBenchExit.code(for: CocoaError(.fileNoSuchFile)) == VBenchExit.error)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let line = try #require(readme.components(separatedBy: "## Exit codes").dropFirst().first)
        for (cause, code) in documented {
            #expect(line.contains("\(code) "), "README's exit codes lack \(code) (\(cause))")
        }
    }

    @Test func missingFolderExitsOneAndNamesIt() throws {
        let out = try ScratchFolder()
        let r = try Binary.run(["run", "--runs", "1", "--target", "/var/tmp/vbench-none-\(UUID().uuidString)/t.dat", "--profile", "quick", "--out", out.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("does not exist; create it or name a target in an existing directory"))
        #expect(!FileManager.default.fileExists(atPath: out.path + "/runs"), "nothing is written on failure")
    }

    @Test func existingFileIsRefusedWithExitOne() throws {
        let out = try ScratchFolder()
        let file = out.path + "/keep.img"
        try Data(repeating: 1, count: 1 << 20).write(to: URL(fileURLWithPath: file))
        let r = try Binary.run(["run", "--runs", "1", "--target", file, "--rw", "randwrite", "--runtime", "0.2", "--out", out.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("--allow-destructive"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data(repeating: 1, count: 1 << 20))
    }

    /// The acceptance run: a quick profile on a file writes a valid record.
    @Test func quickProfileWritesAValidRecord() throws {
        let out = try ScratchFolder()
        let target = out.path + "/quick.dat"
        let r = try Binary.run(["run", "--runs", "1", "--device", "blk", "--target", target, "--profile", "quick", "--json", "--out", out.path,
                                "--tag", "test=quick"], timeout: 300)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let record = try RunRecord.decode(Data(r.stdout.utf8))
        #expect(record.schemaVersion == 2)
        #expect(record.family == "blk")
        #expect(record.tags["test"] == "quick")
        #expect(record.workloads.map(\.name) == BlockProfile.quick.workloads().map(\.name))
        for w in record.workloads {
            #expect(w.repetitions.count == BlockProfile.quick.repetitions)
            #expect((w.summary["iops"]?.median ?? 0) > 0)
            #expect(w.summary["iops"]?.ci95Low != nil)
            #expect(w.latencyNs?.percentiles["p99.99"] != nil)
        }
        #expect(record.target?.direct == true && record.target?.sizeBytes == BlockProfile.quick.fileBytes)
        #expect(!FileManager.default.fileExists(atPath: target), "the created file is removed")
        let stored = try FileManager.default.contentsOfDirectory(atPath: out.path + "/runs")
        #expect(stored.count == 1)
        let fromDisk = try RunRecord.decode(Data(contentsOf: URL(fileURLWithPath: out.path + "/runs/" + stored[0])))
        #expect(fromDisk == record)
    }

    @Test func runsAreStoredListedShownAndExported() throws {
        let out = try ScratchFolder()
        for pattern in ["randread", "randwrite"] {
            let r = try Binary.run(["run", "--runs", "1", "--target", out.path, "--rw", pattern, "--runtime", "0.2", "--ramp", "0", "--repeat", "2",
                                    "--size", "8m", "--out", out.path, "--tag", "case=\(pattern)"])
            #expect(r.status == 0, "stderr: \(r.stderr)")
        }
        let store = out.path + "/vbench.sqlite"
        let list = try Binary.run(["runs", "list", "--store", store])
        #expect(list.status == 0)
        #expect(list.stdout.split(separator: "\n").count == 3, "header and two runs: \(list.stdout)")
        let tagged = try Binary.run(["runs", "list", "--store", store, "--tag", "case=randwrite"])
        let lines = tagged.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let prefix = String(lines[1].prefix(8))
        let show = try Binary.run(["runs", "show", prefix, "--store", store])
        #expect(show.status == 0)
        let record = try RunRecord.decode(Data(show.stdout.utf8))
        #expect(record.tags["case"] == "randwrite" && record.workloads[0].spec.block?.pattern == .randwrite)
        let csv = try Binary.run(["runs", "export", "--store", store, "--format", "csv", "--tag", "case=randread"])
        #expect(csv.stdout.hasPrefix("run_id,start_time,role,hypervisor,kernel,device,driver,class,workload,repetition,metric,value\n"))
        #expect(csv.stdout.contains(",randread-4k-qd32,1,iops,"))
        let json = try Binary.run(["runs", "export", "--store", store])
        #expect(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) is [Any])
        let missing = try Binary.run(["runs", "list", "--store", out.path + "/none.sqlite"])
        #expect(missing.status == 64 && missing.stderr.contains("no results store at"))
        let badTime = try Binary.run(["runs", "list", "--store", store, "--since", "yesterday"])
        #expect(badTime.status == 64 && badTime.stderr.contains("ISO 8601"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/fio"), "needs Debian's fio (scripts/deps installs it)"))
    func fioResultsAndRecordsAreImportedOnce() throws {
        let out = try ScratchFolder()
        let fioJSON = out.path + "/fio.json"
        let fio = Process()
        fio.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        fio.arguments = ["60", "/usr/bin/fio", "--name=imp", "--filename=\(out.path)/f.dat", "--size=8m", "--direct=1", "--ioengine=libaio",
                         "--rw=randread", "--bs=4k", "--iodepth=4", "--runtime=1", "--time_based", "--lat_percentiles=1",
                         "--output-format=json", "--output=\(fioJSON)"]
        fio.standardOutput = FileHandle.nullDevice
        try fio.run()
        fio.waitUntilExit()
        try #require(fio.terminationStatus == 0)
        let store = out.path + "/s.sqlite"
        let first = try Binary.run(["import", "--store", store, "--tag", "source=test", fioJSON])
        #expect(first.status == 0 && first.stdout.contains(" stored (fio, 1 workload)"), "\(first.stdout) \(first.stderr)")
        let second = try Binary.run(["import", "--store", store, fioJSON])
        #expect(second.stdout.contains(" duplicate "), "importing the same output twice stores it once")
        let prefix = String(first.stdout.split(separator: " ")[1])
        let show = try Binary.run(["runs", "show", prefix, "--store", store])
        let record = try RunRecord.decode(Data(show.stdout.utf8))
        #expect(record.tool.name == "fio" && record.tags["imported"] == "fio" && record.tags["fio.latency"] == "lat")
        #expect(record.tags["source"] == "test" && record.device.deviceClass == .unknown)
        let w = try #require(record.workloads.first)
        #expect(w.spec.block?.pattern == .randread && w.spec.block?.blockSizeBytes == 4096 && w.spec.block?.ioDepth == 4 && w.spec.block?.direct == true)
        // The IOPS vbench derives from fio's counts agree with what fio printed.
        let fioOut = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fioJSON))) as? [String: Any]
        let fioIops = try #require(((fioOut?["jobs"] as? [[String: Any]])?.first?["read"] as? [String: Any])?["iops"] as? Double)
        let iops = try #require(w.repetitions.first?.metrics["iops"])
        #expect(abs(iops - fioIops) / fioIops < 0.02, "vbench \(iops) vs fio \(fioIops)")
        #expect(w.repetitions.first?.metrics["latP99Ns"] != nil)
        // A vbench record file imports too, once.
        let vb = try Binary.run(["run", "--runs", "1", "--target", out.path, "--rw", "randread", "--runtime", "0.2", "--ramp", "0", "--repeat", "1",
                                 "--size", "8m", "--out", out.path + "/vb"])
        #expect(vb.status == 0)
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: out.path + "/vb/runs").first)
        let imported = try Binary.run(["import", "--store", store, out.path + "/vb/runs/" + file])
        #expect(imported.stdout.contains(" stored (vbench, 1 workload)"))
        let junk = out.path + "/junk.json"
        try Data("{}".utf8).write(to: URL(fileURLWithPath: junk))
        let bad = try Binary.run(["import", "--store", store, junk])
        #expect(bad.status == 1 && bad.stderr.contains("neither a RunRecord, fio --output-format=json nor iperf3 -J output"))
    }

    /// Whether something listens on 127.0.0.1:port (read from /proc/net/tcp: state 0A).
    static func listening(_ port: Int) -> Bool {
        let hex = String(port, radix: 16, uppercase: true)
        let padded = String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").contains { $0.contains("0100007F:\(padded) ") && $0.split(separator: " ")[3] == "0A" }
    }

    /// Runs Debian's iperf3 client against a one-shot iperf3 server on loopback and writes its
    /// -J output to `path`. Returns nil when the output holds a finished test (end sums, no
    /// error), else what went wrong on each of three tries. A try can fail for reasons of this
    /// machine, not vbench: a random port another test listens on, a server not yet up under the
    /// load of the parallel suites; each try takes a fresh port that nothing listens on.
    /// Children of test threads start with most signals blocked (libdispatch's mask survives
    /// exec), so the server is ended with SIGKILL and bounded with `timeout -s KILL`.
    static func iperf3(_ clientArguments: [String], into path: String) throws -> String? {
        var failures: [String] = []
        for attempt in 1...3 {
            var port = Int.random(in: 20_000..<60_000)
            while listening(port) { port = Int.random(in: 20_000..<60_000) }
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            server.arguments = ["-s", "KILL", "60", "/usr/bin/iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", "\(port)"]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            defer {
                if server.isRunning { kill(server.processIdentifier, SIGKILL) }
                server.waitUntilExit()
            }
            let deadline = Date().addingTimeInterval(30)
            while server.isRunning && !listening(port) && Date() < deadline { usleep(50_000) }
            guard server.isRunning else {
                failures.append("try \(attempt): the iperf3 server on port \(port) exited (\(server.terminationStatus)) before the client ran")
                continue
            }
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            client.arguments = ["-s", "KILL", "60", "/usr/bin/iperf3", "-c", "127.0.0.1", "-p", "\(port)", "-J"] + clientArguments
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            client.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try client.run()
            client.waitUntilExit()
            let output = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
            let json = try? JSONSerialization.jsonObject(with: output) as? [String: Any]
            if client.terminationStatus == 0, json?["error"] == nil,
               let end = json?["end"] as? [String: Any], (end["sum_received"] as? [String: Any])?["bits_per_second"] is NSNumber {
                return nil
            }
            failures.append("try \(attempt): iperf3 -c exited \(client.terminationStatus) with: \(String(decoding: output.prefix(600), as: UTF8.self))")
        }
        return failures.joined(separator: "\n")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/iperf3"), "needs Debian's iperf3 (scripts/deps installs it)"))
    func iperf3ResultsAreImportedAsNetworkRuns() throws {
        let out = try ScratchFolder()
        let store = out.path + "/s.sqlite"
        let forward = out.path + "/p2.json", reverse = out.path + "/r.json", failed = out.path + "/failed.json"
        if let failed = try Self.iperf3(["-t", "1", "-P", "2", "-l", "64K"], into: forward) { Issue.record("\(failed)"); return }
        if let failed = try Self.iperf3(["-t", "1", "-R"], into: reverse) { Issue.record("\(failed)"); return }

        let first = try Binary.run(["import", "--store", store, "--here", "--native", forward, reverse])
        #expect(first.status == 0 && first.stdout.components(separatedBy: " stored (iperf3, 1 workload)").count == 3, "\(first.stdout) \(first.stderr)")
        let again = try Binary.run(["import", "--store", store, forward])
        #expect(again.stdout.contains(" duplicate "), "importing the same output twice stores it once")

        let lines = first.stdout.split(separator: "\n")
        let record = try RunRecord.decode(Data(try Binary.run(["runs", "show", String(lines[0].split(separator: " ")[1]), "--store", store]).stdout.utf8))
        #expect(record.family == "net" && record.role == .native && record.tool.name == "iperf3" && record.tags["imported"] == "iperf3")
        // --here names the interface holding iperf3's local address: loopback, no drivers.
        #expect(record.device.kind == "net" && record.device.name == "lo" && record.device.deviceClass == .virtual)
        let spec = try #require(record.workloads.first?.spec.net)
        #expect(spec.test == .stream && spec.direction == .send && spec.streams == 2 && spec.messageSizeBytes == 65536)
        #expect(spec.name == "stream-send-p2-64k" && spec.interface == "lo" && spec.peer?.hasPrefix("127.0.0.1:") == true)
        // The goodput is iperf3's receiver sum (to the last bit the two JSON parsers agree on).
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: forward))) as? [String: Any]
        // (as NSNumber: iperf3's cJSON writes a whole number without a point, and an integer NSNumber
        // does not always cast to Double.)
        let received = try #require((((json?["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? NSNumber)?.doubleValue)
        let metrics = try #require(record.workloads.first?.repetitions.first?.metrics)
        #expect(abs((metrics["throughputBitsPerSec"] ?? 0) - received) <= received * 1e-12, "goodput is iperf3 receiver sum")
        #expect(metrics["retransmits"] != nil && metrics["cpuLocalPercent"] != nil && metrics["cpuPeerPercent"] != nil)
        #expect(record.workloads[0].repetitions[0].writeBytes > 0 && record.workloads[0].repetitions[0].readBytes == 0)

        let r = try RunRecord.decode(Data(try Binary.run(["runs", "show", String(lines[1].split(separator: " ")[1]), "--store", store]).stdout.utf8))
        #expect(r.workloads.first?.spec.net?.direction == .receive && r.workloads.first?.name == "stream-recv-p1-128k")
        #expect(r.workloads[0].repetitions[0].readBytes > 0)

        // A client that found no server: iperf3 writes JSON with "error"; nothing is stored, exit 1.
        try Data(#"{"start":{"connected":[],"version":"iperf 3.12"},"intervals":[],"end":{},"error":"unable to connect to server: Connection refused"}"#.utf8)
            .write(to: URL(fileURLWithPath: failed))
        let bad = try Binary.run(["import", "--store", store, failed])
        #expect(bad.status == 1 && bad.stderr.contains("iperf3 reported a failed test (unable to connect"), "\(bad.stderr)")
        let list = try Binary.run(["runs", "export", "--store", store, "--format", "json"])
        #expect(list.stdout.components(separatedBy: "\"runId\"").count - 1 == 2, "\(list.stdout)")
        // --device without --here is a usage error.
        let usage = try Binary.run(["import", "--store", store, "--device", "eth0", forward])
        #expect(usage.status == 64 && usage.stderr.contains("--device names a device of this machine"))
    }

    /// -P 4, -R and --bidir, each from a real iperf3 3.12 run on loopback: goodput per
    /// direction is iperf3's receiver sum.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/iperf3"), "needs Debian's iperf3 (scripts/deps installs it)"))
    func iperf3ParallelReverseAndBidirAgreeWithIperf3() throws {
        let out = try ScratchFolder()
        let store = out.path + "/s.sqlite"
        for (name, args) in [("p4", ["-t", "1", "-P", "4"]), ("p4r", ["-t", "1", "-P", "4", "-R"]), ("bidir", ["-t", "1", "--bidir"])] {
            let path = out.path + "/\(name).json"
            if let failed = try Self.iperf3(args, into: path) { Issue.record("\(name): \(failed)"); return }
            let imported = try Binary.run(["import", "--store", store, path])
            #expect(imported.status == 0, "\(name): \(imported.stderr)")
            let id = try #require(imported.stdout.split(separator: "\n").first?.split(separator: " ").dropFirst().first, "\(imported.stdout)")
            let record = try RunRecord.decode(Data(try Binary.run(["runs", "show", String(id), "--store", store]).stdout.utf8))
            let end = try #require((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])?["end"] as? [String: Any])
            func bits(_ key: String) -> Double? { ((end[key] as? [String: Any])?["bits_per_second"] as? NSNumber)?.doubleValue }
            let byDirection = Dictionary(record.workloads.compactMap { w in w.spec.net.map { ($0.direction, w) } }, uniquingKeysWith: { a, _ in a })
            func goodput(_ d: NetDirection) -> Double? { byDirection[d]?.repetitions.first?.metrics[Metric.throughput.key] }
            // Equal to the last bit the two JSON parsers agree on (cJSON prints 17 digits).
            func same(_ a: Double?, _ b: Double?) -> Bool { guard let a, let b else { return false }; return abs(a - b) <= b * 1e-12 }
            switch name {
            case "p4":
                #expect(record.workloads.count == 1 && byDirection[.send]?.spec.net?.streams == 4)
                #expect(same(goodput(.send), bits("sum_received")), "\(name)")
            case "p4r":
                #expect(record.workloads.count == 1 && byDirection[.receive]?.spec.net?.streams == 4)
                #expect(same(goodput(.receive), bits("sum_received")), "\(name)")
            default:
                #expect(record.workloads.count == 2 && record.tags["iperf3.bidir"] == "1", "\(record.workloads.map(\.name))")
                #expect(same(goodput(.send), bits("sum_received")) && same(goodput(.receive), bits("sum_received_bidir_reverse")),
                        "\(name): \(String(describing: goodput(.send))) \(String(describing: bits("sum_received"))) \(String(describing: goodput(.receive))) \(String(describing: bits("sum_received_bidir_reverse")))")
                #expect(Set(record.workloads.map(\.name)).count == 2, "the two halves are two workloads")
            }
        }
    }

    @Test func memoryRunWritesAVerifiedStreamRecord() throws {
        let out = try ScratchFolder()
        let r = try Binary.run(["run", "--runs", "1", "--device", "mem", "--size", "8m", "--repeat", "3", "--threads", "2", "--json", "--out", out.path,
                                "--tag", "case=mem"])
        #expect(r.status == 0, "\(r.stderr)")
        let record = try RunRecord.decode(Data(r.stdout.utf8))
        #expect(record.family == "mem" && record.device.kind == "memory" && record.tags["case"] == "mem")
        #expect(record.tags["mem.numa"] == "single-node" && r.stderr.contains("one NUMA node: measuring node 0"))
        let names = record.workloads.map(\.name)
        #expect(Array(names.prefix(5)) == ["stream-copy", "stream-scale", "stream-add", "stream-triad", "first-touch-24m"])
        #expect(names.contains("chase-16k") && names.contains("chase-16m"), "\(names)")
        #expect(record.workloads[3].spec.mem?.threads == 2 && record.workloads[3].repetitions.count == 2)
        // The same record is on disk and in the store.
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path + "/runs")
        #expect(files.count == 1 && files[0].contains("-mem-"))
        let list = try Binary.run(["runs", "list", "--store", out.path + "/vbench.sqlite"])
        #expect(list.stdout.contains(" mem "), "\(list.stdout)")
    }

    @Test func deviceAllWritesOneRecordPerFamily() throws {
        let out = try ScratchFolder()
        let r = try Binary.run(["run", "--runs", "1", "--device", "all", "--target", out.path, "--rw", "randread", "--runtime", "0.2", "--ramp", "0",
                                "--repeat", "2", "--size", "8m", "--out", out.path + "/o"], timeout: 300)
        #expect(r.status == 0, "\(r.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path + "/o/runs").sorted()
        #expect(files.count == 2 && files.contains { $0.contains("-blk-") } && files.contains { $0.contains("-mem-") }, "\(files)")
    }

    /// `vbench serve` as its own process on loopback, `vbench run --device net` against it.
    @Test func networkRunAgainstServeOnLoopback() throws {
        let out = try ScratchFolder()
        let serve = Process()
        // Not under timeout(1): it would inherit this test thread's blocked SIGTERM and never
        // pass ours on. vbench clears its own mask; the defer below bounds it with SIGKILL.
        serve.executableURL = URL(fileURLWithPath: Binary.path)
        // Port 0: the kernel picks a free one and serve says which. A random port once met a
        // parallel test's connection on it (the ephemeral range) and serve could not bind.
        serve.arguments = ["serve", "--listen", "127.0.0.1:0"]
        let err = Pipe()
        serve.standardError = err
        try serve.run()
        defer {
            if serve.isRunning { kill(serve.processIdentifier, SIGKILL) }
            serve.waitUntilExit()
        }
        var first = ""
        let deadline = Date().addingTimeInterval(30)
        while !first.contains("\n") && serve.isRunning && Date() < deadline {
            first += String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
        }
        let port = try #require(first.firstRange(of: "on 127.0.0.1:").flatMap { Int(first[$0.upperBound...].prefix { $0.isNumber }) },
                                "serve said: \(first)")
        let r = try Binary.run(["run", "--runs", "1", "--device", "net", "--peer", "127.0.0.1:\(port)", "--runtime", "0.3", "--repeat", "2",
                                "--streams", "2", "--json", "--out", out.path], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let record = try RunRecord.decode(Data(r.stdout.utf8))
        #expect(record.family == "net" && record.device.name == "lo" && record.device.kind == "net")
        #expect(record.workloads.map(\.name) == ["stream-send-p1-128k", "stream-send-p2-128k", "stream-recv-p1-128k", "stream-recv-p2-128k",
                                                 "rr-1b", "rr-1k", "crr-1b"])
        for w in record.workloads {
            #expect(w.repetitions.count == 2)
            let key = w.spec.net?.test == .stream ? "throughputBitsPerSec" : w.spec.net?.test == .rr ? "transactionsPerSec" : "connectionsPerSec"
            #expect((w.summary[key]?.min ?? 0) > 0, "\(w.name) \(key)")
        }
        #expect(record.workloads[4].latencyNs?.percentiles["p99"] != nil)
        // SIGTERM: serve stops and says how many tests it served (7 workloads x 2).
        kill(serve.processIdentifier, SIGTERM)
        serve.waitUntilExit()
        let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(serve.terminationStatus == 0 && said.contains("stopped: 14 tests served"), "\(said)")
    }

    @Test func probeJSONAndFixtureRoot() throws {
        let live = try Binary.run(["probe", "--json"])
        #expect(live.status == 0)
        #expect(live.stdout.contains("\"hypervisor\""))
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/qemu-tcg-emulated").path
        let r = try Binary.run(["probe", "--root", fixture])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Hypervisor: QEMU-TCG"))
        #expect(r.stdout.contains("sda is on ata_piix (emulated IDE); attach it as virtio-blk"))
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").path
        let ec2 = try Binary.run(["probe", "--root", fixtures + "/ec2-nitro"])
        #expect(ec2.stdout.contains("Hypervisor: KVM — Amazon EC2  (cpuid:KVMKVMKVM"), "\(ec2.stdout)")
        let image = try Binary.run(["probe", "--root", fixtures + "/firecracker-docker-image"])
        #expect(image.stdout.contains("Container:  no container\n            against: this process is in the initial PID namespace"), "\(image.stdout)")
        #expect(image.stdout.contains("            for docker: /.dockerenv present"))
        let json = try Binary.run(["probe", "--json", "--root", fixtures + "/docker-nonroot"])
        #expect(json.stdout.contains("\"container\" : {") && json.stdout.contains("\"kind\" : \"docker\""), "\(json.stdout)")
        let bad = try Binary.run(["probe", "--root", "/var/tmp/vbench-no-such-root"])
        #expect(bad.status == 64)
    }
}
