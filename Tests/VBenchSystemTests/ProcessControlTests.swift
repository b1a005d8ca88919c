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
