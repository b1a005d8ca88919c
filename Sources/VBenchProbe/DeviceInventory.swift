import VBenchCore
import VBenchSystem

/// Finds block devices and NICs in sysfs and the drivers behind each.
public struct DeviceInventory: Sendable {
    public let fs: RootedFileSystem
    public let hypervisor: Hypervisor

    public init(fs: RootedFileSystem, hypervisor: Hypervisor) {
        self.fs = fs
        self.hypervisor = hypervisor
    }

    /// Disks with a device behind them (loop, ram, zram, dm and md are left out).
    public func disks() -> [DeviceInfo] {
        fs.list("/sys/block").compactMap { name in
            fs.exists("/sys/block/\(name)/device") ? disk(named: name) : nil
        }
    }

    /// NICs with a device behind them (lo, bridges, tun/tap and veth are left out).
    public func nics() -> [DeviceInfo] {
        fs.list("/sys/class/net").compactMap { name in
            fs.exists("/sys/class/net/\(name)/device") ? nic(named: name) : nil
        }
    }

    /// One network interface by name (`eth0`, `ens3`, `lo`). An interface without a device
    /// behind it (loopback, bridge, tap, veth) has no drivers and the class `virtual`.
    public func nic(named name: String) -> DeviceInfo? {
        let base = "/sys/class/net/\(name)"
        guard fs.exists(base) else { return nil }
        let hasDevice = fs.exists("\(base)/device")
        let chain = hasDevice ? driverChain(of: "\(base)/device") : []
        let pci = hasDevice ? pciId(above: "\(base)/device") : nil
        return DeviceInfo(kind: "net", name: name, driver: chain.first,
                          controllerDriver: chain.count > 1 ? chain[1] : chain.first, driverChain: chain,
                          deviceClass: hasDevice ? DeviceClassifier.classify(chain: chain, pciId: pci, hypervisor: hypervisor) : .virtual,
                          pciId: pci, mtuBytes: fs.readInt("\(base)/mtu").map(Int.init),
                          macAddress: fs.readString("\(base)/address"))
    }

    /// One disk by its kernel name (`vda`, `sdb`, `nvme0n1`, `loop0`).
    public func disk(named name: String) -> DeviceInfo? {
        let base = "/sys/block/\(name)"
        guard fs.exists(base) else { return nil }
        let hasDevice = fs.exists("\(base)/device")
        let chain = hasDevice ? driverChain(of: "\(base)/device") : []
        let pci = hasDevice ? pciId(above: "\(base)/device") : nil
        let model = fs.readString("\(base)/device/model")?.trimmingCharacters()
        let serial = fs.readString("\(base)/serial") ?? fs.readString("\(base)/device/serial")
        return DeviceInfo(
            kind: "block", name: name,
            sizeBytes: fs.readInt("\(base)/size").map { UInt64($0) * 512 },
            driver: chain.first, controllerDriver: chain.count > 1 ? chain[1] : chain.first, driverChain: chain,
            deviceClass: DeviceClassifier.classify(chain: chain, pciId: pci, hypervisor: hypervisor),
            pciId: pci, model: model.flatMap { $0.isEmpty ? nil : $0 },
            serial: serial.flatMap { $0.isEmpty ? nil : $0.trimmingCharacters() },
            logicalBlockSizeBytes: fs.readInt("\(base)/queue/logical_block_size").map(Int.init),
            rotational: fs.readInt("\(base)/queue/rotational").map { $0 != 0 })
    }

    /// The disk holding device number `major:minor`: a partition maps to its disk, a
    /// device-mapper or md device to the first disk below it (through `slaves/`).
    public func disk(holding major: UInt32, _ minor: UInt32) -> DeviceInfo? {
        guard var path = fs.resolve("/sys/dev/block/\(major):\(minor)") else { return nil }
        if fs.exists("\(path)/partition") { path = parent(of: path) }
        var name = lastComponent(path)
        var seen = 0
        while !fs.exists("/sys/block/\(name)/device"), let below = fs.list("/sys/block/\(name)/slaves").first, seen < 8 {
            var next = below
            if let resolved = fs.resolve("/sys/block/\(name)/slaves/\(below)"), fs.exists("\(resolved)/partition") {
                next = lastComponent(parent(of: resolved))
            }
            name = next
            seen += 1
        }
        return disk(named: name)
    }

    /// Drivers from the device folder up to /sys/devices, leaf first.
    public func driverChain(of devicePath: String) -> [String] {
        guard var path = fs.resolve(devicePath) else { return [] }
        var chain: [String] = []
        while path.hasPrefix("/sys/devices/") {
            if let link = fs.readLink("\(path)/driver") {
                let name = lastComponent(link)
                if chain.last != name && !Self.bridgeDrivers.contains(name) { chain.append(name) }
            }
            path = parent(of: path)
        }
        return chain
    }

    /// `vvvv:dddd` of the nearest PCI function at or above the device.
    public func pciId(above devicePath: String) -> String? {
        guard var path = fs.resolve(devicePath) else { return nil }
        while path.hasPrefix("/sys/devices/") {
            if Self.looksLikePCIAddress(lastComponent(path)),
               let vendor = fs.readString("\(path)/vendor"), let device = fs.readString("\(path)/device") {
                return "\(Self.hex4(vendor)):\(Self.hex4(device))"
            }
            path = parent(of: path)
        }
        return nil
    }

    /// PCI(e) port and bridge drivers: they bind to the path, not to the device's controller.
    static let bridgeDrivers: Set<String> = ["pcieport", "shpchp"]

    static func looksLikePCIAddress(_ name: String) -> Bool {
        // 0000:00:05.0
        let parts = name.split(separator: ":")
        return parts.count == 3 && parts[0].count == 4 && parts[1].count == 2 && parts[2].contains(".")
    }

    /// `0x1AF4` → `1af4`, padded to four hex digits.
    static func hex4(_ text: String) -> String {
        var s = text.lowercased()
        if s.hasPrefix("0x") { s.removeFirst(2) }
        while s.count < 4 { s = "0" + s }
        return s
    }
}

func parent(of path: String) -> String {
    guard let i = path.lastIndex(of: "/"), i != path.startIndex else { return "/" }
    return String(path[..<i])
}

func lastComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}
