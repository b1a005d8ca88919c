import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
import VBenchTestSupport
@testable import VBenchCollector
import VBenchCore
import VBenchStore
import VBenchStoreAPI
@testable import VBenchUplink
import VBenchSystem
import VBenchWire

func sampleRecord(_ i: Int = 0) -> RunRecord {
    RunRecord(
        runId: UUID(), startTime: Date(timeIntervalSince1970: 1_800_000_000 + Double(i)), endTime: Date(timeIntervalSince1970: 1_800_000_010 + Double(i)),
        role: .guest, tool: ToolInfo(),
        environment: Environment(hostname: "guest\(i % 4)", kernelRelease: "6.1.0-56-amd64", cpuModel: "QEMU Virtual CPU", onlineCpus: 1,
                                 memoryBytes: 512 << 20, numaNodes: 1, hypervisor: HypervisorInfo(vendor: .qemuTcg)),
        device: DeviceInfo(kind: "block", name: "vda", driver: "virtio_blk", controllerDriver: "virtio-pci", deviceClass: .paravirtual),
        family: "blk", target: nil, workloads: [tinyWorkload()])
}

/// The smallest workload a sound record can hold: one repetition of 1,000 reads.
func tinyWorkload() -> WorkloadResult {
    let job = JobResult(index: 0, readOps: 1000, writeOps: 0, readBytes: 4_096_000, writeBytes: 0,
                        cpuUserNs: 0, cpuSystemNs: 0, submitCalls: 1000, reapCalls: 1000)
    return WorkloadResult(spec: BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 1),
                          repetitions: [RepetitionResult(index: 0, elapsedNs: 1_000_000_000, jobs: [job],
                                                         latency: nil, readLatency: nil, writeLatency: nil)])
}

struct Running {
    let collector: Collector
    let store: SQLiteRunStore
    let endpoints: [Endpoint]
}

func startCollector(_ dir: ScratchFolder, endpoints: [Endpoint]? = nil, maxPayload: Int = WireFrame.defaultMaxPayloadBytes,
                    idle: Duration = .seconds(60), frame: Duration = .seconds(30),
                    onLabEvent: (@Sendable (LabEvent, String) -> Void)? = nil) throws -> Running {
    let store = try SQLiteRunStore(path: dir.path + "/vbench.sqlite")
    var config = Collector.Configuration(endpoints: endpoints ?? [.unix(path: dir.path + "/c.sock"), .tcp(host: "127.0.0.1", port: 0)],
                                        collectorHost: "host", collectorKernel: "6.18", vsockAllowed: false)
    config.maxPayloadBytes = maxPayload
    config.idleTimeout = idle
    config.frameTimeout = frame
    config.onLabEvent = onLabEvent
    let collector = Collector(configuration: config, store: store)
    let bound = try collector.start().map { try Endpoint($0) }
    return Running(collector: collector, store: store, endpoints: bound)
}

@Suite struct EndpointTests {
    @Test func parsesEveryForm() throws {
        #expect(try Endpoint("vsock://any:5000") == .vsock(cid: nil, port: 5000))
        #expect(try Endpoint("vsock://2:5000") == .vsock(cid: 2, port: 5000))
        #expect(try Endpoint("vsock://host:7") == .vsock(cid: 2, port: 7))
        #expect(try Endpoint("unix:/run/vbench.sock") == .unix(path: "/run/vbench.sock"))
        #expect(try Endpoint("tcp://127.0.0.1:4000") == .tcp(host: "127.0.0.1", port: 4000))
        #expect(try Endpoint("tcp://[::1]:4000") == .tcp(host: "::1", port: 4000))
        #expect(try Endpoint("serial:/dev/virtio-ports/org.vbench.0") == .serial(path: "/dev/virtio-ports/org.vbench.0"))
        #expect(throws: EndpointError.self) { try Endpoint("http://x") }
        #expect(throws: EndpointError.badPort("tcp://h:65536")) { try Endpoint("tcp://h:65536") }
        #expect(try Endpoint("tcp://127.0.0.1:0") == .tcp(host: "127.0.0.1", port: 0))
        #expect(throws: EndpointError.self) { try Endpoint("vsock://any") }
        #expect(throws: EndpointError.self) { try Endpoint("unix:") }
        #expect(try Endpoint(Endpoint.tcp(host: "::1", port: 9).description) == .tcp(host: "::1", port: 9))
    }

