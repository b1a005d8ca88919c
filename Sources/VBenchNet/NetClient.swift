import FoundationEssentials
import Synchronization
import VBenchCore
import VBenchSystem

/// The client side of the network tests: asks `vbench serve` for each test over the control
/// connection and measures its own side (bytes, transactions, latency, CPU, retransmits).
public final class NetClient: @unchecked Sendable {
    public let host: String
    public let port: UInt16
    /// Bind data connections to this interface (SO_BINDTODEVICE), when set.
    public let device: String?
    private let control: LineChannel

    public enum Failure: Error, CustomStringConvertible {
        case peer(String)
        case system(SystemError)
        public var description: String {
            switch self {
            case .peer(let why): "the peer: \(why)"
            case .system(let e): "\(e)"
            }
        }
    }

    /// Connects the control channel and says hello.
    public init(host: String, port: UInt16, device: String? = nil) throws(Failure) {
        self.host = host
        self.port = port
        self.device = device
        let socket: TCPSocket
        do { socket = try TCPSocket.connect(host: host, port: port, device: device) } catch { throw .system(error) }
        socket.setNoDelay()
        socket.setReceiveTimeout(ms: 60_000)
        control = LineChannel(socket)
        guard control.send(ControlRequest(op: .hello, version: LineChannel.version)),
              let reply = control.receive(ControlReply.self), reply.ok else {
            throw .peer("\(host):\(port) did not answer as vbench serve does")
        }
    }

    deinit { _ = control.send(ControlRequest(op: .bye)) }

    private func start(_ request: ControlRequest) throws(Failure) -> UInt16 {
        guard control.send(request), let reply = control.receive(ControlReply.self) else { throw .peer("the control connection closed") }
        guard reply.ok, let port = reply.dataPort else { throw .peer(reply.error ?? "refused the test") }
        return port
    }

    private func finish() throws(Failure) -> ControlReply {
        guard let reply = control.receive(ControlReply.self), reply.ok else { throw .peer("no report at the end of the test") }
        return reply
    }

