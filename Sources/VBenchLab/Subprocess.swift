import Foundation
import VBenchCore
import VBenchSystem

/// A finished child process.
public struct ProcessOutcome: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// True when the time bound ended it.
    public var timedOut: Bool
    public var seconds: Double
    /// True when `killWhen` said so and the child got SIGKILL.
    public var killed: Bool = false
}

/// Why a child process could not do its job.
public struct LabError: CausedError, Sendable {
    public var cause: FailureCause { .error }
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs programs the lab needs (qemu, apt-get, dpkg, cpio, busybox), each bounded by a time
/// limit. On timeout the child gets SIGTERM, then SIGKILL 5 s later, by its own PID only.
public enum Subprocess {
    /// Runs `executable` with `arguments` and waits at most `timeout` seconds. Output goes to the
    /// given files when set (for long logs), else it is captured. `killWhen` is asked every 20 ms
    /// while the child runs; when it answers true the child gets SIGKILL.
    public static func run(_ executable: String, _ arguments: [String], timeout: Double,
                           stdoutPath: String? = nil, stderrPath: String? = nil, currentDirectory: String? = nil,
                           onTick: ((Double) -> Void)? = nil, killWhen: (() -> Bool)? = nil) throws -> ProcessOutcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try resolve(executable))
        process.arguments = arguments
        if let dir = currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: dir) }
        let outPipe = Pipe(), errPipe = Pipe()
        if let p = stdoutPath {
            _ = FileManager.default.createFile(atPath: p, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: p))
        } else {
            process.standardOutput = outPipe
        }
        if let p = stderrPath {
            _ = FileManager.default.createFile(atPath: p, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: p))
        } else {
            process.standardError = errPipe
        }
        process.standardInput = FileHandle.nullDevice
        let start = Clock.monotonicNs()
        try process.run()
        // Drain pipes while the child runs so it never blocks on a full pipe.
        let outBox = DataBox(), errBox = DataBox()
        let group = DispatchGroup()
        if stdoutPath == nil {
            group.enter()
            DispatchQueue.global().async { outBox.data = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        }
        if stderrPath == nil {
            group.enter()
            DispatchQueue.global().async { errBox.data = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        }
        let pid = process.processIdentifier
        var timedOut = false, killed = false
        let deadline = start + UInt64(timeout * 1e9)
        var nextTick = start + 1_000_000_000
        while process.isRunning {
            if let tick = onTick, Clock.monotonicNs() >= nextTick {
                tick(Double(Clock.monotonicNs() - start) / 1e9)
                nextTick += 1_000_000_000
            }
            // Checked every 20 ms: a crash test kills the child (by its PID) the moment it asks.
            if let killWhen, !killed, killWhen() {
                ProcessControl.signal(pid: pid, ProcessControl.kill)
                killed = true
            }
            if Clock.monotonicNs() >= deadline {
                timedOut = true
                ProcessControl.signal(pid: pid, ProcessControl.terminate)
                let killAt = Clock.monotonicNs() + 5_000_000_000
                while process.isRunning && Clock.monotonicNs() < killAt { Clock.sleep(nanoseconds: 50_000_000) }
                if process.isRunning { ProcessControl.signal(pid: pid, ProcessControl.kill) }
                break
            }
            Clock.sleep(nanoseconds: 20_000_000)
        }
        process.waitUntilExit()
        group.wait()
        return ProcessOutcome(status: process.terminationStatus,
                              stdout: String(decoding: outBox.data, as: UTF8.self),
                              stderr: String(decoding: errBox.data, as: UTF8.self),
                              timedOut: timedOut, seconds: Double(Clock.monotonicNs() - start) / 1e9, killed: killed)
    }

    /// Runs and requires exit status 0, else throws with the command and its error output.
    @discardableResult
    public static func check(_ executable: String, _ arguments: [String], timeout: Double, what: String,
                             currentDirectory: String? = nil) throws -> ProcessOutcome {
        let o = try run(executable, arguments, timeout: timeout, currentDirectory: currentDirectory)
        if o.timedOut { throw LabError("\(what): \(executable) did not finish within \(Int(timeout)) s") }
        guard o.status == 0 else {
            let tail = o.stderr.split(separator: "\n").suffix(5).joined(separator: "\n")
            throw LabError("\(what): \(executable) \(arguments.joined(separator: " ")) exited with \(o.status)\(tail.isEmpty ? "" : ":\n\(tail)")")
        }
        return o
    }

    /// The full path of a program: as given when it contains a slash, else found on PATH.
    public static func resolve(_ name: String) throws -> String {
        if name.contains("/") { return name }
        if let found = find(name) { return found }
        throw LabError("\(name) is not installed (not found on PATH)")
    }

    /// The full path of a program on PATH, or nil.
    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// A program the lab keeps running beside a boot (the guest's network peer), output to files,
/// stopped by its own PID: SIGTERM, then SIGKILL after a grace period.
public final class BackgroundProcess: @unchecked Sendable {
    let process = Process()
    public let stderrPath: String

    public init(_ executable: String, _ arguments: [String], stdoutPath: String, stderrPath: String) throws {
        self.stderrPath = stderrPath
        process.executableURL = URL(fileURLWithPath: try Subprocess.resolve(executable))
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Waits until its error output contains `text`, it exits, or `timeout` seconds pass.
    public func waitForOutput(_ text: String, timeout: Double) -> Bool {
        let deadline = Clock.monotonicNs() + UInt64(timeout * 1e9)
        while Clock.monotonicNs() < deadline {
            if let s = try? String(contentsOfFile: stderrPath, encoding: .utf8), s.contains(text) { return true }
            if !process.isRunning { return false }
            Clock.sleep(nanoseconds: 50_000_000)
        }
        return false
    }

    /// Stops it (SIGTERM, SIGKILL after `grace` seconds) and returns its exit status.
    @discardableResult
    public func stop(grace: Double = 5) -> Int32 {
        if process.isRunning {
            ProcessControl.signal(pid: pid, ProcessControl.terminate)
            let killAt = Clock.monotonicNs() + UInt64(grace * 1e9)
            while process.isRunning && Clock.monotonicNs() < killAt { Clock.sleep(nanoseconds: 50_000_000) }
            if process.isRunning { ProcessControl.signal(pid: pid, ProcessControl.kill) }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
