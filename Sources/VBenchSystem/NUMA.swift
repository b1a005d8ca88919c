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
