import Synchronization
import VBenchCore
import VBenchSystem

/// A progress line on standard error: rewritten in place on a terminal. Elsewhere (a log file, a
/// pipe) nothing, or with `logLines` a plain `vbench:` line now and then, as `ProgressThrottle`
/// admits them: long lab boots then show in a log what they do without a line a second.
public final class ProgressLine: Sendable {
    public let enabled = standardErrorIsTerminal()
    private let logLines: Bool
    private let throttle = Mutex(ProgressThrottle())

    public init(logLines: Bool = false) {
        self.logLines = logLines
    }

    public func show(_ text: String) {
        guard enabled else {
            if logLines && throttle.withLock({ $0.admit(text, nowNs: Clock.monotonicNs()) }) { note(text) }
            return
        }
        writeStandardError("\r\u{1B}[K" + text)
    }

    public func clear() {
        guard enabled else { return }
        writeStandardError("\r\u{1B}[K")
    }
}
