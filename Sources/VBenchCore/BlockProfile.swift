/// Named sets of block workloads (`--profile`).
public enum BlockProfile: String, CaseIterable, Sendable {
    /// Four short workloads, two repetitions: a smoke test in about 20 s.
    case quick
    /// seq read and write 1 MiB QD32; randread and randwrite 4 KiB QD1 and QD32; randrw 70/30 4 KiB QD16.
    case standard
    /// standard plus deeper queues, 64 KiB random and four jobs, longer and more repetitions.
    case full

    /// Measured seconds per repetition.
    public var runtimeSeconds: Double {
        switch self { case .quick: 2; case .standard: 10; case .full: 30 }
    }
    public var rampSeconds: Double {
        switch self { case .quick: 0.5; case .standard: 2; case .full: 5 }
    }
    public var repetitions: Int {
        switch self { case .quick: 2; case .standard: 3; case .full: 5 }
    }
    /// Size of a file vbench creates for this profile.
    public var fileBytes: UInt64 {
        switch self { case .quick: 256 << 20; case .standard: 1 << 30; case .full: 4 << 30 }
    }

    /// (pattern, block size, queue depth, jobs, read percent) of each workload.
    public var shapes: [(IOPattern, Int, Int, Int, Int?)] {
        let standard: [(IOPattern, Int, Int, Int, Int?)] = [
            (.read, 1 << 20, 32, 1, nil), (.write, 1 << 20, 32, 1, nil),
            (.randread, 4096, 1, 1, nil), (.randread, 4096, 32, 1, nil),
            (.randwrite, 4096, 1, 1, nil), (.randwrite, 4096, 32, 1, nil),
            (.randrw, 4096, 16, 1, 70),
        ]
        switch self {
        case .quick:
            return [(.read, 1 << 20, 32, 1, nil), (.randread, 4096, 1, 1, nil),
                    (.randread, 4096, 32, 1, nil), (.randwrite, 4096, 32, 1, nil)]
        case .standard:
            return standard
        case .full:
            return standard + [(.randread, 4096, 128, 1, nil), (.randread, 65536, 32, 1, nil),
                               (.randread, 4096, 32, 4, nil), (.randwrite, 65536, 32, 1, nil)]
        }
    }

    /// The workloads with the profile's timing, or the overrides given.
    public func workloads(runtimeSeconds: Double? = nil, rampSeconds: Double? = nil, repetitions: Int? = nil,
                          ioSizeBytes: UInt64? = nil, direct: Bool = true, verify: Bool = false,
                          seed: UInt64 = 0x5eed) -> [BlockWorkloadSpec] {
        shapes.map { pattern, bs, qd, jobs, mix in
            BlockWorkloadSpec(pattern: pattern, blockSizeBytes: bs, ioDepth: qd, numJobs: jobs, readPercent: mix,
                              runtimeNs: ioSizeBytes == nil ? seconds(runtimeSeconds ?? self.runtimeSeconds) : nil,
                              sizeBytes: ioSizeBytes, rampNs: seconds(rampSeconds ?? self.rampSeconds),
                              repetitions: repetitions ?? self.repetitions, direct: direct, verify: verify, seed: seed)
        }
    }
}

/// Seconds to integer nanoseconds.
public func seconds(_ s: Double) -> UInt64 { UInt64((s * 1e9).rounded()) }
