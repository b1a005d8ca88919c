import CVBenchShims
import Glibc
import SystemPackage

/// A child process started with `posix_spawn`, sharing the caller's standard input, output and
/// error, with a clean signal mask and default SIGINT/SIGTERM handling (whatever the parent
/// blocked or ignored). The corresponding C functions are `posix_spawn` and `waitpid`.
public struct ChildProcess: Sendable {
    public let pid: Int32

    /// How a child ended.
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)

        /// As a shell reports it: the exit status, or 128 + the signal.
        public var status: Int32 {
            switch self {
            case .exited(let s): s
            case .signalled(let sig): 128 + sig
            }
        }
    }

    /// Where a child's standard stream goes.
    public enum Stream: Sendable, Equatable {
        /// The caller's own.
        case inherit
        /// /dev/null.
        case null
        /// A file, created or truncated (mode 0644); for standard input, read.
        case file(String)
        /// A descriptor of the caller's, e.g. the write end of a pipe (`ChildProcess.pipe()`).
        case descriptor(Int32)
    }

    /// A pipe whose ends close on exec (a child gets one only through `Stream.descriptor`).
    /// The corresponding C function is `pipe2`.
    public static func pipe() throws(SystemError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        let rc = vbench_pipe_cloexec(&fds)
        guard rc == 0 else { throw SystemError("pipe2", nil, errno: Errno(rawValue: -rc)) }
        return (fds[0], fds[1])
    }

    /// Starts `path` with `arguments` (argv[0] is `path`) and the caller's environment.
    public static func spawn(_ path: String, _ arguments: [String]) throws(SystemError) -> ChildProcess {
        try spawn(path, arguments, stdin: .inherit, stdout: .inherit, stderr: .inherit)
    }

    /// Starts `path` with its standard streams where asked and, with `directory`, in that folder.
    /// The corresponding C functions are `posix_spawn_file_actions_addopen`, `…_adddup2` and
    /// `…_addchdir_np`.
    public static func spawn(_ path: String, _ arguments: [String], stdin: Stream, stdout: Stream, stderr: Stream,
                             directory: String? = nil) throws(SystemError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (fd, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            let rc: Int32
            switch stream {
            case .inherit: rc = 0
            case .null: rc = posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file where fd == 2 && stderr == stdout:
                // One file for both: one open file description, so the two streams append to
                // each other instead of overwriting each other from offset 0.
                rc = posix_spawn_file_actions_adddup2(&actions, 1, 2)
            case .file(let file):
                rc = posix_spawn_file_actions_addopen(&actions, fd, file, fd == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            case .descriptor(let d): rc = posix_spawn_file_actions_adddup2(&actions, d, fd)
            }
            guard rc == 0 else { throw SystemError("posix_spawn_file_actions", path, errno: Errno(rawValue: rc)) }
        }
        if let directory {
            let rc = vbench_spawn_addchdir(&actions, directory)
            guard rc == 0 else { throw SystemError("posix_spawn_file_actions_addchdir_np", directory, errno: Errno(rawValue: rc)) }
        }
        return try spawn(path, arguments, actions: &actions)
    }

    private static func spawn(_ path: String, _ arguments: [String], actions: inout posix_spawn_file_actions_t) throws(SystemError) -> ChildProcess {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SystemError("posix_spawn", path, errno: Errno(rawValue: rc)) }
        return ChildProcess(pid: pid)
    }

    /// Waits for the child to end, retrying on EINTR.
    public func wait() throws(SystemError) -> Ending {
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, 0)
            if rc == pid { break }
            if rc < 0 && errno == EINTR { continue }
            throw SystemError("waitpid", "\(pid)", errno: Errno(rawValue: errno))
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// The child's ending if it has ended, nil while it runs (`waitpid` with WNOHANG).
    public func poll() throws(SystemError) -> Ending? {
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == 0 { return nil }
            if rc == pid { break }
            if rc < 0 && errno == EINTR { continue }
            throw SystemError("waitpid", "\(pid)", errno: Errno(rawValue: errno))
        }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// Sends `signal` to the child (`kill`).
    public func signal(_ signal: Int32) {
        _ = kill(pid, signal)
    }

    /// Asks the child to stop (SIGTERM).
    public func terminate() { signal(SIGTERM) }

    /// Waits at most `seconds` for the child to end: its ending, or nil while it still runs.
    public func wait(seconds: Double) throws(SystemError) -> Ending? {
        let deadline = Clock.monotonicNs() + UInt64(max(0, seconds) * 1e9)
        while true {
            if let ending = try poll() { return ending }
            if Clock.monotonicNs() >= deadline { return nil }
            usleep(20_000)
        }
    }

    /// Runs `path` to its end, at most `seconds`: then SIGTERM, and SIGKILL 5 s later. The
    /// ending, and whether the bound ended it (its status then 124, as `timeout` reports).
    /// `stuck` is the child when it outlived SIGKILL by `killGrace` seconds: a process in
    /// uninterruptible sleep (I/O a device never completes) cannot die until the I/O ends, so
    /// it is left behind, not waited for without end; the caller may reap it later.
    public static func run(_ path: String, _ arguments: [String], stdin: Stream = .null, stdout: Stream, stderr: Stream,
                           seconds: Double, killGrace: Double = 15) throws(SystemError) -> (ending: Ending, timedOut: Bool, stuck: ChildProcess?) {
        let child = try spawn(path, arguments, stdin: stdin, stdout: stdout, stderr: stderr)
        if let ending = try child.wait(seconds: seconds) { return (ending, false, nil) }
        child.signal(SIGTERM)
        if try child.wait(seconds: 5) == nil {
            child.signal(SIGKILL)
            if try child.wait(seconds: killGrace) == nil { return (.exited(124), true, child) }
        }
        return (.exited(124), true, nil)
    }

    /// The path of the running executable (`/proc/self/exe`), to start another copy of it.
    public static func currentExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
