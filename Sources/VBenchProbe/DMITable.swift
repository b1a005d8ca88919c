import VBenchSystem

/// The firmware's SMBIOS strings as the kernel shows them in `/sys/class/dmi/id`, and the
/// SMBIOS "virtual machine" bit. Absent on Firecracker and on device-tree arm64 boards.
struct DMITable: Sendable {
    var sysVendor: String?
    var productName: String?
    var productVersion: String?
    var boardVendor: String?
    var boardName: String?
    var biosVendor: String?
    var biosVersion: String?

    /// Reads the strings a hypervisor or cloud leaves there.
    init(_ fs: RootedFileSystem) {
        func field(_ name: String) -> String? {
            fs.readString("/sys/class/dmi/id/\(name)").map { $0.trimmingCharacters() }.flatMap { $0.isEmpty ? nil : $0 }
        }
        sysVendor = field("sys_vendor")
        productName = field("product_name")
        productVersion = field("product_version")
        boardVendor = field("board_vendor")
        boardName = field("board_name")
        biosVendor = field("bios_vendor")
        biosVersion = field("bios_version")
    }

    init(sysVendor: String? = nil, productName: String? = nil, productVersion: String? = nil, boardVendor: String? = nil,
         boardName: String? = nil, biosVendor: String? = nil, biosVersion: String? = nil) {
        self.sysVendor = sysVendor
        self.productName = productName
        self.productVersion = productVersion
        self.boardVendor = boardVendor
        self.boardName = boardName
        self.biosVendor = biosVendor
        self.biosVersion = biosVersion
    }

    /// True when the firmware published no DMI strings at all.
    var isEmpty: Bool {
        [sysVendor, productName, productVersion, boardVendor, boardName, biosVendor, biosVersion].allSatisfy { $0 == nil }
    }

    /// Bit 4 of BIOS Characteristics Extension Byte 2 (SMBIOS 3.x, section 7.1.2.2): "the system
    /// is a virtual machine". The raw type-0 entry is readable by root only. Nil when the table is
    /// too short to hold the byte; `.unreadable` says why it could not be read. A clear bit does not
    /// mean bare metal (SeaBIOS leaves it clear under QEMU).
    static func virtualMachineBit(_ fs: RootedFileSystem) -> FileRead<Bool> {
        switch fs.readBinary("/sys/firmware/dmi/entries/0-0/raw") {
        case .value(let bytes):
            // Byte 1 is the structure's length: 0x12 plus the extension bytes; byte 0x13 is the second.
            guard bytes.count > 0x13, bytes[1] > 0x13 else { return .absent }
            return .value(bytes[0x13] & (1 << 4) != 0)
        case .absent: return .absent
        case .unreadable(let reason): return .unreadable(reason)
        }
    }
}
