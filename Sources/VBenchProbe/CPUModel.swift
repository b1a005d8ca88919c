/// The CPU's name from `/proc/cpuinfo` on every architecture the probe knows:
///
/// - x86 (and 32-bit arm): `model name`.
/// - arm64: no `model name`; `CPU implementer` and `CPU part` are the MIDR fields, named from
///   the table util-linux's lscpu keeps (sys-utils/lscpu-arm.c, from the Arm manuals and
///   arch/arm64/include/asm/cputype.h), e.g. 0x41/0xd0c → `ARM Neoverse-N1` (AWS Graviton2).
/// - ppc64: `cpu : POWER9 (architected), altivec supported` → `POWER9 (architected)`.
/// - s390x: `vendor_id : IBM/S390` and the machine type → `IBM/S390 8561`.
///
/// An unnamed part falls back to the device tree's board model; otherwise it is `unknown`.
enum CPUModel {
    static func name(cpuinfo: String, deviceTreeModel: () -> String?) -> String {
        if let model = PartitionReader.field(cpuinfo, "model name"), !model.isEmpty { return model }
        if let implementer = PartitionReader.field(cpuinfo, "CPU implementer").flatMap(hex),
           let part = PartitionReader.field(cpuinfo, "CPU part").flatMap(hex),
           let vendor = implementers[implementer], let name = vendor.parts[part] {
            return "\(vendor.name) \(name)"
        }
        if let cpu = PartitionReader.field(cpuinfo, "cpu"), cpu.hasPrefix("POWER") || cpu.hasPrefix("PPC") {
            return cpu.split(separator: ",").first.map { String($0) } ?? cpu
        }
        if let vendor = PartitionReader.field(cpuinfo, "vendor_id"), vendor == "IBM/S390" {
            let machine = cpuinfo.split(separator: "\n").first { $0.hasPrefix("processor 0:") }?
                .split(separator: ",").first { $0.contains("machine =") }?
                .split(separator: "=").last.map { String($0).trimmingCharacters() }
            return machine.map { "IBM/S390 \($0)" } ?? vendor
        }
        if let model = deviceTreeModel(), !model.isEmpty { return model }
        return "unknown"
    }

    private static func hex(_ text: String) -> Int? {
        text.hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : nil
    }

    /// MIDR implementer codes and the parts vbench names (servers, clouds and common boards).
    static let implementers: [Int: (name: String, parts: [Int: String])] = [
        0x41: ("ARM", [
            0xd03: "Cortex-A53", 0xd04: "Cortex-A35", 0xd05: "Cortex-A55", 0xd07: "Cortex-A57", 0xd08: "Cortex-A72",
            0xd09: "Cortex-A73", 0xd0a: "Cortex-A75", 0xd0b: "Cortex-A76", 0xd0c: "Neoverse-N1", 0xd0d: "Cortex-A77",
            0xd40: "Neoverse-V1", 0xd41: "Cortex-A78", 0xd44: "Cortex-X1", 0xd46: "Cortex-A510", 0xd47: "Cortex-A710",
            0xd48: "Cortex-X2", 0xd49: "Neoverse-N2", 0xd4a: "Neoverse-E1", 0xd4d: "Cortex-A715", 0xd4e: "Cortex-X3",
            0xd4f: "Neoverse-V2",
        ]),
        0x42: ("Broadcom", [0x516: "ThunderX2"]),
        0x43: ("Cavium", [0x0a1: "ThunderX-88XX", 0x0af: "ThunderX2-99xx", 0x0b8: "ThunderX3-T110"]),
        0x46: ("FUJITSU", [0x001: "A64FX"]),
        0x48: ("HiSilicon", [0xd01: "Kunpeng-920", 0xd40: "Cortex-A76"]),
        0x4e: ("NVIDIA", [0x000: "Denver", 0x003: "Denver 2", 0x004: "Carmel"]),
        0x50: ("APM", [0x000: "X-Gene"]),
        0x51: ("Qualcomm", [0x800: "Falkor-V1/Kryo", 0xc00: "Falkor", 0xc01: "Saphira"]),
        0x61: ("Apple", [0x022: "Icestorm-M1", 0x023: "Firestorm-M1", 0x032: "Blizzard-M2", 0x033: "Avalanche-M2"]),
        0xc0: ("Ampere", [0xac3: "Ampere-1", 0xac4: "Ampere-1a"]),
    ]
}
