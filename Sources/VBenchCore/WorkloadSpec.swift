import FoundationEssentials

/// What a workload asked for: a block, network or (later) memory test. Encoded as the fields
/// of the specific spec plus `kind` (`blk`, `net`); a spec without `kind` is a block spec
/// (records written before the network harness).
public enum WorkloadSpec: Codable, Sendable, Equatable {
    case block(BlockWorkloadSpec)
    case net(NetWorkloadSpec)
    case mem(MemWorkloadSpec)

    /// The workload's short name, e.g. `randread-4k-qd32`, `stream-send-p1-128k`.
    public var name: String {
        switch self {
        case .block(let s): s.name
        case .net(let s): s.name
        case .mem(let s): s.name
        }
    }

    /// `blk`, `net` or `mem`.
    public var kind: String {
        switch self {
        case .block: "blk"
        case .net: "net"
        case .mem: "mem"
        }
    }

    public var block: BlockWorkloadSpec? {
        if case .block(let s) = self { return s }
        return nil
    }

    public var net: NetWorkloadSpec? {
        if case .net(let s) = self { return s }
        return nil
    }

    public var mem: MemWorkloadSpec? {
        if case .mem(let s) = self { return s }
        return nil
    }

    private enum Keys: String, CodingKey { case kind }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        switch try c.decodeIfPresent(String.self, forKey: .kind) ?? "blk" {
        case "blk": self = .block(try BlockWorkloadSpec(from: decoder))
        case "net": self = .net(try NetWorkloadSpec(from: decoder))
        case "mem": self = .mem(try MemWorkloadSpec(from: decoder))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c,
                                                   debugDescription: "unknown workload kind '\(other)' (this vbench knows blk, net, mem)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .block(let s): try s.encode(to: encoder)
        case .net(let s): try s.encode(to: encoder)
        case .mem(let s): try s.encode(to: encoder)
        }
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(kind, forKey: .kind)
    }
}

/// The network tests, named as netperf names them.
public enum NetTest: String, Codable, Sendable, CaseIterable {
    /// Bulk transfer on one or more streams (netperf TCP_STREAM, iperf3).
    case stream
    /// Request/response on one connection (netperf TCP_RR, sockperf ping-pong).
    case rr
    /// Connect, request, response, close (netperf TCP_CRR).
    case crr
}

/// Which way the payload of a stream test flows, seen from the side that wrote the record.
public enum NetDirection: String, Codable, Sendable {
    /// This side sends to the peer (guest→peer when run in a guest; iperf3's default).
    case send
    /// The peer sends to this side (iperf3 `-R`).
    case receive
}

/// What a network workload asked for.
public struct NetWorkloadSpec: Codable, Sendable, Equatable {
    /// A short name, e.g. `stream-send-p4-128k`, `rr-1b`.
    public var name: String
    public var test: NetTest
    /// `tcp` or `udp`.
    public var transport: String
    public var direction: NetDirection
    /// Parallel connections (iperf3 `-P`).
    public var streams: Int
    /// Bytes per write (stream) or per request (rr, crr).
    public var messageSizeBytes: Int
    /// Bytes per response (rr, crr); nil for stream tests.
    public var responseSizeBytes: Int?
    /// Measured time per repetition.
    public var runtimeNs: UInt64?
    /// Time run before measuring (iperf3 `--omit`).
    public var rampNs: UInt64
    public var repetitions: Int
    /// The peer as given (`HOST:PORT`).
    public var peer: String?
    /// The local interface the test was bound to, when it was.
    public var interface: String?

    public init(name: String? = nil, test: NetTest, transport: String = "tcp", direction: NetDirection = .send,
                streams: Int = 1, messageSizeBytes: Int, responseSizeBytes: Int? = nil, runtimeNs: UInt64? = nil,
                rampNs: UInt64 = 0, repetitions: Int = 1, peer: String? = nil, interface: String? = nil) {
        self.test = test
        self.transport = transport
        self.direction = direction
        self.streams = streams
        self.messageSizeBytes = messageSizeBytes
        self.responseSizeBytes = responseSizeBytes
        self.runtimeNs = runtimeNs
        self.rampNs = rampNs
        self.repetitions = repetitions
        self.peer = peer
        self.interface = interface
        self.name = name ?? Self.defaultName(test: test, transport: transport, direction: direction, streams: streams,
                                             messageSizeBytes: messageSizeBytes)
    }

    /// `stream-send-p1-128k`, `stream-recv-p4-128k`, `udp-stream-send-p1-1k`, `rr-1b`, `crr-1b`.
    public static func defaultName(test: NetTest, transport: String, direction: NetDirection, streams: Int,
                                   messageSizeBytes: Int) -> String {
        let prefix = transport == "tcp" ? "" : "\(transport)-"
        var size = ByteCount.shortName(UInt64(messageSizeBytes))
        if size.last?.isNumber == true { size += "b" }
        switch test {
        case .stream:
            return "\(prefix)stream-\(direction == .send ? "send" : "recv")-p\(streams)-\(size)"
        case .rr, .crr:
            return "\(prefix)\(test.rawValue)-\(size)\(streams > 1 ? "-p\(streams)" : "")"
        }
    }
}

/// The memory tests.
public enum MemTest: String, Codable, Sendable, CaseIterable {
    /// STREAM's kernels: c = a; b = s·c; c = a + b; a = b + s·c.
    case copy, scale, add, triad
    /// Dependent loads through a random single-cycle permutation (latency of one load).
    case chase
    /// Touching fresh pages for the first time (page-fault rate).
    case firstTouch = "first-touch"

    /// Bytes STREAM counts per element and iteration (8-byte doubles read and written).
    public var streamBytesPerElement: Int? {
        switch self {
        case .copy, .scale: 16
        case .add, .triad: 24
        case .chase, .firstTouch: nil
        }
    }
}

/// What a memory workload asked for.
public struct MemWorkloadSpec: Codable, Sendable, Equatable {
    /// `stream-triad`, `chase-64m`, `first-touch-1g`.
    public var name: String
    public var test: MemTest
    /// Bytes of each STREAM array, of the chase's range, or touched.
    public var arrayBytes: UInt64
    public var threads: Int
    /// Threads pinned one per CPU.
    public var pinned: Bool
    /// STREAM: timed iterations (the first, which is dropped, not counted); chase: repetitions.
    public var repetitions: Int
    /// The NUMA node the memory was bound to, when it was.
    public var numaNode: Int?

    public init(name: String? = nil, test: MemTest, arrayBytes: UInt64, threads: Int = 1, pinned: Bool = true,
                repetitions: Int, numaNode: Int? = nil) {
        self.test = test
        self.arrayBytes = arrayBytes
        self.threads = threads
        self.pinned = pinned
        self.repetitions = repetitions
        self.numaNode = numaNode
        self.name = name ?? {
            switch test {
            case .copy, .scale, .add, .triad: "stream-\(test.rawValue)"
            case .chase: "chase-\(ByteCount.shortName(arrayBytes))"
            case .firstTouch: "first-touch-\(ByteCount.shortName(arrayBytes))"
            }
        }()
    }
}
