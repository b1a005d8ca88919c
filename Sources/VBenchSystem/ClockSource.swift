import Glibc
import SystemPackage

/// The kernel's clocksource (`/sys/devices/system/clocksource/clocksource0`) and what reading
/// the clock costs under it.
public enum ClockSource {
    static let folder = "/sys/devices/system/clocksource/clocksource0"

    /// Nanoseconds per `clock_gettime(CLOCK_MONOTONIC)` call: the best of `rounds` rounds of
    /// `calls` calls each (the best round is the one least disturbed by other work).
    public static func nanosecondsPerRead(calls: Int = 100_000, rounds: Int = 5) -> Double {
        var best = Double.infinity
        var ts = timespec()
        for _ in 0..<max(1, rounds) {
            let start = Clock.monotonicNs()
            for _ in 0..<max(1, calls) { clock_gettime(CLOCK_MONOTONIC, &ts) }
            let elapsed = Clock.monotonicNs() &- start
            best = min(best, Double(elapsed) / Double(max(1, calls)))
        }
        return best
    }

    /// The clocksource in use, or nil when sysfs does not say.
    public static func current() -> String? {
        RootedFileSystem().readString(folder + "/current_clocksource")?.trimmingCharacters()
    }

    /// Makes `name` the kernel's clocksource (needs root). The corresponding shell command is
    /// `echo NAME > /sys/devices/system/clocksource/clocksource0/current_clocksource`.
    public static func select(_ name: String) throws(SystemError) {
        let path = folder + "/current_clocksource"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path, errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        let bytes = Array((name + "\n").utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw SystemError("write \(name)", path, errno: Errno(rawValue: n < 0 ? errno : EIO)) }
        guard current() == name else { throw SystemError("select clocksource \(name)", "the kernel kept \(current() ?? "?")", errno: .invalidArgument) }
    }

    /// The cost of a clock read under each of `names`, switching to each in turn and back to
    /// the one in use before, whatever happens (needs root). A name the kernel refuses gets no
    /// figure and its reason.
    public static func measureEach(_ names: [String]) -> (figures: [String: Double], failures: [String: String]) {
        guard let original = current() else { return ([:], Dictionary(names.map { ($0, "no current_clocksource") }, uniquingKeysWith: { first, _ in first })) }
        var figures: [String: Double] = [:]
        var failures: [String: String] = [:]
        defer { try? select(original) }
        for name in names {
            do {
                if name != current() { try select(name) }
                Clock.sleep(nanoseconds: 20_000_000)  // let the switch settle on every CPU
                figures[name] = nanosecondsPerRead()
            } catch {
                failures[name] = error.description
            }
        }
        return (figures, failures)
    }
}
