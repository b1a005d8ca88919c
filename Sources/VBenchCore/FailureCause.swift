/// Why a command failed, as far as its exit code goes. Every exit code vbench documents is
/// here and nowhere else; `VBenchExit` (the CLI) turns a cause into the process's exit code.
public enum FailureCause: Int32, Sendable, CaseIterable {
    /// Something went wrong that is not one of the causes below (I/O, a store, a peer).
    case error = 1
    /// `compare` found a regression.
    case regression = 2
    /// A benchmark ran and failed (a workload's I/O errors, a peer that went away).
    case benchmarkFailed = 3
    /// `compare`: nothing of the baseline selection to compare against.
    case baselineMissing = 5
    /// The command line, a selection, a URL or a file the user named cannot be used as given.
    case usage = 64
}

/// An error that knows its cause, so the exit code follows from the error and not from where
/// it was caught. Its description says what went wrong and what to do instead.
public protocol CausedError: Error, CustomStringConvertible {
    var cause: FailureCause { get }
}
