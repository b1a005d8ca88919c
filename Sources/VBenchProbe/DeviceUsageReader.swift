import VBenchCore
import VBenchSystem

/// Finds what holds a disk: mounts, swap, holders, partitions.
public struct DeviceUsageReader: Sendable {
    public let fs: RootedFileSystem
    public init(fs: RootedFileSystem) { self.fs = fs }

    /// Usage of the disk (or partition) with device number `major:minor` and its partitions.
    public func usage(major: UInt32, minor: UInt32) -> DeviceUsage {
        guard let path = fs.resolve("/sys/dev/block/\(major):\(minor)") else { return DeviceUsage() }
        let name = lastComponent(path)
        let partitions = fs.list(path).filter { fs.exists("\(path)/\($0)/partition") }
        var numbers: Set<String> = ["\(major):\(minor)"]
        var names: Set<String> = [name]
        var holders = fs.list("\(path)/holders")
        for p in partitions {
            if let dev = fs.readString("\(path)/\(p)/dev") { numbers.insert(dev) }
            names.insert(p)
            holders += fs.list("\(path)/\(p)/holders")
        }
        var mounts: [String] = []
        if let info = fs.readString("/proc/self/mountinfo") {
            for line in info.split(separator: "\n") {
                let f = line.split(separator: " ")
                if f.count > 4, numbers.contains(String(f[2])) { mounts.append(String(f[4])) }
            }
        } else if let list = fs.readString("/proc/mounts") {
            for line in list.split(separator: "\n") {
                let f = line.split(separator: " ")
                if f.count > 1, names.contains(lastComponent(String(f[0]))), f[0].hasPrefix("/dev/") { mounts.append(String(f[1])) }
            }
        }
        let swaps = (fs.readString("/proc/swaps") ?? "").split(separator: "\n").dropFirst()
        let swap = swaps.contains { names.contains(lastComponent(String($0.split(separator: " ").first ?? ""))) }
        return DeviceUsage(mountPoints: mounts, holders: holders.sorted(), partitions: partitions, swap: swap)
    }

    /// The device number (`major:minor`) of a disk by name.
    public func deviceNumber(of name: String) -> (UInt32, UInt32)? {
        guard let dev = fs.readString("/sys/block/\(name)/dev") else { return nil }
        let parts = dev.split(separator: ":").compactMap { UInt32($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }

    /// Disks `--target auto` may use: not holding /, not mounted, not held, no partitions.
    public func autoTargets(_ disks: [DeviceInfo]) -> [(disk: DeviceInfo, refusal: String?)] {
        let rootNumber = rootDeviceNumber()
        return disks.map { disk in
            guard let (major, minor) = deviceNumber(of: disk.name) else { return (disk, "no device number") }
            let u = usage(major: major, minor: minor)
            let partitionNumbers = u.partitions.compactMap { fs.readString("/sys/block/\(disk.name)/\($0)/dev") }
            if let root = rootNumber, root == "\(major):\(minor)" || partitionNumbers.contains(root) {
                return (disk, "holds the root filesystem")
            }
            if !u.mountPoints.isEmpty { return (disk, "mounted on \(u.mountPoints.joined(separator: ", "))") }
            if u.swap { return (disk, "in use as swap") }
            if !u.holders.isEmpty { return (disk, "held by \(u.holders.joined(separator: ", "))") }
            if !u.partitions.isEmpty { return (disk, "has partitions") }
            return (disk, nil)
        }
    }

    /// `major:minor` of the filesystem mounted on /.
    func rootDeviceNumber() -> String? {
        guard let info = fs.readString("/proc/self/mountinfo") else { return nil }
        for line in info.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count > 4, f[4] == "/" { return String(f[2]) }
        }
        return nil
    }
}
