import NIOCore

/// Bytes to frames. Checks magic, version and the size cap from the header alone, before
/// buffering a payload, so a peer cannot make the collector hold more than the cap.
public struct WireFrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = WireFrame
    public let maxPayloadBytes: Int

    public init(maxPayloadBytes: Int = WireFrame.defaultMaxPayloadBytes) {
        self.maxPayloadBytes = maxPayloadBytes
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.parse(&buffer, maxPayloadBytes: maxPayloadBytes) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// Takes one frame off the front of `buffer`, or nil when more bytes are needed.
    public static func parse(_ buffer: inout ByteBuffer, maxPayloadBytes: Int) throws(WireError) -> WireFrame? {
        guard buffer.readableBytes >= WireFrame.headerBytes else {
            // Reject a wrong magic as soon as its bytes are there.
            let n = min(buffer.readableBytes, 4)
            if let start = buffer.getBytes(at: buffer.readerIndex, length: n), start != Array(WireFrame.magic.prefix(n)) {
                throw .badMagic(start)
            }
            return nil
        }
        let base = buffer.readerIndex
        guard let magic = buffer.getBytes(at: base, length: 4),
              let version = buffer.getInteger(at: base + 4, endianness: .little, as: UInt16.self),
              let rawType = buffer.getInteger(at: base + 6, endianness: .little, as: UInt16.self),
              let length = buffer.getInteger(at: base + 8, endianness: .little, as: UInt32.self),
              let crc = buffer.getInteger(at: base + 12, endianness: .little, as: UInt32.self)
        else { return nil }
        guard magic == WireFrame.magic else { throw .badMagic(magic) }
        guard version == WireFrame.version else { throw .unsupportedVersion(version) }
        guard let type = FrameType(rawValue: rawType) else { throw .unknownType(rawType) }
        guard Int(length) <= maxPayloadBytes else { throw .frameTooLarge(length: Int(length), limit: maxPayloadBytes) }
        guard buffer.readableBytes >= WireFrame.headerBytes + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: WireFrame.headerBytes)
        guard let payload = buffer.readSlice(length: Int(length)) else { return nil }
        let computed = CRC32.checksum(payload.readableBytesView)
        guard computed == crc else { throw .checksumMismatch(expected: crc, computed: computed) }
        return WireFrame(type: type, payload: payload)
    }
}

/// Frames to bytes.
public struct WireFrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = WireFrame
    public init() {}

    public func encode(data: WireFrame, out: inout ByteBuffer) throws {
        data.write(to: &out)
    }
}
