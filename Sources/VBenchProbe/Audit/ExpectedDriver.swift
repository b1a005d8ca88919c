import VBenchCore

/// A paravirtual kernel driver a guest of some hypervisor should have, and how to tell that a
/// device needs it.
struct ExpectedDriver: Sendable {
    /// How a device that needs the driver shows itself.
    enum Need: Sendable {
        /// A virtio device with this device id (virtio spec 1.2, section 5).
        case virtio(Int)
        /// A PCI function `vvvv:dddd`.
        case pci(String)
        /// A xenbus device whose name starts with this (`vbd-`, `vif-`).
        case xenbus(String)
        /// A VMBus device with this class id (Hyper-V's device GUIDs).
        case vmbus(String)
        /// No device to look for: the driver talks to the hypervisor itself (a balloon through
        /// VMware's backdoor, the shared-folder client).
        case hypervisor
        /// Code behind a bool option (never a module, so in no module list) that shows itself by
        /// this sysfs folder when it runs: the Xen balloon (CONFIG_XEN_BALLOON) makes
        /// /sys/devices/system/xen_memory, on Xen only.
        case sysfs(String)
    }

    /// The module name, as /proc/modules names it.
    var module: String
    /// Other names the same driver registers on a bus (`vbd` for xen_blkfront).
    var driverNames: [String] = []
    var need: Need
    /// What it drives, for people.
    var purpose: String
    var hypervisors: Set<Hypervisor>

    static let virtioHypervisors: Set<Hypervisor> = [.kvm, .qemu, .qemuTcg, .firecracker, .cloudHypervisor]

    /// The drivers the audit expects, per hypervisor family.
    static let all: [ExpectedDriver] = [
        // virtio (device ids from the virtio 1.2 specification, section 5)
        .init(module: "virtio_blk", need: .virtio(2), purpose: "virtio block disks", hypervisors: virtioHypervisors),
        .init(module: "virtio_net", need: .virtio(1), purpose: "virtio network cards", hypervisors: virtioHypervisors),
        .init(module: "virtio_scsi", need: .virtio(8), purpose: "virtio SCSI controllers", hypervisors: virtioHypervisors),
        .init(module: "virtio_console", need: .virtio(3), purpose: "virtio-serial ports (guest agent channels)", hypervisors: virtioHypervisors),
        .init(module: "virtio_balloon", need: .virtio(5), purpose: "the virtio memory balloon", hypervisors: virtioHypervisors),
        .init(module: "virtio_rng", need: .virtio(4), purpose: "the virtio entropy device", hypervisors: virtioHypervisors),
        .init(module: "virtio_gpu", need: .virtio(16), purpose: "the virtio GPU (display)", hypervisors: virtioHypervisors),
        .init(module: "vmw_vsock_virtio_transport", need: .virtio(19), purpose: "virtio vsock sockets", hypervisors: virtioHypervisors),
        // VMware (PCI ids from the kernel's drivers: vmw_vmci_drv.c, vmwgfx_drv.c, vmxnet3_drv.c, vmw_pvscsi.c)
        .init(module: "vmw_balloon", need: .hypervisor, purpose: "VMware's memory balloon", hypervisors: [.vmware]),
        .init(module: "vmw_vmci", need: .pci("15ad:0740"), purpose: "the VMCI device (host-guest channel)", hypervisors: [.vmware]),
        .init(module: "vmwgfx", need: .pci("15ad:0405"), purpose: "the SVGA II display", hypervisors: [.vmware, .virtualbox]),
        .init(module: "vmw_vsock_vmci_transport", need: .pci("15ad:0740"), purpose: "vsock over VMCI", hypervisors: [.vmware]),
        .init(module: "vmxnet3", need: .pci("15ad:07b0"), purpose: "VMXNET3 network cards", hypervisors: [.vmware]),
        .init(module: "vmw_pvscsi", need: .pci("15ad:07c0"), purpose: "PVSCSI controllers", hypervisors: [.vmware]),
        // VirtualBox (drivers/virt/vboxguest, drivers/gpu/drm/vboxvideo; vboxsf talks through vboxguest)
        .init(module: "vboxguest", need: .pci("80ee:cafe"), purpose: "the VirtualBox guest device", hypervisors: [.virtualbox]),
        .init(module: "vboxsf", need: .pci("80ee:cafe"), purpose: "VirtualBox shared folders", hypervisors: [.virtualbox]),
        .init(module: "vboxvideo", need: .pci("80ee:beef"), purpose: "the VBoxVGA / VBoxSVGA display", hypervisors: [.virtualbox]),
        // Xen (xenbus device types from drivers/block/xen-blkfront.c and drivers/net/xen-netfront.c)
        .init(module: "xen_blkfront", driverNames: ["vbd"], need: .xenbus("vbd-"), purpose: "Xen PV disks", hypervisors: [.xen]),
        .init(module: "xen_netfront", driverNames: ["vif"], need: .xenbus("vif-"), purpose: "Xen PV network cards", hypervisors: [.xen]),
        .init(module: "xen_balloon", need: .sysfs("/sys/devices/system/xen_memory"), purpose: "the Xen memory balloon", hypervisors: [.xen]),
        // Hyper-V (VMBus class ids from include/linux/hyperv.h)
        .init(module: "hv_vmbus", driverNames: ["vmbus"], need: .hypervisor, purpose: "the VMBus every Hyper-V device sits on", hypervisors: [.hyperV]),
        .init(module: "hv_storvsc", need: .vmbus("ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"), purpose: "Hyper-V SCSI disks", hypervisors: [.hyperV]),
        .init(module: "hv_netvsc", need: .vmbus("f8615163-df3e-46c5-913f-f2d2f965ed0e"), purpose: "Hyper-V network adapters", hypervisors: [.hyperV]),
        .init(module: "hv_balloon", need: .vmbus("525074dc-8985-46e2-8057-a307dc18a502"), purpose: "Hyper-V dynamic memory", hypervisors: [.hyperV]),
        .init(module: "hv_utils", need: .vmbus("0e0b6031-5213-4934-818b-38d90ced39db"), purpose: "Hyper-V shutdown, time sync, heartbeat, KVP and VSS", hypervisors: [.hyperV]),
        .init(module: "hyperv_drm", driverNames: ["hyperv_fb"], need: .vmbus("da0a7802-e377-4aac-8e77-0558eb1073f8"), purpose: "the Hyper-V synthetic display (hyperv_drm or hyperv_fb)", hypervisors: [.hyperV]),
    ]

    /// The drivers expected on `hypervisor`.
    static func expected(on hypervisor: Hypervisor) -> [ExpectedDriver] {
        all.filter { $0.hypervisors.contains(hypervisor) }
    }
}
