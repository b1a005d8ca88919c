import FoundationEssentials
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
import VBenchCore
@testable import VBenchWire

@Suite struct CRC32Tests {
    @Test func matchesTheStandardCheckValue() {
        // The CRC-32 check value of "123456789" (zlib, IEEE 802.3).
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }
}

@Suite struct FrameCodecTests {
    static func frame(_ type: FrameType, _ text: String) -> WireFrame {
        WireFrame(type: type, payload: ByteBuffer(string: text))
    }

    static func bytes(_ frames: [WireFrame]) -> ByteBuffer {
        var b = ByteBuffer()
        for f in frames { f.write(to: &b) }
        return b
    }

    @Test func headerIsLittleEndianAsDocumented() {
        let b = Self.bytes([Self.frame(.record, "abc")])
        #expect(Array(b.readableBytesView) == Array("VBW1".utf8) + [1, 0, 2, 0, 3, 0, 0, 0]
                    + [0xC2, 0x41, 0x24, 0x35] + Array("abc".utf8))
    }

    @Test func decoderHandlesDripFeedAndBatches() throws {
        let pairs: [(ByteBuffer, [WireFrame])] = [
            (Self.bytes([Self.frame(.hello, #"{"a":1}"#)]), [Self.frame(.hello, #"{"a":1}"#)]),
            (Self.bytes([Self.frame(.record, String(repeating: "x", count: 5000))]), [Self.frame(.record, String(repeating: "x", count: 5000))]),
            (Self.bytes([Self.frame(.ack, ""), Self.frame(.error, "e")]), [Self.frame(.ack, ""), Self.frame(.error, "e")]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { WireFrameDecoder() }
    }

    @Test func oneByteAtATimeAndAllAtOnceOnAChannel() throws {
        let frames = [Self.frame(.hello, "h"), Self.frame(.record, "r1"), Self.frame(.record, "r2")]
        let wire = Self.bytes(frames)
        // Byte by byte.
        let drip = EmbeddedChannel(handler: ByteToMessageHandler(WireFrameDecoder()))
        for byte in wire.readableBytesView { try drip.writeInbound(ByteBuffer(bytes: [byte])) }
        for f in frames { #expect(try drip.readInbound(as: WireFrame.self) == f) }
        #expect(try drip.readInbound(as: WireFrame.self) == nil)
        _ = try drip.finish()
        // All at once.
        let bulk = EmbeddedChannel(handler: ByteToMessageHandler(WireFrameDecoder()))
        try bulk.writeInbound(wire)
        for f in frames { #expect(try bulk.readInbound(as: WireFrame.self) == f) }
        _ = try bulk.finish()
    }

    @Test func encoderWritesWhatTheDecoderReads() throws {
        let channel = EmbeddedChannel(handlers: [MessageToByteHandler(WireFrameEncoder()), ByteToMessageHandler(WireFrameDecoder())])
        let f = Self.frame(.ack, #"{"x":2}"#)
        try channel.writeOutbound(f)
        let out = try #require(try channel.readOutbound(as: ByteBuffer.self))
        try channel.writeInbound(out)
        #expect(try channel.readInbound(as: WireFrame.self) == f)
        _ = try channel.finish()
    }

    @Test func newerVersionIsRefusedByName() {
        var b = Self.bytes([Self.frame(.hello, "{}")])
        b.setInteger(UInt16(2), at: 4, endianness: .little)
        #expect(throws: WireError.unsupportedVersion(2)) { _ = try WireFrameDecoder.parse(&b, maxPayloadBytes: 1 << 20) }
        #expect(WireError.unsupportedVersion(2).description.contains("unsupported wire protocol version 2"))
    }

    @Test func oversizedFrameIsRefusedFromTheHeaderAlone() {
        // Only the header has arrived: the cap is enforced before any payload is buffered.
        var header = ByteBuffer()
        header.writeBytes(WireFrame.magic)
        header.writeInteger(UInt16(1), endianness: .little)
        header.writeInteger(FrameType.record.rawValue, endianness: .little)
        header.writeInteger(UInt32(64 << 20), endianness: .little)
        header.writeInteger(UInt32(0), endianness: .little)
        #expect(throws: WireError.frameTooLarge(length: 64 << 20, limit: WireFrame.defaultMaxPayloadBytes)) {
            _ = try WireFrameDecoder.parse(&header, maxPayloadBytes: WireFrame.defaultMaxPayloadBytes)
        }
    }

    @Test func garbageAndCorruptionAreCaught() {
        var garbage = ByteBuffer(string: "GET / HTTP/1.1\r\n")
        #expect(throws: WireError.badMagic(Array("GET ".utf8))) { _ = try WireFrameDecoder.parse(&garbage, maxPayloadBytes: 100) }
        var early = ByteBuffer(string: "GE")  // two bytes are enough to see it is not a frame
        #expect(throws: WireError.self) { _ = try WireFrameDecoder.parse(&early, maxPayloadBytes: 100) }
        var corrupt = Self.bytes([Self.frame(.record, "payload")])
        corrupt.setInteger(UInt8(ascii: "P"), at: WireFrame.headerBytes)
        #expect(throws: WireError.self) { _ = try WireFrameDecoder.parse(&corrupt, maxPayloadBytes: 100) }
        var unknown = Self.bytes([Self.frame(.ack, "")])
        unknown.setInteger(UInt16(99), at: 6, endianness: .little)
        #expect(throws: WireError.unknownType(99)) { _ = try WireFrameDecoder.parse(&unknown, maxPayloadBytes: 100) }
    }

    @Test func channelErrorsOnGarbage() {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WireFrameDecoder()))
        #expect(throws: WireError.self) { try channel.writeInbound(ByteBuffer(string: "hello there, collector")) }
        _ = try? channel.finish()
    }
}

@Suite struct MessageTests {
    static func record() -> RunRecord {
        RunRecord(
            runId: UUID(), startTime: Date(timeIntervalSince1970: 1_800_000_000), endTime: Date(timeIntervalSince1970: 1_800_000_001),
            role: .guest, tool: ToolInfo(),
            environment: Environment(hostname: "g", kernelRelease: "6.1.0-56-amd64", cpuModel: "QEMU Virtual CPU", onlineCpus: 1,
                                     memoryBytes: 512 << 20, numaNodes: 1, hypervisor: HypervisorInfo(vendor: .qemuTcg)),
            device: DeviceInfo(kind: "block", name: "vda", driver: "virtio_blk", deviceClass: .paravirtual),
            family: "blk", target: nil, workloads: [WorkloadResult(spec: BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 1),
                                       repetitions: [RepetitionResult(index: 0, elapsedNs: 1_000_000_000, jobs: [], latency: nil,
                                                                      readLatency: nil, writeLatency: nil)])])
    }

    @Test(arguments: [
        WireMessage.hello(Hello(role: "uplink")),
        .hello(Hello(role: "uplink", token: "a-token-of-sixteen+")),
        .ack(Ack(runId: UUID(), status: .duplicate)),
        .error(WireFailure(code: "not-allowed", message: "CID 7 may not send")),
        .record(MessageTests.record()),
    ])
    func messagesRoundTripThroughFrames(message: WireMessage) throws {
        var bytes = ByteBuffer()
        try message.frame().write(to: &bytes)
        let frame = try #require(try WireFrameDecoder.parse(&bytes, maxPayloadBytes: WireFrame.defaultMaxPayloadBytes))
        #expect(try WireMessage(frame: frame) == message)
    }

    /// A hello without a token has no `token` key (what collectors before tokens read), and a
    /// hello of such a peer reads as one without a token.
    @Test func theTokenIsOptionalOnTheWire() throws {
        let plain = try WireMessage.hello(Hello(role: "uplink")).frame()
        #expect(!String(buffer: plain.payload).contains("token"))
        let old = WireFrame(type: .hello, payload: ByteBuffer(string: #"{"protocolVersion":1,"toolVersion":"0.1.0","role":"uplink"}"#))
        guard case .hello(let hello) = try WireMessage(frame: old) else { Issue.record("not a hello"); return }
        #expect(hello.token == nil)
    }

    @Test func recordOfANewerSchemaIsNamed() {
        let frame = WireFrame(type: .record, payload: ByteBuffer(string: #"{"schemaVersion": 9}"#))
        func code(_ frame: WireFrame) -> String? {
            do { _ = try WireMessage(frame: frame); return nil } catch { return error.code }
        }
        #expect(code(frame) == "unsupported-version")
        #expect(code(WireFrame(type: .record, payload: ByteBuffer(string: "not json"))) == "invalid-record")
        #expect(code(WireFrame(type: .ack, payload: ByteBuffer(string: #"{"runId": 5}"#))) == "protocol")
    }
}
