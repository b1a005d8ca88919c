/// What holds a block device: the reasons vbench refuses to write to it.
public struct DeviceUsage: Sendable, Equatable {
    /// Mount points of the device or its partitions.
    public var mountPoints: [String]
    /// Holders (device-mapper, md, bcache) of the device or its partitions.
    public var holders: [String]
    /// Partition names, e.g. `sdb1`.
    public var partitions: [String]
    /// Whether the device or one of its partitions is active swap.
    public var swap: Bool

    public init(mountPoints: [String] = [], holders: [String] = [], partitions: [String] = [], swap: Bool = false) {
        self.mountPoints = mountPoints
        self.holders = holders
        self.partitions = partitions
        self.swap = swap
    }
}
