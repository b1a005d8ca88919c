import ArgumentParser
import VBenchCore
import VBenchSystem

/// Exit codes by cause (docs/record-schema.md and the README list them). The codes themselves
/// are `FailureCause`'s; this is where a cause or an error becomes the process's exit code.
public enum VBenchExit {
    public static let ok = ExitCode(0)
    public static let error = code(.error)
    public static let regression = code(.regression)
    public static let benchmarkFailed = code(.benchmarkFailed)
    public static let baselineMissing = code(.baselineMissing)
    public static let usage = code(.usage)

    public static func code(_ cause: FailureCause) -> ExitCode { ExitCode(cause.rawValue) }

    /// The exit code of a command that ended with `error`: its cause when it carries one,
    /// 64 for ArgumentParser's validation errors, and 1 for any other.
    public static func code(for error: any Error) -> ExitCode {
        switch error {
        case let e as any CausedError: code(e.cause)
        case let e as ExitCode: e
        case is ValidationError: usage
        default: VBenchExit.error
        }
    }

    /// Ends the process for an error a command threw: an error that carries its cause is
    /// printed as `vbench: error: …` and exits with its cause's code; ArgumentParser's own
    /// (help, usage, an exit code already reported) go through ArgumentParser.
    public static func exit(for error: any Error, command: any ParsableCommand.Type) -> Never {
        if let e = error as? any CausedError {
            var stderr = StandardError()
            print("vbench: error: \(e.description)", to: &stderr)
            command.exit(withError: code(for: e))
        }
        command.exit(withError: error)
    }
}

/// A command's failure: what went wrong and what to do instead, the cause that decides the
/// exit code, and the error beneath it when there is one.
public struct VBenchFailure: CausedError {
    public var cause: FailureCause
    public var message: String
    public var underlying: (any Error)?

    public init(_ cause: FailureCause, _ message: String, underlying: (any Error)? = nil) {
        self.cause = cause
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}

/// Prints `message` to standard error prefixed with `vbench: error:` and returns the exit
/// code of `code` (for commands that go on after a failure and exit with the worst cause).
public func fail(_ message: String, code: ExitCode) -> ExitCode {
    var stderr = StandardError()
    print("vbench: error: \(message)", to: &stderr)
    return code
}

public struct StandardError: TextOutputStream {
    public init() {}
    public mutating func write(_ string: String) { writeStandardError(string) }
}
