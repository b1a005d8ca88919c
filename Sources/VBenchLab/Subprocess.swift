import Foundation
import Synchronization
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
    /// True when the child outlived SIGKILL by `killGrace` (uninterruptible I/O) and was left behind.
    public var stuck: Bool = false
}

/// Why a child process could not do its job.
public struct LabError: CausedError, Sendable {
    public var cause: FailureCause { .error }
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs programs the lab needs (qemu, apt-get, dpkg, cpio, busybox), each bounded by a time
/// limit, through `ChildProcess` (posix_spawn, a clean signal mask). On timeout the child gets
/// SIGTERM, then SIGKILL 5 s later, by its own PID only; a child that outlives SIGKILL by
/// `killGrace` seconds (waiting on I/O that never completes) is left behind.
public enum Subprocess {
    /// Runs `executable` with `arguments` and waits at most `timeout` seconds. Output goes to the
    /// given files when set (for long logs), else it is captured (through a temporary file, so
    /// a child never blocks on a full pipe). `killWhen` is asked every 20 ms while the child
    /// runs; when it answers true the child gets SIGKILL.
    public static func run(_ executable: String, _ arguments: [String], timeout: Double,
                           stdoutPath: String? = nil, stderrPath: String? = nil, currentDirectory: String? = nil,
                           onTick: ((Double) -> Void)? = nil, killWhen: (() -> Bool)? = nil, killGrace: Double = 30) throws -> ProcessOutcome {
        let path = try resolve(executable)
        let scratch = NSTemporaryDirectory() + "vbench-sub-\(ProcessInfo.processInfo.processIdentifier)-\(UInt64.random(in: 0...UInt64.max))"
        let outPath = stdoutPath ?? scratch + ".out", errPath = stderrPath ?? scratch + ".err"
        defer {
            if stdoutPath == nil { try? FileManager.default.removeItem(atPath: outPath) }
            if stderrPath == nil { try? FileManager.default.removeItem(atPath: errPath) }
        }
        let start = Clock.monotonicNs()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(path, arguments, stdin: .null, stdout: .file(outPath), stderr: .file(errPath),
                                           directory: currentDirectory)
        } catch {
            throw LabError("cannot start \(path): \(error)")
        }
        var timedOut = false, killed = false, stuck = false
        let deadline = start + UInt64(timeout * 1e9)
        var nextTick = start + 1_000_000_000
        var ending: ChildProcess.Ending?
        while true {
            ending = try child.poll()
            if ending != nil { break }
            if let tick = onTick, Clock.monotonicNs() >= nextTick {
                tick(Double(Clock.monotonicNs() - start) / 1e9)
                nextTick += 1_000_000_000
            }
            // Checked every 20 ms: a crash test kills the child (by its PID) the moment it asks.
            if let killWhen, !killed, killWhen() {
                child.signal(ProcessControl.kill)
                killed = true
            }
            if Clock.monotonicNs() >= deadline {
                timedOut = true
                child.signal(ProcessControl.terminate)
                ending = try child.wait(seconds: 5)
                if ending == nil {
                    child.signal(ProcessControl.kill)
                    // A child in uninterruptible I/O outlives SIGKILL: left behind, not waited for.
                    ending = try child.wait(seconds: killGrace)
                    if ending == nil { stuck = true }
                }
                break
            }
            Clock.sleep(nanoseconds: 20_000_000)
        }
        func text(_ p: String) -> String { FileManager.default.contents(atPath: p).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        return ProcessOutcome(status: ending?.status ?? -1,
                              stdout: stdoutPath == nil ? text(outPath) : "",
                              stderr: (stderrPath == nil ? text(errPath) : "")
                                  + (stuck ? "vbench: \(path) (PID \(child.pid)) outlived SIGKILL by \(Int(killGrace)) s (uninterruptible I/O); left behind\n" : ""),
                              timedOut: timedOut, seconds: Double(Clock.monotonicNs() - start) / 1e9, killed: killed, stuck: stuck)
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

/// A program the lab keeps running beside a boot (the guest's network peer), output to files,
/// stopped by its own PID: SIGTERM, then SIGKILL after a grace period.
public final class BackgroundProcess: Sendable {
    let child: ChildProcess
    /// How it ended, once `waitpid` has reaped it (nil while it runs).
    private let ending = Mutex<ChildProcess.Ending?>(nil)
    public let stderrPath: String

    public init(_ executable: String, _ arguments: [String], stdoutPath: String, stderrPath: String) throws {
        self.stderrPath = stderrPath
        let path = try Subprocess.resolve(executable)
        do {
            child = try ChildProcess.spawn(path, arguments, stdin: .null, stdout: .file(stdoutPath), stderr: .file(stderrPath))
        } catch {
            throw LabError("cannot start \(path): \(error)")
        }
    }

    public var pid: Int32 { child.pid }

    /// Reaps the child if it has ended; its ending, or nil while it runs.
    private func reaped() -> ChildProcess.Ending? {
        ending.withLock { e in
            if e == nil { e = try? child.poll() }
            return e
        }
    }

    public var isRunning: Bool { reaped() == nil }

    /// Waits until its error output contains `text`, it exits, or `timeout` seconds pass.
    public func waitForOutput(_ text: String, timeout: Double) -> Bool {
        let deadline = Clock.monotonicNs() + UInt64(timeout * 1e9)
        while Clock.monotonicNs() < deadline {
            if let s = try? String(contentsOfFile: stderrPath, encoding: .utf8), s.contains(text) { return true }
            if !isRunning { return false }
            Clock.sleep(nanoseconds: 50_000_000)
        }
        return false
    }

    /// Stops it (SIGTERM, SIGKILL after `grace` seconds) and returns its exit status.
    @discardableResult
    public func stop(grace: Double = 5) -> Int32 {
        if isRunning {
            child.signal(ProcessControl.terminate)
            let killAt = Clock.monotonicNs() + UInt64(grace * 1e9)
            while isRunning && Clock.monotonicNs() < killAt { Clock.sleep(nanoseconds: 50_000_000) }
            if isRunning { child.signal(ProcessControl.kill) }
        }
        while isRunning { Clock.sleep(nanoseconds: 10_000_000) }
        return reaped()?.status ?? -1
    }
}
