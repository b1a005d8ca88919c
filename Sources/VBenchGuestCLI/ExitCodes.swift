import ArgumentParser
import VBenchSystem

/// Exit codes by cause (docs/record-schema.md and the README list them).
public enum VBenchExit {
    public static let ok = ExitCode(0)
    public static let error = ExitCode(1)
    public static let regression = ExitCode(2)
    public static let benchmarkFailed = ExitCode(3)
    /// `compare`: nothing of the baseline selection to compare against.
    public static let baselineMissing = ExitCode(5)
    public static let usage = ExitCode(64)
}

/// Prints `message` to standard error prefixed with `vbench: error:` and exits with `code`.
public func fail(_ message: String, code: ExitCode) -> ExitCode {
    var stderr = StandardError()
    print("vbench: error: \(message)", to: &stderr)
    return code
}

public struct StandardError: TextOutputStream {
    public init() {}
    public mutating func write(_ string: String) { writeStandardError(string) }
}