    /// A peer outside --allow-cid gets `not-allowed` and is closed before it can send anything.
    /// (The CID itself comes from accept() on a vsock listener, which only runs on a vsock host
    /// or inside a lab guest; here the handler is driven on an EmbeddedChannel.)
    @Test func peersOutsideTheAllowListAreRefused() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let store = try SQLiteRunStore(path: dir.path + "/s.sqlite")
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? pool.syncShutdownGracefully() }
        var config = Collector.Configuration(endpoints: [], collectorHost: "h", collectorKernel: "k", vsockAllowed: false)
        config.allowedCIDs = [3]
        let handler = CollectorHandler(peer: "vsock:cid=7", committer: GroupCommitter(store: store, pool: pool), stats: CollectorStats(), latest: LatestResults(host: "h"),
                                       config: config, allowed: false, onEvent: { _ in })
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()  // becomes active
        let frame = try #require(try channel.readOutbound(as: WireFrame.self))
        guard case .error(let failure) = try WireMessage(frame: frame) else { Issue.record("expected an error frame"); return }
        #expect(failure.code == "not-allowed" && failure.message.contains("vsock:cid=7"))
        #expect(!channel.isActive)
    }

    /// The development machine is not a vsock host: the collector refuses before any socket exists.
    @Test func vsockListenIsRefusedWithoutVhostVsock() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let store = try SQLiteRunStore(path: dir.path + "/s.sqlite")
        let collector = Collector(configuration: .init(endpoints: [.vsock(cid: nil, port: 5000)], collectorHost: "h",
                                                       collectorKernel: "k", vsockAllowed: false), store: store)
        defer { collector.stop() }
        #expect(throws: EndpointError.vsockUnavailable("vsock://any:5000")) { _ = try collector.start() }
    }
}

@Suite(.serialized) struct CollectorTests {
    @Test func recordsAreStoredBeforeTheirAckAndDuplicatesOnce() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let running = try startCollector(dir)
        defer { running.collector.stop() }
        for endpoint in running.endpoints {
            let records = (0..<5).map(sampleRecord)
            let acks = try Uplink(endpoint: endpoint).send(records)
            #expect(acks.count == 5 && acks.values.allSatisfy { $0 == .stored })
            // Every acknowledged record is in the store.
            for r in records { #expect(try running.store.record(r.runId) == r) }
            let again = try Uplink(endpoint: endpoint).send(records)
            #expect(again.values.allSatisfy { $0 == .duplicate })
        }
        #expect(try running.store.runs(RunQuery()).count == 10)
        #expect(running.collector.stats.stored == 10 && running.collector.stats.duplicates == 10)
        let peers = Set(try running.store.runs(RunQuery()).map { String($0.peer.prefix(4)) })
        #expect(peers == ["unix", "tcp:"])
    }

