import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import VBenchTestSupport
@testable import VBenchCollector
import VBenchCore
import VBenchStore
import VBenchStoreAPI
@testable import VBenchUplink
import VBenchWire

/// Record schema 2 on the wire: an older guest keeps working against this collector, and this
/// guest speaks version 1 to an older collector.
@Suite struct SchemaNegotiationTests {
    /// A version 1 record as the lab's vbench wrote it, sent as a version 1 guest sends it: its
    /// hello carries no record versions.
    @Test func aVersion1GuestIsStoredByThisCollector() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let running = try startCollector(dir)
        defer { running.collector.stop() }
        guard case let .tcp(host, port)? = running.endpoints.first(where: { if case .tcp = $0 { true } else { false } }) else {
            Issue.record("no tcp endpoint"); return
        }
        let record = sampleRecordWithLatency()
        let v1 = try record.jsonData(pretty: false, schemaVersion: 1)
        #expect(String(decoding: v1, as: UTF8.self).contains("\"percentiles\""))
        var bytes = ByteBuffer()
        WireFrame(type: .hello, payload: ByteBuffer(string: #"{"protocolVersion":1,"role":"uplink","toolVersion":"0.1.0"}"#)).write(to: &bytes)
        WireFrame(type: .record, payload: ByteBuffer(bytes: v1)).write(to: &bytes)
        let reply = try rawExchange(host: host, port: port, send: Array(bytes.readableBytesView), waitSeconds: 3)
        #expect(reply.contains("\"recordSchemaVersions\":[1,2]"))
        #expect(reply.contains("\"status\":\"stored\""))
        #expect(try running.store.record(record.runId) == record)
    }

    /// A collector from before record schema 2: its hello has no record versions and it reads
    /// version 1 only. The uplink must send version 1.
    @Test func thisGuestSpeaksVersion1ToAnOlderCollector() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let seen = SeenVersions()
        let server = try ServerBootstrap(group: group).childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers([
                    MessageToByteHandler(WireFrameEncoder()), ByteToMessageHandler(WireFrameDecoder()), OldCollector(seen: seen),
                ])
            }
        }.bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let record = sampleRecordWithLatency()
        let acks = try Uplink(endpoint: .tcp(host: "127.0.0.1", port: server.localAddress!.port!)).send([record])
        #expect(acks == [record.runId: Ack.Status.stored])
        #expect(seen.versions.withLock { $0 } == [1])
    }

    @Test func agreementIsTheNewestCommonVersion() {
        #expect(Hello(role: "collector").agreedRecordSchemaVersion() == RunRecord.currentSchemaVersion)
        #expect(Hello(role: "collector", recordSchemaVersions: nil).agreedRecordSchemaVersion() == 1)
        #expect(Hello(role: "collector", recordSchemaVersions: [1, 2, 9]).agreedRecordSchemaVersion() == 2)
    }
}

/// A record with a latency histogram, so the versions differ on the wire.
func sampleRecordWithLatency() -> RunRecord {
    var h = LatencyHistogram()
    for v: UInt64 in stride(from: 40_000, to: 400_000, by: 997) { h.record(v) }
    var record = sampleRecord()
    let job = JobResult(index: 0, readOps: h.totalCount, writeOps: 0, readBytes: h.totalCount * 4096, writeBytes: 0,
                        cpuUserNs: 10, cpuSystemNs: 10, submitCalls: 1, reapCalls: 1)
    record.workloads = [WorkloadResult(spec: BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 1),
                                       repetitions: [RepetitionResult(index: 0, elapsedNs: 1_000_000_000, jobs: [job],
                                                                      latency: h, readLatency: h, writeLatency: nil)])]
    return record
}

/// The collector side of vbench 0.1.0 before record schema 2, reduced to what the uplink sees.
final class OldCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = WireFrame
    typealias OutboundOut = WireFrame
    let seen: SeenVersions
    init(seen: SeenVersions) { self.seen = seen }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let json = try? JSONSerialization.jsonObject(with: Data(frame.payload.readableBytesView)) as? [String: Any]
        let reply: String
        switch frame.type {
        case .hello: reply = #"{"protocolVersion":1,"role":"collector","toolVersion":"0.1.0"}"#
        case .record:
            let version = json?["schemaVersion"] as? Int ?? -1
            seen.versions.withLock { $0.append(version) }
            guard version == 1, let id = json?["runId"] as? String else {
                reply = #"{"code":"unsupported-version","message":"old collector"}"#
                context.writeAndFlush(wrapOutboundOut(WireFrame(type: .error, payload: ByteBuffer(string: reply))), promise: nil)
                return
            }
            reply = #"{"runId":"\#(id)","status":"stored"}"#
            context.writeAndFlush(wrapOutboundOut(WireFrame(type: .ack, payload: ByteBuffer(string: reply))), promise: nil)
            return
        default: return
        }
        context.writeAndFlush(wrapOutboundOut(WireFrame(type: .hello, payload: ByteBuffer(string: reply))), promise: nil)
    }
}

final class SeenVersions: Sendable {
    let versions = Mutex<[Int]>([])
}
