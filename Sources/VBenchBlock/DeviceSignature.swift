/// Recognizes partition tables and filesystem signatures in a device's first 128 KiB, as
/// blkid/wipefs do, so vbench never writes over a disk that holds something.
public enum DeviceSignature {
    /// Bytes to read from the start of a device before calling `detect`.
    public static let probeBytes = 128 * 1024

    /// Names of what was found (`gpt`, `dos partition table`, `ext4`, …); empty when blank.
    public static func detect(_ bytes: UnsafeRawBufferPointer) -> [String] {
        var found: [String] = []
        func matches(_ offset: Int, _ magic: [UInt8]) -> Bool {
            guard offset + magic.count <= bytes.count else { return false }
            for (i, b) in magic.enumerated() where bytes[offset + i] != b { return false }
            return true
        }
        func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }

        if matches(512, ascii("EFI PART")) || matches(4096, ascii("EFI PART")) { found.append("gpt partition table") }
        if matches(510, [0x55, 0xAA]) && !found.contains("gpt partition table") {
            found.append("dos partition table or boot sector")
        }
        if matches(1080, [0x53, 0xEF]) { found.append("ext2/3/4 filesystem") }
        if matches(0, ascii("XFSB")) { found.append("xfs filesystem") }
        if matches(65600, ascii("_BHRfS_M")) { found.append("btrfs filesystem") }
        if matches(0, ascii("LUKS")) && matches(4, [0xBA, 0xBE]) { found.append("LUKS container") }
        if matches(512, ascii("LABELONE")) || matches(0, ascii("LABELONE")) { found.append("LVM2 physical volume") }
        for pageSize in [4096, 8192, 16384, 65536] where matches(pageSize - 10, ascii("SWAPSPACE2")) || matches(pageSize - 10, ascii("SWAP-SPACE")) {
            found.append("swap space")
            break
        }
        if matches(0, ascii("hsqs")) { found.append("squashfs filesystem") }
        if matches(32769, ascii("CD001")) { found.append("iso9660 filesystem") }
        if matches(3, ascii("NTFS    ")) { found.append("ntfs filesystem") }
        if matches(54, ascii("FAT")) || matches(82, ascii("FAT32")) { found.append("vfat filesystem") }
        if matches(1024, [0x10, 0x20, 0xF5, 0xF2]) { found.append("f2fs filesystem") }
        if matches(0, ascii("ZBXF")) || matches(8, ascii("ZFS")) { found.append("zfs member") }
        return found
    }
}
