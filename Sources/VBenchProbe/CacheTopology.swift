import VBenchCore
import VBenchSystem

/// CPU caches as sysfs describes them (`/sys/devices/system/cpu/cpuN/cache/indexM/`).
public struct CacheTopology: Sendable, Equatable {
    public struct Cache: Sendable, Equatable, Hashable {
        public var level: Int
        public var type: String
        public var bytes: UInt64
        /// `shared_cpu_list`: which CPUs share this instance (tells instances apart).
        public var sharedCPUs: String
    }

    /// Every distinct cache instance, data and unified ones only.
    public var caches: [Cache]

    /// Reads the caches of every CPU through the probe's root (works on recorded trees).
    public init(fs: RootedFileSystem) {
        var seen = Set<Cache>()
        var ordered: [Cache] = []
        for cpu in fs.list("/sys/devices/system/cpu") where cpu.hasPrefix("cpu") && cpu.dropFirst(3).allSatisfy(\.isNumber) {
            let base = "/sys/devices/system/cpu/\(cpu)/cache"
            for index in fs.list(base) where index.hasPrefix("index") {
                let dir = "\(base)/\(index)"
                guard let level = fs.readInt("\(dir)/level"), let size = fs.readString("\(dir)/size").flatMap(Self.parseSize) else { continue }
                let type = fs.readString("\(dir)/type")?.trimmingCharacters() ?? "Unified"
                guard type != "Instruction" else { continue }
                let c = Cache(level: Int(level), type: type, bytes: size,
                              sharedCPUs: fs.readString("\(dir)/shared_cpu_list")?.trimmingCharacters() ?? cpu)
                if seen.insert(c).inserted { ordered.append(c) }
            }
        }
        caches = ordered
    }

    /// The sum of every last-level cache instance (STREAM's "sum of the last-level caches"),
    /// or nil when sysfs names no caches (some hypervisors hide them).
    public var lastLevelBytes: UInt64? {
        guard let top = caches.map(\.level).max() else { return nil }
        return caches.filter { $0.level == top }.reduce(0) { $0 + $1.bytes }
    }

    /// `32K`, `1024K`, `32768K`, `8M` → bytes.
    static func parseSize(_ text: String) -> UInt64? {
        let t = text.trimmingCharacters()
        guard let unit = t.last else { return nil }
        let scale: UInt64 = unit == "K" ? 1024 : unit == "M" ? 1 << 20 : unit == "G" ? 1 << 30 : 1
        let digits = scale == 1 ? Substring(t) : t.dropLast()
        return UInt64(digits).map { $0 * scale }
    }
}
