import Foundation
import Synchronization
import Testing
import VBenchCollector
import VBenchCore
import VBenchGuestCLI
@testable import VBenchLab
import VBenchStore
import VBenchSystem
import VBenchTestSupport
import VBenchWire

/// A disk whose device never completes a request must not take the boot with it: the agent
/// gives up on the run that outlived SIGKILL, says so as a typed event, skips the disk's later
/// passes and goes on with the other disks. Here the "disk" is a FUSE file whose daemon never
/// answers (the process waits in uninterruptible sleep, as on a stalled virtio-blk request), the
/// sysfs tree is a recorded one and the events go to a real collector on a Unix socket.
@Suite struct LabAgentStallTests {
    @Test func aStalledDiskIsReportedAndSkippedWhileTheOthersRunOn() throws {
        guard let fuse = StalledFuse.mountForTest("AGENT STALL TEST") else { return }
        defer { fuse.remove() }
        let dir = try ScratchFolder(under: "/tmp")
        for (name, serial) in [("vda", "vbd0virtioblk"), ("vdb", "vbd1virtioblk")] {
            try FileManager.default.createDirectory(atPath: "\(dir.path)/root/sys/block/\(name)", withIntermediateDirectories: true)
            try "\(serial)\n".write(toFile: "\(dir.path)/root/sys/block/\(name)/serial", atomically: true, encoding: .utf8)
        }
        // Stands in for vbench: a run on /dev/vdb reads the file that never answers.
        let exe = dir.path + "/vbench"
        try """
            #!/bin/sh
            case "$*" in *"--target /dev/vdb "*) exec cat \(fuse.mountpoint)/never ;; esac
            exit 0
            """.write(toFile: exe, atomically: true, encoding: .utf8)
        chmod(exe, 0o755)

        final class Seen: Sendable { let events = Mutex<[LabEvent]>([]) }
        let seen = Seen()
        let store = try SQLiteRunStore(path: dir.path + "/vbench.sqlite")
        var config = Collector.Configuration(endpoints: [.unix(path: dir.path + "/c.sock")], collectorHost: "host", collectorKernel: "6.18", vsockAllowed: false)
        config.onLabEvent = { e, _ in seen.events.withLock { $0.append(e) } }
        let collector = Collector(configuration: config, store: store)
        _ = try collector.start()
        defer { collector.stop() }

        let m = LabMatrix(name: "stall", disks: [.virtioBlk, .virtioBlk], rw: "randread", bs: "4k", iodepth: 1, passes: 2)
        var job = LabJobTests.runner(m).labJob(disks: m.disks, tags: [:], commandLine: [], sendTo: "unix:\(dir.path)/c.sock")
        job.block.boundSeconds = 1
        #expect(job.steps.map(\.slot) == [0, 1, 0, 1])
        var agent = LabAgent(job: job, executable: exe, out: dir.path + "/out", jobFolder: dir.path, fs: RootedFileSystem(root: dir.path + "/root"))
        agent.killGrace = 2
        let start = Clock.monotonicNs()
        try agent.run()
        let seconds = Double(Clock.monotonicNs() - start) / 1e9

        let kinds = seen.events.withLock { $0 }.map(\.kind)
        #expect(kinds == [
            .diskRun(slot: 0, model: "virtio-blk", device: "/dev/vda", exitStatus: 0),
            .diskRun(slot: 1, model: "virtio-blk", device: "/dev/vdb", exitStatus: 124),
            .diskStalled(slot: 1, model: "virtio-blk", device: "/dev/vdb"),
            .diskRun(slot: 0, model: "virtio-blk", device: "/dev/vda", exitStatus: 0),
            .done(sendStatus: 0),
        ], "slot 1's second pass is skipped, slot 0's runs on")
        #expect(fuse.unanswered >= 1)
        #expect(agent.stalled == [1])
        // One bound, SIGTERM's 5 s and the grace, once: not once per pass.
        #expect(seconds < 1 + 5 + 2 + 10, "\(seconds) s")
        let r = LabEvents(seen.events.withLock { $0 })
        #expect(r.slotStatus == [0: 0, 1: 124] && r.stalledSlots == [1: "/dev/vdb"])
    }
}

/// The lab's own children (QEMU, apt-get, cpio) get the same bound: one stuck in I/O on the
/// host is left behind after the grace and said to be, and the lab goes on.
@Suite struct SubprocessStallTests {
    @Test func aHostChildStuckInIOIsLeftBehindAndNamed() throws {
        guard let fuse = StalledFuse.mountForTest("SUBPROCESS STALL TEST") else { return }
        defer { fuse.remove() }
        let o = try Subprocess.run("/bin/cat", [fuse.mountpoint + "/never"], timeout: 1, killGrace: 2)
        #expect(o.timedOut && o.stuck && o.status == -1)
        #expect(o.stderr.contains("/bin/cat (PID ") && o.stderr.contains("outlived SIGKILL by 2 s"), "\(o.stderr)")
        #expect(o.seconds >= 1 + 5 + 2 && o.seconds < 30, "\(o.seconds) s")
        let plain = try Subprocess.run("/bin/sleep", ["30"], timeout: 0.2, killGrace: 2)
        #expect(plain.timedOut && !plain.stuck && plain.status == 128 + SIGTERM)
    }
}
