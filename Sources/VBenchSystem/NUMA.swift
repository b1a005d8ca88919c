import CLibNUMA

/// libnuma, for the NUMA topology of the live system.
public enum NUMA {
    /// Configured NUMA nodes as libnuma sees them, or nil when libnuma says NUMA is unavailable
    /// (or reports no nodes, as it does when /sys is not mounted).
    /// The corresponding C functions are `numa_available` and `numa_num_configured_nodes`.
    public static func configuredNodes() -> Int? {
        guard numa_available() >= 0 else { return nil }
        let n = Int(numa_num_configured_nodes())
        return n > 0 ? n : nil
    }
}

extension NUMA {
    /// `bytes` of memory bound to NUMA node `node` (zeroed, page-aligned), or nil when libnuma
    /// cannot give it. Free with `free(_:bytes:)`.
    /// The corresponding C functions are `numa_alloc_onnode` and `numa_free`.
    public static func allocate(bytes: Int, onNode node: Int) -> UnsafeMutableRawPointer? {
        guard numa_available() >= 0, node >= 0, node <= Int(numa_max_node()) else { return nil }
        return numa_alloc_onnode(bytes, Int32(node))
    }

    public static func free(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        numa_free(pointer, bytes)
    }
}
