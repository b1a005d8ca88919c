/// Welford's online mean and variance, mergeable (Chan et al.).
public struct RunningStatistics: Sendable, Equatable {
    public private(set) var count: Int = 0
    public private(set) var mean: Double = 0
    private var m2: Double = 0
    public private(set) var min: Double = .infinity
    public private(set) var max: Double = -.infinity

    public init() {}

    /// Creates statistics over `values`.
    public init(_ values: some Sequence<Double>) {
        for v in values { add(v) }
    }

    /// Adds one sample.
    public mutating func add(_ x: Double) {
        count += 1
        let delta = x - mean
        mean += delta / Double(count)
        m2 += delta * (x - mean)
        if x < min { min = x }
        if x > max { max = x }
    }

    /// Combines two sets of statistics as if all samples had been added to one.
    public mutating func merge(_ other: RunningStatistics) {
        guard other.count > 0 else { return }
        guard count > 0 else { self = other; return }
        let n = Double(count + other.count)
        let delta = other.mean - mean
        m2 += other.m2 + delta * delta * Double(count) * Double(other.count) / n
        mean += delta * Double(other.count) / n
        count += other.count
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// Sample variance (n − 1 denominator); nil below two samples.
    public var variance: Double? { count < 2 ? nil : m2 / Double(count - 1) }

    /// Sample standard deviation; nil below two samples.
    public var standardDeviation: Double? { variance.map { $0.squareRoot() } }
}
