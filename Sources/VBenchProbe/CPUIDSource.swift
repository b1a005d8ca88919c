import VBenchSystem

/// Where the hypervisor's CPUID answers come from: the instruction on a live system, or files
/// in a recorded tree (`cpuid-40000000`, `cpuid-hypervisor-bit`).
///
/// Only x86 has CPUID. A live arm64, ppc64 or s390x system has none, and records no cpuid files;
/// a recorded tree has none when it has no cpuid files and its `proc/cpuinfo` has no x86 `flags`
/// line (arm64's has `Features`).
public enum CPUIDSource: Sendable {
    case live
    case recorded

    /// Chooses the instruction for the live root and recorded files for any other root.
    public static func `for`(_ fs: RootedFileSystem) -> CPUIDSource { fs.isLive ? .live : .recorded }

    /// Whether the probed system has CPUID at all.
    func isAvailable(_ fs: RootedFileSystem) -> Bool {
        switch self {
        case .live: return CPUID.isAvailable
        case .recorded: return hypervisorBit(fs) != nil || fs.exists("/cpuid-40000000")
        }
    }

    /// The leaf 0x40000000 signature, only when the hypervisor bit is set (as the kernel does).
    func signature(_ fs: RootedFileSystem) -> String? {
        switch self {
        case .live:
            guard let bit = CPUID.hypervisorBit() else { return nil }
            let sig = bit ? CPUID.hypervisorSignature() : nil
            fs.recorder?.recordText("/cpuid-hypervisor-bit", bit ? "1\n" : "0\n")
            if let sig { fs.recorder?.recordText("/cpuid-40000000", sig + "\n") }
            return sig
        case .recorded:
            guard hypervisorBit(fs) != false else { return nil }
            return fs.readString("/cpuid-40000000").flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    /// The hypervisor bit, or nil without CPUID (or when a recorded tree does not say).
    func hypervisorBit(_ fs: RootedFileSystem) -> Bool? {
        switch self {
        case .live: return CPUID.hypervisorBit()
        case .recorded:
            if let v = fs.readString("/cpuid-hypervisor-bit") { return v == "1" }
            guard let cpuinfo = fs.readString("/proc/cpuinfo") else { return nil }
            // x86 prints `flags : …` for every CPU; other architectures have no such line.
            guard let flags = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
            return flags.split(whereSeparator: { $0 == " " || $0 == "\t" }).contains("hypervisor")
        }
    }
}
