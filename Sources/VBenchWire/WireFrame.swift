import NIOCore

/// What a frame carries.
public enum FrameType: UInt16, Sendable, CaseIterable {
    /// Protocol and tool version, sent first by each side.
    case hello = 1
    /// One RunRecord (its JSON).
    case record = 2
    /// The collector stored a record (or had it already).
    case ack = 3
    /// Something went wrong; the message says what.
    case error = 4
    /// A lab guest's event (`LabEvent`): what a step of its job did. A collector that runs no
    /// lab refuses it; the lab's acknowledges it like a record, by the event's id.
    case event = 5
}

/// One frame of wire protocol v1 (docs/wire-protocol.md): a 16-byte little-endian header —
/// magic `VBW1`, version (u16), type (u16), payload length (u32), CRC-32 of the payload (u32) —
/// then the payload.
public struct WireFrame: Sendable, Equatable {
    public static let magic: [UInt8] = Array("VBW1".utf8)
    public static let version: UInt16 = 1
    public static let headerBytes = 16
    /// The default largest payload a peer accepts: 16 MiB.
    public static let defaultMaxPayloadBytes = 16 << 20

    public var type: FrameType
    public var payload: ByteBuffer

    public init(type: FrameType, payload: ByteBuffer) {
        self.type = type
        self.payload = payload
    }

    /// Writes header and payload into `buffer`.
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeBytes(Self.magic)
        buffer.writeInteger(Self.version, endianness: .little)
        buffer.writeInteger(type.rawValue, endianness: .little)
        buffer.writeInteger(UInt32(payload.readableBytes), endianness: .little)
        buffer.writeInteger(CRC32.checksum(payload.readableBytesView), endianness: .little)
        var p = payload
        buffer.writeBuffer(&p)
    }
}

/// Why bytes could not become a frame. Each case closes the connection that sent them.
public enum WireError: Error, Equatable, CustomStringConvertible {
    case badMagic([UInt8])
    case unsupportedVersion(UInt16)
    case unknownType(UInt16)
    case frameTooLarge(length: Int, limit: Int)
    case checksumMismatch(expected: UInt32, computed: UInt32)

    public var description: String {
        switch self {
        case .badMagic(let bytes):
            "not a vbench frame (magic \(bytes.map { String($0, radix: 16) }.joined(separator: " "))); is the peer a vbench uplink?"
        case .unsupportedVersion(let v):
            "unsupported wire protocol version \(v) (this vbench speaks \(WireFrame.version)); upgrade the collector"
        case .unknownType(let t):
            "unknown frame type \(t) in protocol version \(WireFrame.version)"
        case let .frameTooLarge(length, limit):
            "frame of \(length) bytes exceeds the limit of \(limit) bytes; raise the collector's size cap if records are this large"
        case let .checksumMismatch(expected, computed):
            "frame payload is corrupt (CRC-32 0x\(String(computed, radix: 16)), header says 0x\(String(expected, radix: 16)))"
        }
    }
}