    @Test func manyGuestsAtOnce() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let running = try startCollector(dir)
        defer { running.collector.stop() }
        let batches = (0..<16).map { g in (0..<8).map { sampleRecord(g * 8 + $0) } }
        let failures = NSLock()
        nonisolated(unsafe) var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: batches.count) { g in
            let endpoint = running.endpoints[g % running.endpoints.count]
            do {
                let acks = try Uplink(endpoint: endpoint).send(batches[g])
                if acks.count != 8 { failures.lock(); errors.append("guest \(g): \(acks.count) acks"); failures.unlock() }
            } catch {
                failures.lock(); errors.append("guest \(g): \(error)"); failures.unlock()
            }
        }
        #expect(errors.isEmpty, "\(errors)")
        #expect(try running.store.runs(RunQuery()).count == 128)
    }

    @Test func garbageAndOversizedFramesCostOnlyTheirOwnConnection() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let running = try startCollector(dir, maxPayload: 64 * 1024)
        defer { running.collector.stop() }
        guard case let .tcp(host, port)? = running.endpoints.first(where: { if case .tcp = $0 { true } else { false } }) else {
            Issue.record("no tcp endpoint"); return
        }
        // Garbage: the collector answers with an error frame and closes.
        let garbage = try rawExchange(host: host, port: port, send: Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(garbage.contains("not a vbench frame"))
        // A header announcing 1 GiB: refused from the header alone.
        var header = ByteBuffer()
        header.writeBytes(WireFrame.magic)
        header.writeInteger(UInt16(1), endianness: .little)
        header.writeInteger(FrameType.record.rawValue, endianness: .little)
        header.writeInteger(UInt32(1 << 30), endianness: .little)
        header.writeInteger(UInt32(0), endianness: .little)
        let big = try rawExchange(host: host, port: port, send: Array(header.readableBytesView))
        #expect(big.contains("too-large"))
        // A record that is not a record: an error for it, the connection and the server live on.
        var bad = ByteBuffer()
        WireFrame(type: .record, payload: ByteBuffer(string: #"{"schemaVersion": 7}"#)).write(to: &bad)
        let refused = try rawExchange(host: host, port: port, send: Array(bad.readableBytesView))
        #expect(refused.contains("unsupported-version"))
        // Still serving.
        let acks = try Uplink(endpoint: .tcp(host: host, port: port)).send([sampleRecord()])
        #expect(acks.count == 1)
        #expect(running.collector.stats.rejected >= 3)
    }

    @Test func idleConnectionsAreClosed() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let running = try startCollector(dir, idle: .milliseconds(300))
        defer { running.collector.stop() }
        guard case let .tcp(host, port)? = running.endpoints.last else { Issue.record("no tcp endpoint"); return }
        let reply = try rawExchange(host: host, port: port, send: [], waitSeconds: 3)
        #expect(reply.contains("idle"))
    }

    @Test func slowAndTruncatedSendersLoseOnlyTheirConnection() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let running = try startCollector(dir, frame: .milliseconds(800))
        defer { running.collector.stop() }
        guard case let .tcp(host, port)? = running.endpoints.last else { Issue.record("no tcp endpoint"); return }
        var frame = ByteBuffer()
        try WireMessage.record(sampleRecord()).frame().write(to: &frame)
        let bytes = Array(frame.readableBytesView)
        // One byte every 0.25 s: never idle, but the frame is not whole after 0.8 s.
        let slow = Thread { _ = try? rawExchange(host: host, port: port, send: Array(bytes.prefix(40)), waitSeconds: 4, trickleSeconds: 0.25) }
        slow.start()
        // Meanwhile others are served.
        let acks = try Uplink(endpoint: .tcp(host: host, port: port)).send([sampleRecord(5)])
        #expect(acks.count == 1)
        let reply = try rawExchange(host: host, port: port, send: Array(bytes.prefix(40)), waitSeconds: 4, trickleSeconds: 0.25)
        #expect(reply.contains("slow"), "reply: \(reply)")
        // Half a frame, then the sender vanishes: nothing stored, nothing broken.
        _ = try rawExchange(host: host, port: port, send: Array(bytes.prefix(bytes.count / 2)), waitSeconds: 0)
        #expect(try Uplink(endpoint: .tcp(host: host, port: port)).send([sampleRecord(6)]).count == 1)
        #expect(try running.store.runs(RunQuery()).count == 2)
    }

    /// 1,000 guests connected at once over one Unix socket, each holding its connection open
    /// until all are connected, then each sending a record: all acknowledged.
    @Test func aThousandConcurrentConnectionsOverAUnixSocket() throws {
        FileLimits.raiseOpenFilesToMaximum()
        let dir = try ScratchFolder(under: "/tmp")
        let socket = dir.path + "/many.sock"
        let store = try SQLiteRunStore(path: dir.path + "/vbench.sqlite")
        var config = Collector.Configuration(endpoints: [.unix(path: socket)], collectorHost: "h", collectorKernel: "k", vsockAllowed: false)
        config.maxConnections = 1100
        let collector = Collector(configuration: config, store: store)
        _ = try collector.start()
        defer { collector.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let channels = try (0..<1000).map { _ in
            try ClientBootstrap(group: group)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandlers([MessageToByteHandler(WireFrameEncoder()),
                                                                    ByteToMessageHandler(WireFrameDecoder())])
                    }
                }
                .connect(unixDomainSocketPath: socket).wait()
        }
        // All 1,000 are open at the same time.
        let deadline = Date().addingTimeInterval(20)
        while collector.stats.connected < 1000 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(collector.stats.connected == 1000)
        let records = (0..<1000).map(sampleRecord)
        for (channel, record) in zip(channels, records) {
            channel.writeAndFlush(try WireMessage.record(record).frame(), promise: nil)
        }
        while collector.stats.stored < 1000 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(collector.stats.stored == 1000)
        #expect(collector.stats.rejected == 0)
        for c in channels { try? c.close().wait() }
        #expect(try store.runs(RunQuery(limit: 5000)).count == 1000)
    }

    @Test func connectionsAboveTheCapAreTurnedAway() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let store = try SQLiteRunStore(path: dir.path + "/vbench.sqlite")
        var config = Collector.Configuration(endpoints: [.tcp(host: "127.0.0.1", port: 0)], collectorHost: "h", collectorKernel: "k",
                                            vsockAllowed: false)
        config.maxConnections = 2
        let collector = Collector(configuration: config, store: store)
        guard case let .tcp(host, port) = try Endpoint(try collector.start()[0]) else { Issue.record("no endpoint"); return }
        defer { collector.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let held = try (0..<2).map { _ in try ClientBootstrap(group: group).connect(host: host, port: port).wait() }
        let deadline = Date().addingTimeInterval(10)
        while collector.stats.connected < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let third = try rawExchange(host: host, port: port, send: [], waitSeconds: 2)
        #expect(third.contains("busy"))
        for c in held { try? c.close().wait() }
    }

    @Test func unreachableCollectorMeansSpooledThenDelivered() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let socket = dir.path + "/later.sock"
        let spool = Spool(directory: dir.path + "/spool")
        let delivery = Delivery(uplink: Uplink(endpoint: .unix(path: socket), timeout: .seconds(2)), spool: spool)
        let first = try delivery.deliver([sampleRecord(1), sampleRecord(2)])
        #expect(first.spooled == 2 && first.stored == 0 && first.failure != nil)
        #expect(try spool.load().records.count == 2)
        // The collector comes up; the next delivery sends the spool along with the new record.
        let running = try startCollector(dir, endpoints: [.unix(path: socket)])
        defer { running.collector.stop() }
        let second = try delivery.deliver([sampleRecord(3)])
        #expect(second == Delivery.Outcome(stored: 3, duplicates: 0, spooled: 0, failure: nil))
        #expect(try spool.load().records.isEmpty)
        #expect(try running.store.runs(RunQuery()).count == 3)
    }

    /// The vsock accept loop outlives a failed accept: EMFILE twice (descriptors exhausted), a
    /// connection, ENOMEM, another connection, then the shutdown. Both connections are served,
    /// each failure is reported with a growing pause, and only the shutdown ends the loop. The
    /// accept here is a stand-in: AF_VSOCK must not be opened on this machine (its /dev/vsock
    /// leads to infrastructure that is not ours), so the real socket runs in lab guests only.
    @Test func theVsockAcceptLoopKeepsServingAfterAFailedAccept() {
        var script: [Result<(descriptor: Int32, cid: UInt32), SystemError>] = [
            .failure(SystemError("accept", "vsock port 5000", errno: .tooManyOpenFiles)),
            .failure(SystemError("accept", "vsock port 5000", errno: .tooManyOpenFiles)),
            .success((descriptor: 41, cid: 3)),
            .failure(SystemError("accept", "vsock port 5000", errno: .noMemory)),
            .success((descriptor: 42, cid: 4)),
            .failure(SystemError("accept", "vsock port 5000", errno: .invalidArgument)),  // shutdown
        ]
        var served: [(Int32, UInt32)] = [], notices: [String] = [], pauses: [UInt64] = []
        Collector.acceptLoop(accept: { () throws(SystemError) in
            let next = script.removeFirst()
            switch next { case .success(let c): return c; case .failure(let e): throw e }
        }, serve: { served.append(($0, $1)) }, notice: { notices.append($0) }, pause: { pauses.append($0) })
        #expect(served.map(\.0) == [41, 42] && served.map(\.1) == [3, 4])
        #expect(script.isEmpty, "the loop ended at the shutdown, not before")
        #expect(notices.count == 3 && notices[0].contains("still listening") && pauses == [10_000_000, 20_000_000, 10_000_000], "\(notices) \(pauses)")
    }

    /// What a writer killed between its temporary file and the rename leaves behind: half a
    /// record is removed by the next load when its process is gone, a whole one is put in place;
    /// a temporary file of a live writer is kept; the spooled records are untouched.
    @Test func aCrashedWritersTemporaryFileIsClearedAndRecordsKept() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let spool = Spool(directory: dir.path + "/spool")
        let kept = sampleRecord(1)
        try spool.add([kept])
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let stale = dir.path + "/spool/\(UUID().uuidString.lowercased()).json.tmp-\(gone.processIdentifier)"
        let live = dir.path + "/spool/\(UUID().uuidString.lowercased()).json.tmp-\(getpid())"
        for f in [stale, live] { try Data("{\"half".utf8).write(to: URL(fileURLWithPath: f)) }
        // Whole but not renamed: the writer died after its fsync. Put in place, not thrown away
        // (an old spool's .json.tmp the same).
        let whole = sampleRecord(2), old = sampleRecord(3)
        try whole.jsonData().write(to: URL(fileURLWithPath: dir.path + "/spool/\(whole.runId.uuidString.lowercased()).json.tmp-\(gone.processIdentifier)"))
        try old.jsonData().write(to: URL(fileURLWithPath: dir.path + "/spool/\(old.runId.uuidString.lowercased()).json.tmp"))
        let loaded = try spool.load()
        #expect(Set(loaded.records.map(\.runId)) == [kept.runId, whole.runId, old.runId] && loaded.unreadable.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: stale) && FileManager.default.fileExists(atPath: live))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/spool").filter { $0.contains(".tmp") } == [live.split(separator: "/").last.map(String.init)!])
        #expect(!AtomicFile.isStaleTemporary("r.json") && !AtomicFile.isStaleTemporary("r.json.tmp-x") && !AtomicFile.isStaleTemporary("r.json.tmp-0"))
    }

    /// A record larger than the collector's frame limit is not written at all: the sender reads
    /// the limit from the collector's hello and says so, where it once saw only "Broken pipe"
    /// (the collector refuses such a frame from its header and closes the connection while the
    /// sender is still writing). The records beside it are delivered; it stays in the spool.
    @Test func aRecordOverTheCollectorsLimitIsNamedAndKept() throws {
        let dir = try ScratchFolder(under: "/tmp")
        let running = try startCollector(dir, endpoints: [.unix(path: dir.path + "/c.sock")], maxPayload: 64 << 10)
        defer { running.collector.stop() }
        var big = sampleRecord(2)
        for i in 0..<20 { big.tags["padding\(i)"] = String(repeating: "x", count: 4096) }  // 80 KiB of tags, the most a tag holds
        let spool = Spool(directory: dir.path + "/spool")
        let delivery = Delivery(uplink: Uplink(endpoint: running.endpoints[0], timeout: .seconds(10)), spool: spool)
        let outcome = try delivery.deliver([sampleRecord(1), big, sampleRecord(3)])
        #expect(outcome.stored == 2 && outcome.spooled == 1)
        let failure = try #require(outcome.failure)
        #expect(failure.contains(big.runId.uuidString.lowercased()) && failure.contains("more than the 65536") && failure.contains("--max-frame-bytes"),
                "\(failure)")
        #expect(try spool.load().records.map(\.runId) == [big.runId])
        #expect(try running.store.runs(RunQuery()).count == 2 && running.collector.stats.rejected == 0)
    }
}

