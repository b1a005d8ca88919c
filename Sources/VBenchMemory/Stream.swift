import VBenchCore
import VBenchSystem

/// Memory that the kernels share across threads, unmapped when released.
final class SharedDoubles: @unchecked Sendable {
    private let buffer: AlignedBuffer?
    private let numaMemory: UnsafeMutableRawPointer?
    let pointer: UnsafeMutablePointer<Double>
    let count: Int

    /// `count` doubles: huge-page-advised anonymous memory, or memory bound to NUMA node `node`.
    init(count: Int, node: Int? = nil) throws(SystemError) {
        let bytes = count * MemoryLayout<Double>.stride
        if let node {
            guard let p = NUMA.allocate(bytes: bytes, onNode: node) else {
                throw SystemError("numa_alloc_onnode", "\(bytes) bytes on node \(node)", errno: .init(rawValue: 12))  // ENOMEM
            }
            numaMemory = p
            buffer = nil
            pointer = p.bindMemory(to: Double.self, capacity: count)
        } else {
            let b = try AlignedBuffer(count: bytes)
            pointer = b.base.bindMemory(to: Double.self, capacity: count)
            buffer = consume b
            numaMemory = nil
        }
        self.count = count
    }

    deinit {
        if let numaMemory { NUMA.free(numaMemory, bytes: count * MemoryLayout<Double>.stride) }
    }
}

/// STREAM (McCalpin) in Swift, following its rules: three arrays of `elements` doubles, each
/// kernel timed over all threads between barriers, NTIMES iterations of which the first is
/// dropped, best (minimum) time reported, bytes counted as STREAM counts them (16 per element
/// for copy and scale, 24 for add and triad), and the arrays checked against the values the
/// kernels must have produced.
public struct StreamBenchmark: Sendable {
    public var elements: Int
    public var threads: Int
    /// Iterations including the dropped first one (STREAM's NTIMES, 10 by default).
    public var iterations: Int
    public var pin: Bool
    /// CPUs to pin thread i to (`cpus[i % count]`); nil: CPU i modulo the online CPUs.
    public var cpus: [Int]?
    /// Bind the arrays to this NUMA node (libnuma) instead of first-touch placement.
    public var memoryNode: Int?
    public static let scalar = 3.0

    public init(elements: Int, threads: Int, iterations: Int = 10, pin: Bool = true, cpus: [Int]? = nil, memoryNode: Int? = nil) {
        self.elements = elements
        self.threads = max(1, threads)
        self.iterations = max(2, iterations)
        self.pin = pin
        self.cpus = cpus.flatMap { $0.isEmpty ? nil : $0 }
        self.memoryNode = memoryNode
    }

    /// Per kernel, the seconds of each iteration after the first.
    public struct Result: Sendable {
        public var seconds: [MemTest: [Double]]
        /// Seconds the threads took to first-touch the three arrays, and the minor faults taken.
        public var firstTouchSeconds: Double
        public var firstTouchFaults: UInt64
        /// nil when the arrays hold what the kernels must have produced; else what differs.
        public var verificationError: String?
    }

