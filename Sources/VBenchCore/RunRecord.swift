import FoundationEssentials

/// One run of `vbench run`: what was measured, where, and every repetition's numbers.
/// The format is documented in docs/record-schema.md; `RunRecord+Schema.swift` writes and reads
/// its versions.
public struct RunRecord: Codable, Sendable, Equatable {
    /// The format version this code writes.
    public static let currentSchemaVersion = 2

    /// Always `currentSchemaVersion` in memory: a record decoded from version 1 is the same value.
    public var schemaVersion: Int
    public var runId: UUID
    public var startTime: Date
    public var endTime: Date
    public var role: RunRole
    public var tool: ToolInfo
    /// Free-form labels given with `--tag key=value`.
    public var tags: [String: String]
    public var environment: Environment
    /// The device under test (for a file target: the disk holding the file).
    public var device: DeviceInfo
    /// The workload family: `blk` (later `net`, `mem`).
    public var family: String
    public var target: TargetInfo?
    public var workloads: [WorkloadResult]

    public init(
        runId: UUID, startTime: Date, endTime: Date, role: RunRole, tool: ToolInfo,
        tags: [String: String] = [:], environment: Environment, device: DeviceInfo,
        family: String, target: TargetInfo?, workloads: [WorkloadResult]
    ) {
        self.schemaVersion = Self.currentSchemaVersion
        self.runId = runId
        self.startTime = startTime
        self.endTime = endTime
        self.role = role
        self.tool = tool
        self.tags = tags
        self.environment = environment
        self.device = device
        self.family = family
        self.target = target
        self.workloads = workloads
    }
}

/// The tool that produced a record.
public struct ToolInfo: Codable, Sendable, Equatable {
    public var name: String
    public var version: String
    public init(name: String = "vbench", version: String = VBenchVersion.current) {
        self.name = name
        self.version = version
    }
}

/// The version of this build of vbench.
public enum VBenchVersion {
    public static let current = "0.1.0"
}

