/// The self-describing data `--verify` writes: every 512-byte unit holds a magic word, its own
/// byte offset, a generation, a checksum and 60 pseudo-random words. Any complete write of a
/// unit verifies on its own, so reads can be checked even while writes run (a unit is one
/// sector, which the device writes atomically), and misplaced, torn or zeroed data is caught.
public enum VerifyPattern {
    public static let unitBytes = 512
    static let wordsPerUnit = unitBytes / 8
    static let magic: UInt64 = 0x7662_656E_6368_7631  // "vbenchv1"

    /// Fills `count` bytes at `buffer` (a multiple of 512) for device offset `offset`.
    public static func fill(_ buffer: UnsafeMutableRawPointer, count: Int, offset: UInt64, generation: UInt64) {
        let words = buffer.bindMemory(to: UInt64.self, capacity: count / 8)
        for unit in 0..<(count / unitBytes) {
            let w = words + unit * wordsPerUnit
            let unitOffset = offset + UInt64(unit * unitBytes)
            var state = unitOffset ^ (generation &* 0x9E37_79B9_7F4A_7C15)
            var sum: UInt64 = 0xcbf2_9ce4_8422_2325
            for i in 4..<wordsPerUnit {
                let v = splitMix(&state)
                w[i] = v
                sum = (sum ^ v) &* 0x0000_0100_0000_01B3
            }
            w[0] = magic
            w[1] = unitOffset
            w[2] = generation
            w[3] = sum
        }
    }

    /// A unit that failed verification.
    public struct Mismatch: Sendable, Equatable, CustomStringConvertible {
        public var offset: UInt64
        public var reason: String
        public var description: String { "at byte offset \(offset): \(reason)" }
    }

    /// Checks `count` bytes read from device offset `offset`; nil when every unit verifies.
    public static func check(_ buffer: UnsafeRawPointer, count: Int, offset: UInt64) -> Mismatch? {
        let words = buffer.assumingMemoryBound(to: UInt64.self)
        for unit in 0..<(count / unitBytes) {
            let w = words + unit * wordsPerUnit
            let unitOffset = offset + UInt64(unit * unitBytes)
            guard w[0] == magic else {
                return Mismatch(offset: unitOffset, reason: "no vbench pattern (magic 0x\(String(w[0], radix: 16)))")
            }
            guard w[1] == unitOffset else {
                return Mismatch(offset: unitOffset, reason: "data written for offset \(w[1]) (misplaced write)")
            }
            var sum: UInt64 = 0xcbf2_9ce4_8422_2325
            for i in 4..<wordsPerUnit { sum = (sum ^ w[i]) &* 0x0000_0100_0000_01B3 }
            guard sum == w[3] else {
                return Mismatch(offset: unitOffset, reason: "checksum mismatch (torn or corrupted data)")
            }
        }
        return nil
    }

    @inline(__always)
    static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
