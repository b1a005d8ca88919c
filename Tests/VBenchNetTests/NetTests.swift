import Foundation
import Testing
import VBenchCore
import VBenchSystem
@testable import VBenchNet

/// Real sockets on loopback: a `vbench serve` server in this process, clients against it.
@Suite(.serialized) struct NetTests {
    static func server(idleMs: Int = 5_000) throws -> NetServer {
        var config = NetServer.Configuration(host: "127.0.0.1", port: 0)
        config.idleTimeoutMs = idleMs
        let server = try NetServer(configuration: config)
        try ThreadGroup.detached { server.serve() }
        return server
    }

    @Test func streamBothWaysCountsEveryByteOnBothEnds() throws {
        let server = try Self.server()
        defer { server.stop() }
        let client = try NetClient(host: "127.0.0.1", port: server.port)
        let send = NetWorkloadSpec(test: .stream, direction: .send, streams: 2, messageSizeBytes: 65536)
        let up = try client.stream(spec: send, seconds: 0.5, index: 0)
        let sent = up.jobs.reduce(0) { $0 + $1.writeBytes }
        #expect(up.jobs.count == 2 && sent > 0)
        // What the server received (goodput) is exactly what the client sent: 8 bits a byte.
        let goodput = try #require(up.metrics["throughputBitsPerSec"])
        #expect(abs(goodput - Double(sent) * 8 / (Double(up.elapsedNs) / 1e9)) < 1, "\(goodput)")
        #expect(up.metrics["retransmits"] != nil && (up.metrics["cpuLocalPercent"] ?? 0) > 0)

        let receive = NetWorkloadSpec(test: .stream, direction: .receive, streams: 1, messageSizeBytes: 16384)
        let down = try client.stream(spec: receive, seconds: 0.5, index: 1)
        #expect(down.readBytes > 0 && down.writeBytes == 0 && (down.metrics["throughputBitsPerSec"] ?? 0) > 0)
        #expect(server.testsServed == 2)
    }

    @Test func requestResponseRecordsEveryRoundTrip() throws {
        let server = try Self.server()
        defer { server.stop() }
        let client = try NetClient(host: "127.0.0.1", port: server.port)
        let rr = NetWorkloadSpec(test: .rr, messageSizeBytes: 1, responseSizeBytes: 1)
        let rep = try client.requestResponse(spec: rr, seconds: 0.3, index: 0)
        let count = rep.jobs[0].readOps
        #expect(count > 10)
        #expect(rep.latencyNs?.histogram.totalCount == count, "one latency sample per transaction")
        #expect(rep.metrics["latP99Ns"] ?? 0 >= rep.metrics["latP50Ns"] ?? .infinity)
        let tps = try #require(rep.metrics["transactionsPerSec"])
        #expect(abs(tps - Double(count) / (Double(rep.elapsedNs) / 1e9)) < 1e-6 * tps)
    }

    /// Garbage, an over-long line, a silent client and a vanished client each lose only their
    /// own connection; a real client is served meanwhile.
    @Test func garbageAndSilenceNeverStopTheServer() throws {
        let server = try Self.server(idleMs: 500)
        defer { server.stop() }
        let garbage = try TCPSocket.connect(host: "127.0.0.1", port: server.port)
        let junk = Array("{not json}\n".utf8)
        _ = junk.withUnsafeBytes { garbage.sendAll($0.baseAddress!, $0.count) }
        let long = try TCPSocket.connect(host: "127.0.0.1", port: server.port)
        let blob = [UInt8](repeating: 0x41, count: 100_000)
        _ = blob.withUnsafeBytes { long.sendAll($0.baseAddress!, $0.count) }
        let silent = try TCPSocket.connect(host: "127.0.0.1", port: server.port)
        do {
            let vanished = try NetClient(host: "127.0.0.1", port: server.port)
            _ = vanished  // goes away without bye
        }
        // Refused requests get an error reply, and the connection stays usable.
        let client = try NetClient(host: "127.0.0.1", port: server.port)
        #expect(throws: NetClient.Failure.self) {
            try client.stream(spec: NetWorkloadSpec(test: .stream, streams: 100_000, messageSizeBytes: 1024), seconds: 0.2, index: 0)
        }
        let rep = try client.stream(spec: NetWorkloadSpec(test: .stream, messageSizeBytes: 4096), seconds: 0.2, index: 0)
        #expect((rep.metrics["throughputBitsPerSec"] ?? 0) > 0)
        #expect(server.requestsRejected == 1)
        // The garbage and over-long senders were cut off: reading gives EOF.
        var byte: UInt8 = 0
        garbage.setReceiveTimeout(ms: 3000)
        long.setReceiveTimeout(ms: 3000)
        silent.setReceiveTimeout(ms: 3000)
        #expect(garbage.receive(&byte, 1) == 0 && long.receive(&byte, 1) == 0)
        // The silent one is closed after the idle timeout (500 ms).
        #expect(silent.receive(&byte, 1) == 0)
    }

    @Test func unreachablePeerIsAClearError() {
        // Port 1 on loopback: nothing listens there.
        #expect(throws: NetClient.Failure.self) { try NetClient(host: "127.0.0.1", port: 1) }
        #expect(throws: NetClient.Failure.self) { try NetClient(host: "not-an-address", port: 5201) }
    }
}
