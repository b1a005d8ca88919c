import Foundation
import Testing
import VBenchCore
import VBenchTestSupport

/// `vbench run --ioscheduler`: on a real loop device (its own queue, never a disk of this
/// machine), the scheduler is switched for the run, recorded, and switched back — after the
/// run, after a refusal, and after SIGTERM in the middle of a run.
@Suite(.serialized, .enabled(if: LoopDevice.usable, "needs root, losetup and mkfs.ext4"))
struct IOSchedulerCLITests {
    static func scheduler(_ loop: LoopDevice) throws -> String {
        let text = try String(contentsOfFile: "/sys/block/\(loop.name)/queue/scheduler", encoding: .utf8)
        return text.split(separator: " ").first { $0.hasPrefix("[") }.map { String($0.dropFirst().dropLast()) } ?? text
    }

    static func set(_ loop: LoopDevice, _ name: String) throws {
        try name.write(toFile: "/sys/block/\(loop.name)/queue/scheduler", atomically: false, encoding: .utf8)
        #expect(try scheduler(loop) == name)
    }

    static func run(_ loop: LoopDevice, _ extra: [String]) throws -> Binary.Outcome {
        let out = try ScratchFolder()
        return try Binary.run(["run", "--device", "blk", "--target", loop.device, "--allow-destructive", "--rw", "randread",
                               "--runtime", "0.3", "--ramp", "0", "--repeat", "1", "--runs", "1", "--json", "--out", out.path] + extra)
    }

    @Test func theRunIsMeasuredUnderTheSchedulerAskedForAndItIsSwitchedBack() throws {
        let loop = try LoopDevice(sizeMiB: 32)
        try Self.set(loop, "mq-deadline")
        let r = try Self.run(loop, ["--ioscheduler", "none"])
        #expect(r.status == 0, "\(r.stderr)")
        let record = try RunRecord.decode(Data(r.stdout.utf8))
        #expect(record.target?.ioScheduler == "none")
        #expect(r.stderr.contains("mq-deadline → none"), "\(r.stderr)")
        #expect(try Self.scheduler(loop) == "mq-deadline", "switched back after the run")

        // Without the option, the record says what the disk had.
        let plain = try Self.run(loop, [])
        #expect(plain.status == 0)
        #expect(try RunRecord.decode(Data(plain.stdout.utf8)).target?.ioScheduler == "mq-deadline")
    }

    @Test func aSchedulerTheDiskDoesNotOfferIsRefusedAndNothingChanges() throws {
        let loop = try LoopDevice(sizeMiB: 32)
        try Self.set(loop, "mq-deadline")
        let r = try Self.run(loop, ["--ioscheduler", "no-such-scheduler"])
        #expect(r.status == 64, "\(r.status) \(r.stderr)")
        #expect(r.stderr.contains("'no-such-scheduler' is not one of them") && r.stderr.contains("queue/scheduler offers none"), "\(r.stderr)")
        #expect(r.stdout.isEmpty, "no record for a refused run")
        #expect(try Self.scheduler(loop) == "mq-deadline")
        // A name that cannot be a scheduler is refused before anything runs.
        let bad = try Self.run(loop, ["--ioscheduler", "none;reboot"])
        #expect(bad.status == 64 && bad.stderr.contains("--ioscheduler must name a scheduler"), "\(bad.stderr)")
    }

    @Test func aTerminatedRunSwitchesTheSchedulerBack() throws {
        let loop = try LoopDevice(sizeMiB: 32)
        try Self.set(loop, "mq-deadline")
        let folder = try ScratchFolder()
        let p = Process()
        // Not under timeout(1): it would inherit this test thread's blocked SIGTERM and never
        // pass ours on. vbench clears its own mask; the defer below bounds it with SIGKILL.
        p.executableURL = URL(fileURLWithPath: Binary.path)
        p.arguments = ["run", "--device", "blk", "--target", loop.device, "--allow-destructive",
                       "--rw", "randread", "--runtime", "60", "--ramp", "0", "--repeat", "1", "--runs", "1",
                       "--ioscheduler", "none", "--out", folder.path]
        let errPath = folder.path + "/stderr"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        // Wait (bounded) until vbench says it switched, then terminate it mid-run.
        var switched = false
        for _ in 0..<300 where !switched {
            usleep(100_000)
            switched = ((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "").contains("→ none for this run")
        }
        #expect(switched)
        #expect(try Self.scheduler(loop) == "none", "switched during the run")
        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<200 where p.isRunning { usleep(50_000) }
        #expect(!p.isRunning, "vbench still runs 10 s after SIGTERM")
        if p.isRunning { return }
        #expect(p.terminationStatus == 143, "exit \(p.terminationStatus)")
        #expect(try Self.scheduler(loop) == "mq-deadline", "switched back by the signal handler")
    }
}
