import Foundation
import Glibc
import Testing
import VBenchSystem

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
