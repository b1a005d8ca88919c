import FoundationEssentials
import Glibc
import Synchronization
import VBenchCore
import VBenchSystem

/// `vbench serve`: the peer of the network tests. One thread per control connection and per
/// data connection; every wait is bounded, so garbage or a client that vanishes only ends its
/// own connection.
public final class NetServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: UInt16
        /// A control connection silent this long is closed.
        public var idleTimeoutMs: Int = 60_000
        /// Longest test a client may ask for, in seconds.
        public var maxTestSeconds: Double = 600
        public var maxStreams: Int = 128
        public init(host: String, port: UInt16) {
            self.host = host
            self.port = port
        }
    }

    public let configuration: Configuration
    private let listener: TCPSocket
    private let stopping = Atomic<Bool>(false)
    private let served = Atomic<Int>(0)
    private let rejected = Atomic<Int>(0)

    /// Binds the control listener (port 0: any free port).
    public init(configuration: Configuration) throws(SystemError) {
        self.configuration = configuration
        listener = try TCPSocket.listen(host: configuration.host, port: configuration.port)
    }

    public var port: UInt16 { listener.localPort }
    /// Tests served to the end, and requests refused (garbage, limits).
    public var testsServed: Int { served.load(ordering: .relaxed) }
    public var requestsRejected: Int { rejected.load(ordering: .relaxed) }

    /// Accepts control connections until `stop()`; each gets a thread of its own.
    public func serve() {
        while !stopping.load(ordering: .relaxed) {
            guard let control = try? listener.accept(timeoutMs: 200) else { continue }
            try? ThreadGroup.detached { [self] in handle(control) }
        }
    }

    public func stop() { stopping.store(true, ordering: .relaxed) }

    private func handle(_ socket: TCPSocket) {
        socket.setReceiveTimeout(ms: configuration.idleTimeoutMs)
        socket.setNoDelay()
        let channel = LineChannel(socket)
        while !stopping.load(ordering: .relaxed) {
            guard let request = channel.receive(ControlRequest.self) else { return }
            switch request.op {
            case .hello:
                _ = channel.send(ControlReply(ok: true, version: LineChannel.version))
            case .bye:
                return
            case .stream, .rr, .crr:
                if let why = check(request) {
                    rejected.add(1, ordering: .relaxed)
                    _ = channel.send(ControlReply(ok: false, error: why))
                    continue
                }
                guard let reply = run(request, on: channel) else { return }
                served.add(1, ordering: .relaxed)
                guard channel.send(reply) else { return }
            }
        }
    }

    private func check(_ r: ControlRequest) -> String? {
        guard let seconds = r.seconds, seconds > 0, seconds <= configuration.maxTestSeconds else {
            return "seconds must be in (0, \(Int(configuration.maxTestSeconds))]"
        }
        guard let size = r.messageSize, (1...(16 << 20)).contains(size) else { return "messageSize must be 1…16777216" }
        if r.op == .stream {
            guard let n = r.streams, (1...configuration.maxStreams).contains(n) else { return "streams must be 1…\(configuration.maxStreams)" }
            guard r.direction != nil else { return "a stream test needs a direction" }
        } else {
            guard let rs = r.responseSize, (1...(16 << 20)).contains(rs) else { return "responseSize must be 1…16777216" }
        }
        return nil
    }

    /// Serves one test on a fresh data listener; the reply carries this side's figures.
    private func run(_ r: ControlRequest, on channel: LineChannel) -> ControlReply? {
        let data: TCPSocket
        do { data = try TCPSocket.listen(host: configuration.host, port: 0) } catch {
            return ControlReply(ok: false, error: "\(error)")
        }
        guard channel.send(ControlReply(ok: true, dataPort: data.localPort)) else { return nil }
        let seconds = r.seconds ?? 1, size = r.messageSize ?? 1
        // Every wait ends: the test's own time plus a margin.
        let deadline = Clock.monotonicNs() + UInt64((seconds + 30) * 1e9)
        final class Totals: @unchecked Sendable {
            let lock = Mutex<(bytes: UInt64, transactions: UInt64, cpuNs: UInt64, retransmits: UInt64)>((0, 0, 0, 0))
        }
        let totals = Totals()
        let start = Clock.monotonicNs()
        switch r.op {
        case .stream:
            let streams = r.streams ?? 1
            var sockets: [TCPSocket] = []
            while sockets.count < streams, Clock.monotonicNs() < deadline {
                if let s = try? data.accept(timeoutMs: 200) { sockets.append(s) }
            }
            let direction = r.direction ?? .send
            let connected = sockets
            try? ThreadGroup.run(count: connected.count) { i in
                let s = connected[i]
                let cpu0 = Clock.threadCPU()
                var moved: UInt64 = 0
                // Receivers read up to 1 MiB per call whatever the writer's message size.
                let capacity = direction == .send ? max(size, 1 << 20) : size
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 4096)
                defer { buffer.deallocate() }
                if direction == .send {
                    // The client sends: read until it closes.
                    s.setReceiveTimeout(ms: Int((seconds + 30) * 1000))
                    // Woken per message, not per segment: on loopback 23.2 -> 24.9 Gbit/s
                    // median over 6 alternating rounds (iperf3 23.6), AMD EPYC, 2026-12-07.
                    s.setReceiveLowWater(bytes: min(size, 1 << 20))
                    while true {
                        let n = s.receive(buffer, capacity)
                        if n == 0 { break }
                        moved += UInt64(n)
                    }
                } else {
                    memset(buffer, 0x5a, size)
                    let end = Clock.monotonicNs() + UInt64(seconds * 1e9)
                    while Clock.monotonicNs() < end {
                        guard s.sendAll(buffer, size) else { break }
                        moved += UInt64(size)
                    }
                    s.shutdownWrite()
                }
                let retrans = UInt64(s.tcpInfo()?.retransmits ?? 0)
                let cpu1 = Clock.threadCPU()
                let cpu = (cpu1.userNs - cpu0.userNs) + (cpu1.systemNs - cpu0.systemNs)
                totals.lock.withLock { $0.bytes += moved; $0.cpuNs += cpu; $0.retransmits += retrans }
            }
        case .rr:
            guard let s = (try? data.accept(timeoutMs: 10_000)) ?? nil else { return ControlReply(ok: false, error: "no data connection came") }
            s.setNoDelay()
            s.setReceiveTimeout(ms: Int((seconds + 30) * 1000))
            let respSize = r.responseSize ?? 1
            let req = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
            let resp = UnsafeMutableRawPointer.allocate(byteCount: respSize, alignment: 64)
            defer { req.deallocate(); resp.deallocate() }
            let cpu0 = Clock.threadCPU()
            var count: UInt64 = 0
            while s.receiveExactly(req, size) {
                guard s.sendAll(resp, respSize) else { break }
                count += 1
            }
            let cpu1 = Clock.threadCPU()
            totals.lock.withLock {
                $0.transactions = count
                $0.bytes = count * UInt64(size + respSize)
                $0.cpuNs = (cpu1.userNs - cpu0.userNs) + (cpu1.systemNs - cpu0.systemNs)
            }
        case .crr:
            let respSize = r.responseSize ?? 1
            let req = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
            let resp = UnsafeMutableRawPointer.allocate(byteCount: respSize, alignment: 64)
            defer { req.deallocate(); resp.deallocate() }
            let cpu0 = Clock.threadCPU()
            var count: UInt64 = 0
            // Connections until the client has been quiet for a second after the test's time.
            let end = Clock.monotonicNs() + UInt64(seconds * 1e9)
            while Clock.monotonicNs() < deadline {
                guard let s = (try? data.accept(timeoutMs: Clock.monotonicNs() < end ? 1000 : 300)) ?? nil else {
                    if Clock.monotonicNs() >= end { break }
                    continue
                }
                s.setReceiveTimeout(ms: 5000)
                if s.receiveExactly(req, size), s.sendAll(resp, respSize) { count += 1 }
                s.close()
            }
            let cpu1 = Clock.threadCPU()
            totals.lock.withLock {
                $0.transactions = count
                $0.cpuNs = (cpu1.userNs - cpu0.userNs) + (cpu1.systemNs - cpu0.systemNs)
            }
        case .hello, .bye:
            break
        }
        let t = totals.lock.withLock { $0 }
        return ControlReply(ok: true, bytes: t.bytes, transactions: t.transactions, cpuNs: t.cpuNs,
                            elapsedNs: Clock.monotonicNs() - start, retransmits: t.retransmits)
    }
}