    /// One repetition of a stream test.
    public func stream(spec: NetWorkloadSpec, seconds: Double, index: Int) throws(Failure) -> RepetitionResult {
        let dataPort = try start(ControlRequest(op: .stream, direction: spec.direction, streams: spec.streams,
                                                messageSize: spec.messageSizeBytes, seconds: seconds))
        var sockets: [TCPSocket] = []
        for _ in 0..<spec.streams {
            do { sockets.append(try TCPSocket.connect(host: host, port: dataPort, device: device)) } catch { throw .system(error) }
        }
        let jobs = Mutex<[JobResult?]>(Array(repeating: nil, count: spec.streams))
        // Each stream's own end: the wall time is the last one's, not when the group noticed.
        let ends = Mutex<UInt64>(0)
        let size = spec.messageSizeBytes, direction = spec.direction
        let start = Clock.monotonicNs()
        let connected = sockets
        try? ThreadGroup.run(count: connected.count) { i in
            let s = connected[i]
            let cpu0 = Clock.threadCPU()
            // Receivers read up to 1 MiB per call whatever the writer's message size.
            let capacity = direction == .send ? size : max(size, 1 << 20)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 4096)
            defer { buffer.deallocate() }
            var sent: UInt64 = 0, received: UInt64 = 0
            if direction == .send {
                buffer.initializeMemory(as: UInt8.self, repeating: 0x5a, count: size)
                let end = Clock.monotonicNs() + UInt64(seconds * 1e9)
                while Clock.monotonicNs() < end {
                    guard s.sendAll(buffer, size) else { break }
                    sent += UInt64(size)
                }
            } else {
                s.setReceiveTimeout(ms: Int((seconds + 30) * 1000))
                // Woken per message, not per segment (as the server's receiver).
                s.setReceiveLowWater(bytes: min(size, 1 << 20))
                while true {
                    let n = s.receive(buffer, capacity)
                    if n == 0 { break }
                    received += UInt64(n)
                }
            }
            let retrans = UInt64(s.tcpInfo()?.retransmits ?? 0)
            if direction == .send { s.shutdownWrite() }
            let cpu1 = Clock.threadCPU()
            let finished = Clock.monotonicNs()
            ends.withLock { $0 = max($0, finished) }
            let job = JobResult(index: i, readOps: 0, writeOps: retrans, readBytes: received, writeBytes: sent,
                                cpuUserNs: cpu1.userNs - cpu0.userNs, cpuSystemNs: cpu1.systemNs - cpu0.systemNs,
                                submitCalls: 0, reapCalls: 0)
            jobs.withLock { $0[i] = job }
        }
        let elapsed = max(ends.withLock { $0 }, start + 1) - start
        let peer = try finish()
        for s in sockets { s.close() }
        let js = jobs.withLock { $0.compactMap { $0 } }
        // Goodput is what the receiver got: the server's count when the client sends.
        let delivered = direction == .send ? Double(peer.bytes ?? 0) : Double(js.reduce(0) { $0 + $1.readBytes })
        let wall = Double(elapsed) / 1e9
        let cpuLocal = Double(js.reduce(0) { $0 + $1.cpuUserNs + $1.cpuSystemNs })
        var metrics: [String: Double] = [
            Metric.throughput.key: delivered * 8 / wall,
            Metric.cpuLocal.key: cpuLocal / Double(elapsed) * 100,
            Metric.cpuPeer.key: Double(peer.cpuNs ?? 0) / Double(max(peer.elapsedNs ?? elapsed, 1)) * 100,
        ]
        // The sender's retransmits: ours when we send, the server's when it sends.
        metrics[Metric.retransmits.key] = direction == .send ? Double(js.reduce(0) { $0 + $1.writeOps }) : Double(peer.retransmits ?? 0)
        // writeOps carried retransmits per job above; keep the job counters honest (no ops).
        let clean = js.map { JobResult(index: $0.index, readOps: 0, writeOps: 0, readBytes: $0.readBytes, writeBytes: $0.writeBytes,
                                       cpuUserNs: $0.cpuUserNs, cpuSystemNs: $0.cpuSystemNs, submitCalls: 0, reapCalls: 0) }
        return RepetitionResult(index: index, elapsedNs: elapsed, jobs: clean, metrics: metrics)
    }

    /// One repetition of a request/response test on one connection: transactions/s and the
    /// latency of each round trip.
    public func requestResponse(spec: NetWorkloadSpec, seconds: Double, index: Int) throws(Failure) -> RepetitionResult {
        let respSize = spec.responseSizeBytes ?? spec.messageSizeBytes
        let dataPort = try start(ControlRequest(op: .rr, messageSize: spec.messageSizeBytes, responseSize: respSize, seconds: seconds))
        let s: TCPSocket
        do { s = try TCPSocket.connect(host: host, port: dataPort, device: device) } catch { throw .system(error) }
        s.setNoDelay()
        s.setReceiveTimeout(ms: 10_000)
        // A failed round trip ends the test (the connection is gone) and is not timed.
        return try cycles(spec: spec, responseSize: respSize, seconds: seconds, index: index, rate: Metric.transactions,
                          after: { s.close() }) { req, resp in
            s.sendAll(req, spec.messageSizeBytes) && s.receiveExactly(resp, respSize) ? .done : .stop
        }
    }

    /// One repetition of connect/request/response/close cycles: connections per second and the
    /// latency of each whole cycle.
    public func connectRequestClose(spec: NetWorkloadSpec, seconds: Double, index: Int) throws(Failure) -> RepetitionResult {
        let respSize = spec.responseSizeBytes ?? spec.messageSizeBytes
        let dataPort = try start(ControlRequest(op: .crr, messageSize: spec.messageSizeBytes, responseSize: respSize, seconds: seconds))
        let (host, device) = (self.host, self.device)
        // A failed cycle is timed and counted; a hundred failures end the test.
        return try cycles(spec: spec, responseSize: respSize, seconds: seconds, index: index, rate: Metric.connections,
                          after: {}) { req, resp in
            guard let s = try? TCPSocket.connect(host: host, port: dataPort, device: device) else { return .failed }
            defer { s.close() }
            s.setNoDelay()
            s.setReceiveTimeout(ms: 5000)
            return s.sendAll(req, spec.messageSizeBytes) && s.receiveExactly(resp, respSize) ? .done : .failed
        }
    }

    enum Cycle { case done, failed, stop }

    /// Runs `cycle` for `seconds`, timing each one into a histogram, then collects the peer's
    /// report (after `after`, which lets the peer see the end) and builds the repetition.
    private func cycles(spec: NetWorkloadSpec, responseSize respSize: Int, seconds: Double, index: Int, rate: Metric,
                        after: () -> Void,
                        cycle: (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Cycle) throws(Failure) -> RepetitionResult {
        let req = UnsafeMutableRawPointer.allocate(byteCount: spec.messageSizeBytes, alignment: 64)
        let resp = UnsafeMutableRawPointer.allocate(byteCount: respSize, alignment: 64)
        defer { req.deallocate(); resp.deallocate() }
        req.initializeMemory(as: UInt8.self, repeating: 0x5a, count: spec.messageSizeBytes)
        var histogram = LatencyHistogram()
        let cpu0 = Clock.threadCPU()
        let start = Clock.monotonicNs()
        let end = start + UInt64(seconds * 1e9)
        var count: UInt64 = 0, failures = 0
        var now = start
        loop: while now < end && failures < 100 {
            switch cycle(req, resp) {
            case .stop: break loop
            case .done: count += 1
            case .failed: failures += 1
            }
            let t = Clock.monotonicNs()
            histogram.record(t - now)
            now = t
        }
        let elapsed = now - start
        after()
        let cpu1 = Clock.threadCPU()
        let peer = try finish()
        let job = JobResult(index: 0, readOps: count, writeOps: 0, readBytes: count * UInt64(respSize),
                            writeBytes: count * UInt64(spec.messageSizeBytes),
                            cpuUserNs: cpu1.userNs - cpu0.userNs, cpuSystemNs: cpu1.systemNs - cpu0.systemNs, submitCalls: 0, reapCalls: 0)
        return Self.transactionRepetition(index: index, rate: rate, count: count, elapsed: elapsed, job: job, peer: peer, histogram: histogram)
    }

    /// A request/response or connect/request/response/close repetition: the rate, both ends'
    /// CPU and the latency percentiles of every cycle.
    static func transactionRepetition(index: Int, rate: Metric, count: UInt64, elapsed: UInt64, job: JobResult,
                                      peer: ControlReply, histogram: LatencyHistogram) -> RepetitionResult {
        var metrics: [String: Double] = [
            rate.key: Double(count) / (Double(max(elapsed, 1)) / 1e9),
            Metric.cpuLocal.key: Double(job.cpuUserNs + job.cpuSystemNs) / Double(max(elapsed, 1)) * 100,
            Metric.cpuPeer.key: Double(peer.cpuNs ?? 0) / Double(max(peer.elapsedNs ?? elapsed, 1)) * 100,
        ]
        if let v = histogram.value(atPercentile: 50) { metrics[Metric.latP50.key] = Double(v) }
        if let v = histogram.value(atPercentile: 99) { metrics[Metric.latP99.key] = Double(v) }
        if let v = histogram.mean { metrics[Metric.latMean.key] = v }
        return RepetitionResult(index: index, elapsedNs: elapsed, jobs: [job], metrics: metrics, latency: histogram)
    }

    /// Runs `spec` `repetitions` times for `seconds` each.
    public func run(_ spec: NetWorkloadSpec, seconds: Double, repetitions: Int) throws(Failure) -> WorkloadResult {
        var reps: [RepetitionResult] = []
        for i in 0..<repetitions {
            switch spec.test {
            case .stream: reps.append(try stream(spec: spec, seconds: seconds, index: i))
            case .rr: reps.append(try requestResponse(spec: spec, seconds: seconds, index: i))
            case .crr: reps.append(try connectRequestClose(spec: spec, seconds: seconds, index: i))
            }
        }
        return WorkloadResult(spec: .net(spec), repetitions: reps)
    }
}

