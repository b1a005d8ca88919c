import VBenchCore

/// Decides paravirtual / emulated / passthrough / native from a driver chain and PCI id.
public enum DeviceClassifier {
    /// Drivers written for a hypervisor (block, SCSI and network front-ends).
    public static let paravirtualDrivers: Set<String> = [
        "virtio_blk", "virtio_scsi", "virtio_net", "vbd", "vif", "xen_blkfront", "xen_netfront",
        "hv_storvsc", "hv_netvsc", "vmw_pvscsi", "vmxnet3",
    ]

    /// PCI vendors whose every device is virtual: Red Hat/virtio, QEMU, VMware, VirtualBox,
    /// Microsoft Hyper-V, XenSource.
    static let virtualVendors: Set<String> = ["1af4", "1b36", "15ad", "80ee", "1414", "5853"]

    /// Real-hardware models that hypervisors emulate (vendor:device).
    static let emulatedModels: Set<String> = [
        "8086:7010", "8086:7111", "8086:7113", "8086:2922", "8086:2829", "8086:100e", "8086:100f",
        "8086:10d3", "8086:1209", "8086:7000", "10ec:8139", "1000:0030", "1000:0054", "1000:0012",
        "1022:2000", "104b:1040", "1013:00b8",
    ]

    /// The class of a device with `chain` (leaf first) and `pciId`, given the hypervisor.
    public static func classify(chain: [String], pciId: String?, hypervisor: Hypervisor) -> DeviceClass {
        if chain.isEmpty && pciId == nil { return .virtual }
        if hypervisor == .none { return .native }
        if chain.contains(where: paravirtualDrivers.contains) { return .paravirtual }
        guard let pciId else { return .emulated }  // platform or ISA models with no PCI id
        let vendor = String(pciId.prefix(4))
        if virtualVendors.contains(vendor) || emulatedModels.contains(pciId) { return .emulated }
        return .passthrough
    }

    /// Plain words for an emulated driver, e.g. `emulated IDE`.
    public static func describe(driver: String) -> String {
        switch driver {
        case "ata_piix": "emulated IDE"
        case "ahci": "emulated SATA (AHCI)"
        case "nvme": "emulated NVMe"
        case "mptspi", "mptsas", "mptscsih": "emulated LSI Logic SCSI"
        case "megaraid_sas": "emulated MegaRAID SAS"
        case "sym53c8xx": "emulated LSI 53C895A SCSI"
        case "BusLogic": "emulated BusLogic SCSI"
        case "e1000": "emulated Intel e1000"
        case "e1000e": "emulated Intel e1000e"
        case "8139cp", "8139too": "emulated Realtek RTL8139"
        case "pcnet32": "emulated AMD PCnet"
        case "ne2k-pci": "emulated NE2000"
        case "tulip": "emulated DEC Tulip"
        default: "emulated \(driver)"
        }
    }
}