/// The machine a run measured.
public struct Environment: Codable, Sendable, Equatable {
    public var hostname: String
    public var kernelRelease: String
    public var cpuModel: String
    public var onlineCpus: Int
    public var memoryBytes: UInt64
    public var numaNodes: Int
    public var hypervisor: HypervisorInfo
    /// Whether the probe ran in a container (cgroup limits change every number), with the
    /// evidence for and against. Absent in older records and in imported ones.
    public var container: ContainerInfo?

    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`): runs with the same id shared a
    /// boot, so `compare` can tell how many boots a side holds. Absent in older records.
    public var bootId: String?
    /// What the guest was missing or ran in a costly way when it measured (`vbench probe`'s
    /// audit, without the fixes). Absent in older records and in imported ones.
    public var audit: GuestAudit?

    public init(hostname: String, kernelRelease: String, cpuModel: String, onlineCpus: Int,
                memoryBytes: UInt64, numaNodes: Int, hypervisor: HypervisorInfo, bootId: String? = nil,
                container: ContainerInfo? = nil) {
        self.bootId = bootId
        self.container = container
        self.hostname = hostname
        self.kernelRelease = kernelRelease
        self.cpuModel = cpuModel
        self.onlineCpus = onlineCpus
        self.memoryBytes = memoryBytes
        self.numaNodes = numaNodes
        self.hypervisor = hypervisor
    }
}

/// Which hypervisor, if any, runs this system, and what said so.
public struct HypervisorInfo: Codable, Sendable, Equatable {
    public var vendor: Hypervisor
    /// The CPUID leaf 0x40000000 signature, when the hypervisor bit was set.
    public var cpuidSignature: String?
    public var dmiSysVendor: String?
    public var dmiProductName: String?
    /// `/sys/hypervisor/type`, when present.
    public var sysHypervisorType: String?
    /// The platform built on the hypervisor, named by its firmware: `OpenStack Nova`, `Amazon EC2`,
    /// `Google Compute Engine`, `Alibaba Cloud ECS`, `oVirt`, `RHEV`, `Nutanix AHV`. Absent when
    /// none is named, and in older records.
    public var product: String?
    /// Human-readable reasons for the verdict, e.g. `cpuid:KVMKVMKVM`, `dmi:absent`.
    public var evidence: [String]

    public init(vendor: Hypervisor, cpuidSignature: String? = nil, dmiSysVendor: String? = nil,
                dmiProductName: String? = nil, sysHypervisorType: String? = nil, product: String? = nil,
                evidence: [String] = []) {
        self.vendor = vendor
        self.product = product
        self.cpuidSignature = cpuidSignature
        self.dmiSysVendor = dmiSysVendor
        self.dmiProductName = dmiProductName
        self.sysHypervisorType = sysHypervisorType
        self.evidence = evidence
    }
}

/// The hypervisors vbench tells apart.
public enum Hypervisor: String, Codable, Sendable, CaseIterable {
    case kvm
    case qemuTcg = "qemu-tcg"
    case qemu
    case virtualbox
    case vmware
    case xen
    case hyperV = "hyper-v"
    case firecracker
    case cloudHypervisor = "cloud-hypervisor"
    case bhyve
    case parallels
    case acrn
    /// IBM PowerVM (the POWER firmware hypervisor, pHyp): a pseries LPAR.
    case powerVM = "powervm"
    /// IBM z/VM on IBM Z.
    case zvm
    case unknown
    case none

    /// The name shown to people.
    public var displayName: String {
        switch self {
        case .kvm: "KVM"
        case .qemuTcg: "QEMU-TCG"
        case .qemu: "QEMU"
        case .virtualbox: "VirtualBox"
        case .vmware: "VMware"
        case .xen: "Xen"
        case .hyperV: "Hyper-V"
        case .firecracker: "Firecracker"
        case .cloudHypervisor: "Cloud Hypervisor"
        case .bhyve: "bhyve"
        case .parallels: "Parallels"
        case .acrn: "ACRN"
        case .powerVM: "PowerVM"
        case .zvm: "z/VM"
        case .unknown: "unknown hypervisor"
        case .none: "none (bare metal)"
        }
    }
}

/// A block device or NIC and the drivers behind it.
public struct DeviceInfo: Codable, Sendable, Equatable {
    /// `block` or `net`.
    public var kind: String
    public var name: String
    public var sizeBytes: UInt64?
    /// The leaf-most driver: `virtio_blk`, `sd`, `nvme`, `virtio_net`, `e1000`.
    public var driver: String?
    /// The driver above the leaf (the host adapter or bus): `ata_piix`, `virtio-pci`.
    public var controllerDriver: String?
    /// Every driver from the device up to the root bus, leaf first.
    public var driverChain: [String]

    /// The driver that tells this device apart from others of its kind: the controller's for a
    /// generic disk driver (`sd` over ata_piix, ahci, virtio_scsi, vmw_pvscsi), else the
    /// device's own; the name when there is no driver.
    public var distinguishingDriver: String {
        if driver == "sd" || driver == nil, let c = controllerDriver { return c }
        return driver ?? name
    }
    public var deviceClass: DeviceClass
    /// PCI `vendor:device` of the nearest PCI ancestor, lowercase hex.
    public var pciId: String?
    public var model: String?
    public var serial: String?
    /// NICs: MTU in bytes.
    public var mtuBytes: Int?
    /// NICs: MAC address.
    public var macAddress: String?
    public var logicalBlockSizeBytes: Int?
    public var rotational: Bool?

    private enum CodingKeys: String, CodingKey {
        case kind, name, sizeBytes, driver, controllerDriver, driverChain
        case deviceClass = "class"
        case pciId, model, serial, mtuBytes, macAddress, logicalBlockSizeBytes, rotational
    }

    public init(kind: String, name: String, sizeBytes: UInt64? = nil, driver: String? = nil,
                controllerDriver: String? = nil, driverChain: [String] = [], deviceClass: DeviceClass,
                pciId: String? = nil, model: String? = nil, serial: String? = nil, mtuBytes: Int? = nil,
                macAddress: String? = nil, logicalBlockSizeBytes: Int? = nil, rotational: Bool? = nil) {
        self.kind = kind
        self.name = name
        self.sizeBytes = sizeBytes
        self.driver = driver
        self.controllerDriver = controllerDriver
        self.driverChain = driverChain
        self.deviceClass = deviceClass
        self.pciId = pciId
        self.model = model
        self.serial = serial
        self.mtuBytes = mtuBytes
        self.macAddress = macAddress
        self.logicalBlockSizeBytes = logicalBlockSizeBytes
        self.rotational = rotational
    }
}

/// What a block run wrote to or read from.
public struct TargetInfo: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case file, blockDevice }
    public var path: String
    public var kind: Kind
    public var sizeBytes: UInt64
    /// True for O_DIRECT, false for `--buffered`.
    public var direct: Bool
    /// The filesystem type holding a file target (`ext4`, `xfs`, `tmpfs`).
    public var filesystem: String?
    /// The I/O scheduler of the disk holding the target during the run (`none`, `mq-deadline`,
    /// `bfq`), when that disk has a queue to choose one for; absent in records before it.
    public var ioScheduler: String?

    public init(path: String, kind: Kind, sizeBytes: UInt64, direct: Bool, filesystem: String?, ioScheduler: String? = nil) {
        self.path = path
        self.kind = kind
        self.sizeBytes = sizeBytes
        self.direct = direct
        self.filesystem = filesystem
        self.ioScheduler = ioScheduler
    }
}
