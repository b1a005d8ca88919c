import VBenchCore

/// A recommendation about one device.
public struct Advice: Codable, Sendable, Equatable {
    public var device: String
    public var message: String
}

/// Says what to attach instead of an emulated device, per hypervisor.
public enum Advisor {
    public static func advice(for device: DeviceInfo, hypervisor: Hypervisor) -> Advice? {
        guard device.deviceClass == .emulated else { return nil }
        let key = device.kind == "net" ? device.driver : (device.driver == "sd" ? device.controllerDriver : device.driver)
        let driver = key ?? "unknown"
        let replacement: String = switch (device.kind, hypervisor) {
        case ("block", .vmware): "a PVSCSI controller (vmw_pvscsi)"
        case ("net", .vmware): "a VMXNET3 adapter (vmxnet3)"
        case ("block", .virtualbox): "a virtio-scsi controller"
        case ("net", .virtualbox): "a paravirtualized network adapter (virtio-net)"
        case ("block", .xen): "a PV disk (xen-blkfront) by installing the Xen PV drivers"
        case ("net", .xen): "a PV NIC (xen-netfront) by installing the Xen PV drivers"
        case ("block", .hyperV): "a SCSI controller disk (hv_storvsc)"
        case ("net", .hyperV): "a network adapter instead of a legacy one (hv_netvsc)"
        case ("net", _): "virtio-net"
        default: "virtio-blk (or virtio-scsi for many disks)"
        }
        return Advice(device: device.name,
                      message: "\(device.name) is on \(driver) (\(DeviceClassifier.describe(driver: driver))); attach it as \(replacement)")
    }
}