/// The standard set of network workloads, as netperf and iperf3 users run them: streams one
/// way and the other with 1 and N connections, 1-byte and sized request/response, and
/// connect/request/response/close.
public enum NetProfile {
    /// The standard workloads, or only `tests` (and stream `directions`) when given.
    public static func workloads(peer: String, interface: String?, streams: Int, messageSize: Int, rrSize: Int,
                                 seconds: Double, repetitions: Int, tests: Set<NetTest>? = nil,
                                 directions: Set<NetDirection>? = nil) -> [NetWorkloadSpec] {
        var specs: [NetWorkloadSpec] = []
        for direction in [NetDirection.send, .receive] where (directions?.contains(direction) ?? true) && (tests?.contains(.stream) ?? true) {
            for n in Set([1, streams]).sorted() {
                specs.append(NetWorkloadSpec(test: .stream, direction: direction, streams: n, messageSizeBytes: messageSize,
                                             runtimeNs: UInt64(seconds * 1e9), repetitions: repetitions, peer: peer, interface: interface))
            }
        }
        for size in Set([1, rrSize]).sorted() where tests?.contains(.rr) ?? true {
            specs.append(NetWorkloadSpec(test: .rr, messageSizeBytes: size, responseSizeBytes: size, runtimeNs: UInt64(seconds * 1e9),
                                         repetitions: repetitions, peer: peer, interface: interface))
        }
        if tests?.contains(.crr) ?? true {
            specs.append(NetWorkloadSpec(test: .crr, messageSizeBytes: 1, responseSizeBytes: 1, runtimeNs: UInt64(seconds * 1e9),
                                         repetitions: repetitions, peer: peer, interface: interface))
        }
        return specs
    }
}
