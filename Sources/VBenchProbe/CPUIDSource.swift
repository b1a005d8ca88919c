import VBenchSystem

/// Where the hypervisor's CPUID answers come from: the instruction on a live system, or files
/// in a recorded tree (`cpuid-40000000`, `cpuid-hypervisor-bit`).
public enum CPUIDSource: Sendable {
    case live
    case recorded

    /// Chooses the instruction for the live root and recorded files for any other root.
    public static func `for`(_ fs: RootedFileSystem) -> CPUIDSource { fs.isLive ? .live : .recorded }

    /// The leaf 0x40000000 signature, only when the hypervisor bit is set (as the kernel does).
    func signature(_ fs: RootedFileSystem) -> String? {
        switch self {
        case .live:
            let bit = CPUID.hypervisorBit()
            let sig = bit ? CPUID.hypervisorSignature() : nil
            fs.recorder?.recordText("/cpuid-hypervisor-bit", bit ? "1\n" : "0\n")
            if let sig { fs.recorder?.recordText("/cpuid-40000000", sig + "\n") }
            return sig
        case .recorded:
            guard hypervisorBit(fs) != false else { return nil }
            return fs.readString("/cpuid-40000000").flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    /// The hypervisor bit, or nil when a recorded tree does not say.
    func hypervisorBit(_ fs: RootedFileSystem) -> Bool? {
        switch self {
        case .live: return CPUID.hypervisorBit()
        case .recorded:
            if let v = fs.readString("/cpuid-hypervisor-bit") { return v == "1" }
            guard let cpuinfo = fs.readString("/proc/cpuinfo") else { return nil }
            return cpuinfo.split(separator: "\n").contains { $0.hasPrefix("flags") && $0.split(separator: " ").contains("hypervisor") }
        }
    }
}