/// Connects with a plain socket (no vbench code on this side), sends bytes, and returns what
/// came back until the collector closed the connection or `waitSeconds` passed.
func rawExchange(host: String, port: Int, send bytes: [UInt8], waitSeconds: Int = 5, trickleSeconds: Double = 0) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["timeout", "\(waitSeconds + 5)", "python3", "-c", """
        import socket, sys
        import time
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
        data, trickle = bytes.fromhex(sys.argv[3]), float(sys.argv[5])
        if trickle > 0:
            try:
                for i in range(len(data)):
                    s.sendall(data[i:i+1]); time.sleep(trickle)
            except OSError:
                pass
        else:
            s.sendall(data)
        s.settimeout(max(float(sys.argv[4]), 0.01))
        out = b''
        try:
            while True:
                b = s.recv(65536)
                if not b: break
                out += b
        except socket.timeout:
            pass
        sys.stdout.write(out.decode('latin-1'))
        """, host, "\(port)", bytes.map { String(format: "%02x", $0) }.joined(), "\(waitSeconds)", "\(trickleSeconds)"]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

@Suite struct LabEventWireTests {
    /// A lab guest's events go over the uplink after its records and reach the lab's handler
    /// as values, each acknowledged by its id; a plain collector refuses them and the sender
    /// hears why.
    @Test func eventsReachTheLabAndAPlainCollectorRefusesThem() throws {
        let dir = try ScratchFolder(under: "/tmp")
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var events: [(LabEvent, String)] = []
        }
        let seen = Seen()
        let lab = try startCollector(dir, endpoints: [.unix(path: dir.path + "/lab.sock")]) { e, peer in
            seen.lock.lock(); seen.events.append((e, peer)); seen.lock.unlock()
        }
        defer { lab.collector.stop() }
        let record = sampleRecord()
        let events = [LabEvent(uptimeSeconds: 12.5, kind: .diskRun(slot: 1, model: "ide", device: "/dev/sda", exitStatus: 3)),
                      LabEvent(uptimeSeconds: 13, kind: .throttles(iops: [1: 22500, 2: 17500]))]
        let outcome = try Uplink(endpoint: lab.endpoints[0], timeout: .seconds(30)).deliver([record], events: events)
        #expect(outcome.acks == [record.runId: .stored, events[0].id: .stored, events[1].id: .stored])
        seen.lock.lock()
        let got = seen.events
        seen.lock.unlock()
        #expect(got.map(\.0) == events && got.allSatisfy { !$0.1.isEmpty })
        #expect(try lab.store.record(record.runId) != nil, "the record beside the events is stored as ever")

        let plainDir = try ScratchFolder(under: "/tmp")
        let plain = try startCollector(plainDir, endpoints: [.unix(path: plainDir.path + "/c.sock")])
        defer { plain.collector.stop() }
        let refused = try Uplink(endpoint: plain.endpoints[0], timeout: .seconds(30)).deliver([], events: [events[0]])
        #expect(refused.acks.isEmpty)
        #expect(refused.failure?.contains("not-allowed") == true && refused.failure?.contains("lab events") == true, "\(refused.failure ?? "no failure")")
    }
}
