import VBenchCore
import VBenchSystem

/// Memory latency by a dependent pointer chase: each load's address comes from the previous
/// load, through a random single-cycle permutation of cache-line-sized slots, so neither the
/// out-of-order core nor the prefetcher can run ahead (lmbench's lat_mem_rd idea, randomized).
public struct PointerChase: Sendable {
    /// Bytes between slots: one cache line, so every load touches a new line.
    public static let slotBytes = 64

    public var rangeBytes: Int
    public var seed: UInt64

    public init(rangeBytes: Int, seed: UInt64 = 0x5eed) {
        self.rangeBytes = max(rangeBytes, Self.slotBytes * 2)
        self.seed = seed
    }

    /// A permutation of 0..<count that is one cycle through every element (Sattolo's algorithm),
    /// from a seeded xorshift generator.
    public static func cycle(count: Int, seed: UInt64) -> [Int] {
        var next = Array(0..<count)
        // splitmix64's finalizer: neighbouring seeds give unrelated sequences (xorshift needs state ≠ 0).
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        state = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        state = (state ^ (state >> 27)) &* 0x94D0_49BB_1331_11EB
        state ^= state >> 31
        if state == 0 { state = 1 }
        var i = count - 1
        while i > 0 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let j = Int(state % UInt64(i))  // j < i: Sattolo, not Fisher-Yates
            next.swapAt(i, j)
            i -= 1
        }
        return next
    }

    /// Nanoseconds per dependent load over `loads` loads (after one warm pass through the range).
    public func run(loads: Int) throws(SystemError) -> Double {
        let slots = rangeBytes / Self.slotBytes
        let buffer = try AlignedBuffer(count: slots * Self.slotBytes)
        let stride = Self.slotBytes / MemoryLayout<Int>.stride
        let memory = buffer.base.bindMemory(to: Int.self, capacity: slots * stride)
        let order = Self.cycle(count: slots, seed: seed)
        for i in 0..<slots { memory[i * stride] = order[i] * stride }
        var p = 0
        for _ in 0..<slots { p = memory[p] }  // warm: pages touched, TLB and caches filled
        let start = Clock.monotonicNs()
        var n = loads
        while n >= 8 {
            p = memory[p]; p = memory[p]; p = memory[p]; p = memory[p]
            p = memory[p]; p = memory[p]; p = memory[p]; p = memory[p]
            n -= 8
        }
        while n > 0 { p = memory[p]; n -= 1 }
        let elapsed = Clock.monotonicNs() - start
        Sink.keep(p)
        return Double(elapsed) / Double(max(loads, 1))
    }
}

/// Keeps a value alive so the optimizer cannot drop the loop that made it.
enum Sink {
    nonisolated(unsafe) static var value = 0
    @inline(never) static func keep(_ v: Int) { value &+= v }
}
