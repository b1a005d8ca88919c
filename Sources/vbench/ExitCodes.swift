import ArgumentParser
import VBenchSystem

/// Exit codes by cause (docs/record-schema.md and the README list them).
enum VBenchExit {
    static let ok = ExitCode(0)
    static let error = ExitCode(1)
    static let regression = ExitCode(2)
    static let benchmarkFailed = ExitCode(3)
    /// `compare`: nothing of the baseline selection to compare against.
    static let baselineMissing = ExitCode(5)
    static let usage = ExitCode(64)
}

/// Prints `message` to standard error prefixed with `vbench: error:` and exits with `code`.
func fail(_ message: String, code: ExitCode) -> ExitCode {
    var stderr = StandardError()
    print("vbench: error: \(message)", to: &stderr)
    return code
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { writeStandardError(string) }
}
