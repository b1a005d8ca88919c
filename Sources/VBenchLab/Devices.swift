/// The disk models the lab can give a guest, named as users name them.
public enum DiskModel: String, CaseIterable, Codable, Sendable {
    case virtioBlk = "virtio-blk"
    case virtioScsi = "virtio-scsi"
    case ide
    case ahci
    case nvme
    case pvscsi

    /// The guest driver that tells this model apart (leaf or host adapter), as measured in lab boots.
    public var guestDriver: String {
        switch self {
        case .virtioBlk: "virtio_blk"
        case .virtioScsi: "virtio_scsi"
        case .ide: "ata_piix"
        case .ahci: "ahci"
        case .nvme: "nvme"
        case .pvscsi: "vmw_pvscsi"
        }
    }

    /// Paravirtual models (the ones the advisor recommends).
    public var isParavirtual: Bool { self == .virtioBlk || self == .virtioScsi }

    /// The serial number the lab gives the disk, so the guest finds it whatever its name.
    public func serial(_ index: Int) -> String { "vbd\(index)\(rawValue.replacingOccurrences(of: "-", with: ""))" }

    /// QEMU arguments attaching `image` as disk number `index`.
    public func qemuArguments(index i: Int, image: String, cache: String, aio: String) -> [String] {
        let drive = ["-drive", "file=\(image),format=raw,if=none,id=d\(i),cache=\(cache),aio=\(aio)"]
        let s = serial(i)
        switch self {
        case .virtioBlk:
            return drive + ["-device", "virtio-blk-pci,drive=d\(i),serial=\(s)"]
        case .ide:
            // The PIIX3 IDE controller of the pc machine: two buses, two units each.
            return drive + ["-device", "ide-hd,drive=d\(i),bus=ide.\(i / 2 % 2),unit=\(i % 2),serial=\(s)"]
        case .ahci:
            return drive + ["-device", "ahci,id=ahci\(i)", "-device", "ide-hd,drive=d\(i),bus=ahci\(i).0,serial=\(s)"]
        case .nvme:
            return drive + ["-device", "nvme,drive=d\(i),serial=\(s)"]
        case .virtioScsi:
            return drive + ["-device", "virtio-scsi-pci,id=vs\(i)", "-device", "scsi-hd,drive=d\(i),bus=vs\(i).0,serial=\(s)"]
        case .pvscsi:
            return drive + ["-device", "pvscsi,id=pv\(i)", "-device", "scsi-hd,drive=d\(i),bus=pv\(i).0,serial=\(s)"]
        }
    }
}

/// The NIC models the lab can give a guest.
public enum NicModel: String, CaseIterable, Codable, Sendable {
    case virtioNet = "virtio-net"
    case e1000
    case e1000e
    case vmxnet3
    case rtl8139

    public var qemuDevice: String {
        switch self {
        case .virtioNet: "virtio-net-pci"
        case .e1000: "e1000"
        case .e1000e: "e1000e"
        case .vmxnet3: "vmxnet3"
        case .rtl8139: "rtl8139"
        }
    }

    public var guestDriver: String {
        switch self {
        case .virtioNet: "virtio_net"
        case .e1000: "e1000"
        case .e1000e: "e1000e"
        case .vmxnet3: "vmxnet3"
        case .rtl8139: "8139cp"
        }
    }
}

extension String {
    /// Two lowercase hex digits.
    init(format2 value: Int) {
        let digits = Array("0123456789abcdef")
        self = String([digits[(value >> 4) & 15], digits[value & 15]])
    }
}
