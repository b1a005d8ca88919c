import Glibc
import SystemPackage

/// A sysfs setting that lists its choices and brackets the one in use (`queue/scheduler`,
/// `transparent_hugepage/enabled`): `none [mq-deadline] kyber`.
public enum SysfsChoice {
    /// `none [mq-deadline] kyber` → (`mq-deadline`, [`none`, `mq-deadline`, `kyber`]). A
    /// setting without a choice (`none` alone, unbracketed) gives (`none`, [`none`]).
    public static func parse(_ text: String) -> (current: String?, available: [String]) {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        let available = words.map { $0.hasPrefix("[") && $0.hasSuffix("]") ? String($0.dropFirst().dropLast()) : $0 }
        let current = words.first { $0.hasPrefix("[") && $0.hasSuffix("]") }.map { String($0.dropFirst().dropLast()) }
            ?? (available.count == 1 ? available[0] : nil)
        return (current, available)
    }
}

/// The I/O scheduler of the disk behind a block device number: `queue/scheduler` of the whole
/// disk (a partition's scheduler is its disk's). Read for every block record; switched for a run
/// with `vbench run --ioscheduler NAME`, as fio's `ioscheduler=` switches it, and switched back
/// afterwards (fio leaves it switched).
public struct IOScheduler: Sendable, Equatable {
    /// `/sys/dev/block/MAJ:MIN/queue/scheduler` (or its disk's, for a partition), resolved.
    public var path: String
    /// The scheduler in use (the bracketed name).
    public var current: String
    /// Every scheduler the disk offers, in the kernel's order (`none`, `mq-deadline`, `kyber`, `bfq`).
    public var available: [String]

    /// The scheduler of the disk holding device `major:minor`, or nil when it has none to choose
    /// (a file on tmpfs or overlayfs, a device-mapper or loop-over-loop stack without a queue).
    public static func of(major: UInt32, minor: UInt32, fs: RootedFileSystem = RootedFileSystem()) -> IOScheduler? {
        let base = "/sys/dev/block/\(major):\(minor)"
        // A partition has a `partition` file and no queue; its disk is the parent folder.
        guard let folder = fs.resolve(fs.exists("\(base)/partition") ? "\(base)/.." : base) else { return nil }
        let path = "\(folder)/queue/scheduler"
        guard let text = fs.readString(path) else { return nil }
        let choice = SysfsChoice.parse(text)
        guard let current = choice.current else { return nil }
        return IOScheduler(path: fs.hostPath(path), current: current, available: choice.available)
    }

    /// Whether `name` can be a scheduler's name (letters, digits, `-`, `_`): what the options
    /// accept before anything is switched, and what a guest shell may hold unquoted.
    public static func isName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
    }

    /// Why `name` cannot be selected here, or nil when it can.
    public func refusal(_ name: String) -> String? {
        guard available.contains(name) else {
            return "\(path) offers \(available.joined(separator: ", ")); '\(name)' is not one of them (a scheduler built as a module is offered once loaded: modprobe bfq, kyber-iosched or mq-deadline)"
        }
        return nil
    }

    /// Writes `name` into the queue's scheduler file and reads it back.
    public func select(_ name: String) throws(SystemError) -> IOScheduler {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path, errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        let n = name.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n >= 0 else { throw SystemError("write '\(name)' to", path, errno: Errno(rawValue: errno)) }
        guard let text = RootedFileSystem().readString(path), let now = SysfsChoice.parse(text).current, now == name else {
            throw SystemError("switch the scheduler to '\(name)' in", path, errno: .invalidArgument)
        }
        return IOScheduler(path: path, current: now, available: available)
    }
}
