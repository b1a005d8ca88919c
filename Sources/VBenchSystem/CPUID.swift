import CVBenchShims

/// The CPUID instruction, for the hypervisor leaves. Only x86 has it: on every other architecture
/// (arm64, ppc64, s390x) each answer is "no CPUID", and the probe reads firmware files instead.
public enum CPUID {
    /// Whether this build runs on an architecture with the CPUID instruction.
    public static var isAvailable: Bool {
        #if arch(x86_64) || arch(i386)
        return true
        #else
        return false
        #endif
    }

    /// Whether CPUID.1:ECX bit 31 (hypervisor present) is set; nil without CPUID.
    public static func hypervisorBit() -> Bool? {
        #if arch(x86_64) || arch(i386)
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard vbench_cpuid(1, &a, &b, &c, &d) == 1 else { return nil }
        return c & (1 << 31) != 0
        #else
        return nil
        #endif
    }

    /// The 12-byte vendor signature of leaf 0x40000000 (EBX, ECX, EDX), trailing NULs removed;
    /// nil without CPUID.
    public static func hypervisorSignature(leaf: UInt32 = 0x4000_0000) -> String? {
        #if arch(x86_64) || arch(i386)
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard vbench_cpuid(leaf, &a, &b, &c, &d) == 1 else { return nil }
        var bytes: [UInt8] = []
        for word in [b, c, d] {
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((word >> UInt32(shift)) & 0xff)) }
        }
        while bytes.last == 0 { bytes.removeLast() }
        let text = String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        return text.isEmpty ? nil : text
        #else
        return nil
        #endif
    }
}
