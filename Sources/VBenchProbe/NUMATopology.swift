import VBenchSystem

/// NUMA nodes as sysfs describes them (`/sys/devices/system/node/nodeN/{cpulist,distance,meminfo}`).
public struct NUMATopology: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        public var id: Int
        public var cpus: [Int]
        /// SLIT distances to every node, in node order (10 = local).
        public var distances: [Int]
        public var memoryBytes: UInt64?
    }

    public var nodes: [Node]

    public init(nodes: [Node]) { self.nodes = nodes }

    /// Reads every node through the probe's root; a machine without the node folder is one node
    /// holding every online CPU.
    public init(fs: RootedFileSystem, onlineCPUs: Int) {
        let base = "/sys/devices/system/node"
        let ids = fs.list(base).compactMap { $0.hasPrefix("node") ? Int($0.dropFirst(4)) : nil }.sorted()
        guard !ids.isEmpty else {
            nodes = [Node(id: 0, cpus: Array(0..<max(1, onlineCPUs)), distances: [10], memoryBytes: nil)]
            return
        }
        nodes = ids.map { id in
            let dir = "\(base)/node\(id)"
            let cpus = fs.readString("\(dir)/cpulist").map(Self.parseList) ?? []
            let distances = (fs.readString("\(dir)/distance") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
            var memory: UInt64?
            // "Node 0 MemTotal:       24576000 kB"
            if let meminfo = fs.readString("\(dir)/meminfo"),
               let line = meminfo.split(separator: "\n").first(where: { $0.contains("MemTotal:") }),
               let kb = line.split(separator: " ").compactMap({ UInt64($0) }).last {
                memory = kb * 1024
            }
            return Node(id: id, cpus: cpus, distances: distances, memoryBytes: memory)
        }
    }

    /// Nodes that have CPUs (memory-only nodes, e.g. CXL or PMEM, cannot run threads).
    public var nodesWithCPUs: [Node] { nodes.filter { !$0.cpus.isEmpty } }

    /// The (CPU node, memory node) pairs a NUMA run measures: every pair when there are several
    /// nodes (local on the diagonal, remote elsewhere), or just (0, 0).
    public var measurementPairs: [(cpuNode: Int, memoryNode: Int)] {
        guard nodes.count > 1 else { return [(nodes.first?.id ?? 0, nodes.first?.id ?? 0)] }
        return nodesWithCPUs.flatMap { c in nodes.map { m in (c.id, m.id) } }
    }

    /// `0-3,8-11,16` → [0, 1, 2, 3, 8, 9, 10, 11, 16].
    static func parseList(_ text: String) -> [Int] {
        text.trimmingCharacters().split(separator: ",").flatMap { part -> [Int] in
            let ends = part.split(separator: "-").compactMap { Int($0) }
            if ends.count == 2, ends[0] <= ends[1] { return Array(ends[0]...ends[1]) }
            return ends.count == 1 ? [ends[0]] : []
        }
    }
}
