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

    /// Starts `path` with `arguments` (argv[0] is `path`) and the caller's environment.
    public static func spawn(_ path: String, _ arguments: [String]) throws(SystemError) -> ChildProcess {
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
        let rc = posix_spawn(&pid, path, nil, &attributes, argv, environ)
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

    /// The path of the running executable (`/proc/self/exe`), to start another copy of it.
    public static func currentExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
