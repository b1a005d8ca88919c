/// How a guest reaches a device: the question vbench answers first.
public enum DeviceClass: String, Codable, Sendable, CaseIterable {
    /// A driver written for the hypervisor (virtio, vmxnet3, pvscsi, Xen front-ends, Hyper-V VSC).
    case paravirtual
    /// A model of real hardware that the hypervisor emulates (IDE, AHCI, e1000, QEMU NVMe).
    case emulated
    /// A physical device (or a virtual function) handed to the guest.
    case passthrough
    /// Bare metal: no hypervisor between the tool and the device.
    case native
    /// Not attached to a bus the probe understands (loop, ram, device-mapper).
    case virtual
    /// Not known: a run imported from another tool without an inventory of its machine.
    case unknown
}

/// Whether the measurement ran inside a guest or on the bare host (the native baseline).
public enum RunRole: String, Codable, Sendable, CaseIterable {
    case guest
    case native
}