    /// Runs the benchmark; throws only when the arrays cannot be mapped.
    public func run() throws(SystemError) -> Result {
        let node = memoryNode
        let a = try SharedDoubles(count: elements, node: node), b = try SharedDoubles(count: elements, node: node)
        let c = try SharedDoubles(count: elements, node: node)
        let n = elements, t = threads, iters = iterations, pin = self.pin
        let barrier = ThreadBarrier(count: t)
        // Per thread: [iteration][kernel] start/end stamps, and first-touch figures.
        final class Times: @unchecked Sendable {
            var kernel: [[Double]]
            var touchNs: [UInt64]
            var touchFaults: [UInt64]
            init(iterations: Int, threads: Int) {
                kernel = Array(repeating: Array(repeating: 0, count: 4), count: iterations)
                touchNs = Array(repeating: 0, count: threads)
                touchFaults = Array(repeating: 0, count: threads)
            }
        }
        let times = Times(iterations: iters, threads: t)
        let online = Affinity.onlineCPUs()
        let pinList = cpus
        try ThreadGroup.run(count: t) { index in
            if pin { Affinity.pin(cpu: pinList.map { $0[index % $0.count] } ?? index % online) }
            let lo = n * index / t, hi = n * (index + 1) / t
            let pa = a.pointer, pb = b.pointer, pc = c.pointer
            // First touch by the thread that will use the slice (NUMA-local pages).
            barrier.wait()
            let faults0 = Clock.threadMinorFaults()
            let t0 = Clock.monotonicNs()
            var i = lo
            while i < hi { pa[i] = 1.0; pb[i] = 2.0; pc[i] = 0.0; i += 1 }
            times.touchNs[index] = Clock.monotonicNs() - t0
            times.touchFaults[index] = Clock.threadMinorFaults() - faults0
            // STREAM scales a once before timing.
            i = lo
            while i < hi { pa[i] = 2.0 * pa[i]; i += 1 }
            let s = StreamBenchmark.scalar
            for k in 0..<iters {
                for kernel in 0..<4 {
                    barrier.wait()
                    let start = index == 0 ? Clock.monotonicNs() : 0
                    switch kernel {
                    case 0: Kernels.copy(pc, pa, lo, hi)
                    case 1: Kernels.scale(pb, pc, s, lo, hi)
                    case 2: Kernels.add(pc, pa, pb, lo, hi)
                    default: Kernels.triad(pa, pb, pc, s, lo, hi)
                    }
                    barrier.wait()
                    if index == 0 { times.kernel[k][kernel] = Double(Clock.monotonicNs() - start) / 1e9 }
                }
            }
        }
        var seconds: [MemTest: [Double]] = [:]
        for (kernel, test) in [MemTest.copy, .scale, .add, .triad].enumerated() {
            seconds[test] = (1..<iters).map { times.kernel[$0][kernel] }
        }
        return Result(seconds: seconds,
                      firstTouchSeconds: Double(times.touchNs.max() ?? 0) / 1e9,
                      firstTouchFaults: times.touchFaults.reduce(0, +),
                      verificationError: Self.verify(a: a, b: b, c: c, iterations: iters))
    }

    /// STREAM's checkSTREAMresults: replay the kernels on scalars and compare every element.
    static func verify(a: SharedDoubles, b: SharedDoubles, c: SharedDoubles, iterations: Int) -> String? {
        var aj = 1.0, bj = 2.0, cj = 0.0
        aj = 2.0 * aj
        for _ in 0..<iterations {
            cj = aj
            bj = scalar * cj
            cj = aj + bj
            aj = bj + scalar * cj
        }
        let epsilon = 1e-13
        for (name, array, expected) in [("a", a, aj), ("b", b, bj), ("c", c, cj)] {
            var worst = 0.0
            var worstIndex = 0
            for j in 0..<array.count {
                let e = abs(array.pointer[j] - expected) / abs(expected)
                if e > worst { worst = e; worstIndex = j }
            }
            if worst > epsilon {
                return "array \(name)[\(worstIndex)] = \(array.pointer[worstIndex]), expected \(expected) (relative error \(worst))"
            }
        }
        return nil
    }
}

/// The four kernels on a slice [lo, hi). Plain loops over unsafe pointers: the optimizer
/// vectorizes them in release builds.
enum Kernels {
    @inline(never)
    static func copy(_ c: UnsafeMutablePointer<Double>, _ a: UnsafeMutablePointer<Double>, _ lo: Int, _ hi: Int) {
        var j = lo
        while j < hi { c[j] = a[j]; j += 1 }
    }

    @inline(never)
    static func scale(_ b: UnsafeMutablePointer<Double>, _ c: UnsafeMutablePointer<Double>, _ s: Double, _ lo: Int, _ hi: Int) {
        var j = lo
        while j < hi { b[j] = s * c[j]; j += 1 }
    }

    @inline(never)
    static func add(_ c: UnsafeMutablePointer<Double>, _ a: UnsafeMutablePointer<Double>, _ b: UnsafeMutablePointer<Double>, _ lo: Int, _ hi: Int) {
        var j = lo
        while j < hi { c[j] = a[j] + b[j]; j += 1 }
    }

    @inline(never)
    static func triad(_ a: UnsafeMutablePointer<Double>, _ b: UnsafeMutablePointer<Double>, _ c: UnsafeMutablePointer<Double>,
                      _ s: Double, _ lo: Int, _ hi: Int) {
        var j = lo
        while j < hi { a[j] = b[j] + s * c[j]; j += 1 }
    }
}
