import Foundation
import Glibc
import Testing
import VBenchSystem
import VBenchTestSupport

@Suite struct ProcessControlTests {
    /// A thread that starts with signals blocked (as libdispatch's workers do) ends with none.
    @Test func unblockAllSignalsClearsTheMask() {
        final class Box: @unchecked Sendable { var before: UInt64 = 0; var after: UInt64 = 0 }
        let box = Box()
        let t = Thread {
            var set = sigset_t()
            sigfillset(&set)
            pthread_sigmask(SIG_SETMASK, &set, nil)
            box.before = ProcessControl.blockedSignals()
            ProcessControl.unblockAllSignals()
            box.after = ProcessControl.blockedSignals()
        }
        t.start()
        while !t.isFinished { usleep(1000) }
        #expect(box.before & (1 << UInt64(SIGTERM - 1)) != 0)
        #expect(box.after == 0)
    }
}

@Suite struct BoundedChildTests {
    /// A child past its bound is ended by its PID (SIGTERM) and reported as `timeout` does;
    /// one within it keeps its own status.
    @Test func aBoundedRunEndsTheChildAndSays124() throws {
        let start = Clock.monotonicNs()
        let late = try ChildProcess.run("/bin/sleep", ["30"], stdout: .null, stderr: .null, seconds: 0.3)
        #expect(late.timedOut && late.ending.status == 124)
        #expect(Double(Clock.monotonicNs() - start) / 1e9 < 10)
        let done = try ChildProcess.run("/bin/sh", ["-c", "exit 7"], stdout: .null, stderr: .null, seconds: 10)
        #expect(!done.timedOut && done.ending == .exited(7))
    }

    /// Output and errors into one file keep both, in the order written.
    @Test func oneFileForBothStreamsKeepsBoth() throws {
        let dir = NSTemporaryDirectory() + "vbench-streams-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/run.log"
        let r = try ChildProcess.run("/bin/sh", ["-c", "echo first output; echo an error >&2; echo last output"],
                                     stdout: .file(log), stderr: .file(log), seconds: 10)
        #expect(r.ending == .exited(0))
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "first output\nan error\nlast output\n")
    }

    /// The control port's first line: what a writer sends within the bound, nil when nothing
    /// comes (a FIFO stands in for the virtio-serial port).
    @Test func firstLineOfAPortOrNothingWithinTheBound() throws {
        let dir = NSTemporaryDirectory() + "vbench-fifo-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = dir + "/ctl"
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = try ChildProcess.spawn("/bin/sh", ["-c", "sleep 0.3; printf 'd1=22500 d2=17500\\nd9=1\\n' > \(fifo)"],
                                            stdin: .null, stdout: .null, stderr: .null)
        #expect(try ControlFile.firstLine(of: fifo, seconds: 20) == "d1=22500 d2=17500")
        _ = try writer.wait()
        let start = Clock.monotonicNs()
        #expect(try ControlFile.firstLine(of: fifo, seconds: 0.5) == nil)
        #expect(Double(Clock.monotonicNs() - start) / 1e9 >= 0.5)
    }
}

@Suite struct StuckChildTests {
    /// A child waiting on I/O that never completes outlives SIGKILL: the bounded run gives up on
    /// it after the grace, says so (and hands it back), instead of waiting with it. Once the I/O
    /// ends (the connection is aborted) the child dies and is reaped.
    @Test func aChildStuckInIOIsLeftBehindNotWaitedFor() throws {
        guard let fuse = StalledFuse.mountForTest("STUCK-CHILD TEST") else { return }
        defer { fuse.remove() }
        let start = Clock.monotonicNs()
        let r = try ChildProcess.run("/bin/cat", [fuse.mountpoint + "/never"], stdout: .null, stderr: .null, seconds: 1, killGrace: 2)
        let seconds = Double(Clock.monotonicNs() - start) / 1e9
        #expect(fuse.unanswered >= 1, "the daemon read the child's request")
        #expect(r.timedOut && r.ending.status == 124)
        let stuck = try #require(r.stuck, "the child died at SIGKILL although its request was never answered")
        #expect(seconds >= 1 + 5 + 2 && seconds < 30, "\(seconds) s: the bound, SIGTERM's 5 s and the 2 s grace")
        #expect(try stuck.poll() == nil, "still there: uninterruptible")
        fuse.remove()
        let end = try stuck.wait(seconds: 10)
        // A fatal SIGTERM already marked it for death (its status says 15); it dies as the I/O ends.
        #expect(end == .signalled(SIGTERM) || end == .signalled(SIGKILL), "\(String(describing: end))")

        // A child that dies at SIGTERM is not stuck.
        let plain = try ChildProcess.run("/bin/sleep", ["30"], stdout: .null, stderr: .null, seconds: 0.2, killGrace: 2)
        #expect(plain.timedOut && plain.stuck == nil)
    }
}
