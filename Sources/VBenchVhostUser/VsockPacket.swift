/// The virtio-vsock packet header (virtio 1.2, section 5.10.6): 44 bytes, little-endian.
public struct VsockHeader: Sendable, Equatable {
    public static let size = 44
    /// The most payload one packet carries (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE).
    public static let maxPayload = 64 * 1024
    public static let hostCID: UInt64 = 2
    public static let typeStream: UInt16 = 1

    public enum Op: UInt16, Sendable {
        case request = 1, response = 2, reset = 3, shutdown = 4, readWrite = 5, creditUpdate = 6, creditRequest = 7
    }
    /// SHUTDOWN's flags: the sender will receive no more, send no more.
    public static let shutdownReceive: UInt32 = 1, shutdownSend: UInt32 = 2

    public var sourceCID: UInt64
    public var destinationCID: UInt64
    public var sourcePort: UInt32
    public var destinationPort: UInt32
    public var length: UInt32
    public var type: UInt16
    public var op: UInt16
    public var flags: UInt32
    public var bufferAllocation: UInt32
    public var forwardCount: UInt32

    public init(sourceCID: UInt64, destinationCID: UInt64, sourcePort: UInt32, destinationPort: UInt32, length: UInt32 = 0,
                type: UInt16 = VsockHeader.typeStream, op: Op, flags: UInt32 = 0, bufferAllocation: UInt32 = 0, forwardCount: UInt32 = 0) {
        self.init(sourceCID: sourceCID, destinationCID: destinationCID, sourcePort: sourcePort, destinationPort: destinationPort,
                  length: length, type: type, rawOp: op.rawValue, flags: flags, bufferAllocation: bufferAllocation, forwardCount: forwardCount)
    }

    public init(sourceCID: UInt64, destinationCID: UInt64, sourcePort: UInt32, destinationPort: UInt32, length: UInt32,
                type: UInt16, rawOp: UInt16, flags: UInt32, bufferAllocation: UInt32, forwardCount: UInt32) {
        self.sourceCID = sourceCID
        self.destinationCID = destinationCID
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.length = length
        self.type = type
        self.op = rawOp
        self.flags = flags
        self.bufferAllocation = bufferAllocation
        self.forwardCount = forwardCount
    }

    /// Parses the first 44 bytes; nil when there are fewer.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count >= Self.size else { return nil }
        self.init(sourceCID: bytes.loadLE(UInt64.self, at: 0), destinationCID: bytes.loadLE(UInt64.self, at: 8),
                  sourcePort: bytes.loadLE(UInt32.self, at: 16), destinationPort: bytes.loadLE(UInt32.self, at: 20),
                  length: bytes.loadLE(UInt32.self, at: 24), type: bytes.loadLE(UInt16.self, at: 28),
                  rawOp: bytes.loadLE(UInt16.self, at: 30), flags: bytes.loadLE(UInt32.self, at: 32),
                  bufferAllocation: bytes.loadLE(UInt32.self, at: 36), forwardCount: bytes.loadLE(UInt32.self, at: 40))
    }

    public var encoded: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.size)
        out.appendLE(sourceCID)
        out.appendLE(destinationCID)
        out.appendLE(sourcePort)
        out.appendLE(destinationPort)
        out.appendLE(length)
        out.appendLE(type)
        out.appendLE(op)
        out.appendLE(flags)
        out.appendLE(bufferAllocation)
        out.appendLE(forwardCount)
        return out
    }

    public var knownOp: Op? { Op(rawValue: op) }
}
