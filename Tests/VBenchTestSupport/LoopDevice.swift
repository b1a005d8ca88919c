import Foundation

/// A loop device over an image file in /var/tmp, detached and removed afterwards. Tests that
/// need a real block device use it; none touches a disk of the machine.
public final class LoopDevice {
    public let image: String
    public let device: String

    /// Root, losetup and mkfs.ext4 (CI runs as root; scripts/deps installs e2fsprogs and util-linux).
    public static let usable: Bool = {
        guard getuid() == 0 else { return false }
        return (try? TestCommand.run(["losetup", "--version"]).0 == 0) == true && (try? TestCommand.run(["mkfs.ext4", "-V"]).0 == 0) == true
    }()

    public init(sizeMiB: Int, partitioned: Bool = false, sectorBytes: Int = 512) throws {
        image = "/var/tmp/vbench-loop-\(UUID().uuidString.prefix(8)).img"
        _ = try TestCommand.run(["truncate", "-s", "\(sizeMiB)M", image])
        if partitioned {
            // A DOS partition table with one Linux partition from sector 2048 to the end.
            var mbr = [UInt8](repeating: 0, count: 512)
            mbr[446 + 4] = 0x83
            func le32(_ v: UInt32, at o: Int) { for i in 0..<4 { mbr[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xff) } }
            le32(2048, at: 446 + 8)
            le32(UInt32(sizeMiB * 2048 - 2048), at: 446 + 12)
            mbr[510] = 0x55
            mbr[511] = 0xAA
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image))
            try handle.write(contentsOf: Data(mbr))
            try handle.close()
        }
        let (status, output) = try TestCommand.run(["losetup", "--find", "--show", "--sector-size", "\(sectorBytes)",
                                                    partitioned ? "--partscan" : "--nooverlap", image])
        guard status == 0 else {
            try? FileManager.default.removeItem(atPath: image)
            throw LoopError(message: "losetup failed: \(output)")
        }
        device = output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `loop3` for `/dev/loop3`.
    public var name: String { String(device.split(separator: "/").last ?? "") }

    deinit {
        _ = try? TestCommand.run(["losetup", "--detach", device])
        try? FileManager.default.removeItem(atPath: image)
    }

    public struct LoopError: Error {
        public var message: String
        public init(message: String) { self.message = message }
    }
}
