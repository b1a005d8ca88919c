import CVBenchShims

/// The CPUID instruction, for the hypervisor leaves.
public enum CPUID {
    /// Whether CPUID.1:ECX bit 31 (hypervisor present) is set.
    public static func hypervisorBit() -> Bool {
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard vbench_cpuid(1, &a, &b, &c, &d) == 1 else { return false }
        return c & (1 << 31) != 0
    }

    /// The 12-byte vendor signature of leaf 0x40000000 (EBX, ECX, EDX), trailing NULs removed.
    public static func hypervisorSignature(leaf: UInt32 = 0x4000_0000) -> String? {
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard vbench_cpuid(leaf, &a, &b, &c, &d) == 1 else { return nil }
        var bytes: [UInt8] = []
        for word in [b, c, d] {
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((word >> UInt32(shift)) & 0xff)) }
        }
        while bytes.last == 0 { bytes.removeLast() }
        let text = String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        return text.isEmpty ? nil : text
    }
}
