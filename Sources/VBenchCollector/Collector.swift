import FoundationEssentials
import NIOCore
import NIOPosix
import Synchronization
import VBenchCore
import VBenchStoreAPI
import VBenchSystem
import VBenchVhostUser
import VBenchWire

/// Counters of a running collector (for the live line and, later, OpenMetrics).
public final class CollectorStats: Sendable {
    private struct Counts {
        var connected = 0, connections = 0, stored = 0, duplicates = 0, rejected = 0
        var storedBytes = 0, storeErrors = 0
    }
    private let state = Mutex<Counts>(Counts())
    public init() {}
    public var connected: Int { state.withLock { $0.connected } }
    public var connections: Int { state.withLock { $0.connections } }
    public var stored: Int { state.withLock { $0.stored } }
    public var duplicates: Int { state.withLock { $0.duplicates } }
    public var rejected: Int { state.withLock { $0.rejected } }
    /// Store operations that failed (the records stay with their senders).
    public var storeErrors: Int { state.withLock { $0.storeErrors } }
    /// Record payload bytes (frame bodies) of the records stored.
    public var storedBytes: Int { state.withLock { $0.storedBytes } }
    func opened() -> Int { state.withLock { $0.connected += 1; $0.connections += 1; return $0.connected } }
    func closed() { state.withLock { $0.connected -= 1 } }
    func count(_ outcome: StoreOutcome, bytes: Int) {
        state.withLock {
            if outcome == .stored { $0.stored += 1; $0.storedBytes += bytes } else { $0.duplicates += 1 }
        }
    }
    func reject() { state.withLock { $0.rejected += 1 } }
    func storeFailed() { state.withLock { $0.storeErrors += 1 } }
}

/// What happened, for `--json-log` and the live line.
public struct CollectorEvent: Sendable {
    public enum Kind: String, Sendable {
        case listening, connected, stored, duplicate, rejected, disconnected, stopped
        /// Worth logging but about no record: a vhost-user frontend came or went, a guest broke a rule.
        case notice
    }
    public var kind: Kind
    public var peer: String
    public var runId: UUID?
    public var detail: String?
}

extension TimeAmount {
    /// NIO's form of a Swift duration (nanoseconds, saturating).
    init(_ d: Duration) {
        let (seconds, attoseconds) = d.components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        self = .nanoseconds(overflow ? .max : ns &+ attoseconds / 1_000_000_000)
    }
}

/// The host-side collector: listens on unix and tcp endpoints (vsock only on a hypervisor host
/// with /dev/vhost-vsock), validates each record, stores it in one transaction and only then
/// acknowledges it. A bad peer only ever loses its own connection.
public final class Collector: Sendable {
    public struct Configuration: Sendable {
        public var endpoints: [Endpoint]
        public var maxPayloadBytes: Int = WireFrame.defaultMaxPayloadBytes
        /// A connection that sends nothing for this long is closed.
        public var idleTimeout: Duration = .seconds(60)
        /// A frame must arrive whole within this long of its first byte (slow-sender timeout).
        public var frameTimeout: Duration = .seconds(30)
        public var maxConnections: Int = 256
        public var collectorHost: String
        public var collectorKernel: String
        /// Whether this machine may open AF_VSOCK sockets (true only with /dev/vhost-vsock).
        public var vsockAllowed: Bool
        /// vsock guests allowed to send (by CID, which the hypervisor assigns); nil allows all.
        public var allowedCIDs: Set<UInt32>?
        /// Where to serve `GET /metrics` (Prometheus text / OpenMetrics); nil: not served.
        public var metrics: MetricsAddress?
        /// What tcp listeners demand of senders (TLS client certificates, tokens); nil: nothing,
        /// which only a loopback address may do.
        public var tcpSecurity: ListenerSecurity?
        /// Where lab guests' events go (`vbench lab`): with it, event frames are handed over with
        /// the peer's name and acknowledged; without it (a plain collector) they are refused.
        public var onLabEvent: (@Sendable (LabEvent, String) -> Void)?

        public init(endpoints: [Endpoint], collectorHost: String, collectorKernel: String, vsockAllowed: Bool) {
            self.endpoints = endpoints
            self.collectorHost = collectorHost
            self.collectorKernel = collectorKernel
            self.vsockAllowed = vsockAllowed
        }
    }

    public let configuration: Configuration
    public let stats = CollectorStats()
    /// The latest result per guest, device and workload, for the metrics endpoint.
    public let latest: LatestResults
    public let startTime = Date()
    private let store: any RunStore
    private let group: MultiThreadedEventLoopGroup
    private let pool: NIOThreadPool
    private let committer: GroupCommitter
    private let servers = Mutex<[any Channel]>([])
    private let vsockListeners = Mutex<[Int32]>([])
    private let vhostUserBackends = Mutex<[VhostUserVsockBackend]>([])
    private let onEvent: @Sendable (CollectorEvent) -> Void

    public init(configuration: Configuration, store: any RunStore, onEvent: @escaping @Sendable (CollectorEvent) -> Void = { _ in }) {
        self.configuration = configuration
        self.store = store
        self.onEvent = onEvent
        latest = LatestResults(host: configuration.collectorHost)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        pool = NIOThreadPool(numberOfThreads: 1)  // one writer: SQLite has one anyway
        pool.start()
        committer = GroupCommitter(store: store, pool: pool)
    }

    /// Fills `latest` from the store: the newest runs this collector received (by its host
    /// name), so a restarted collector's metrics are not empty until guests send again.
    public func seedLatest(limit: Int = 1000) throws {
        let rows = try store.runs(RunQuery(collectorHost: configuration.collectorHost, limit: limit))
        for row in rows.reversed() {
            if let record = try store.record(row.runId) { latest.update(record, peer: row.peer) }
        }
    }

    /// The metrics exposition now.
    public func metricsText(_ format: MetricsExposition.Format) -> String {
        MetricsExposition.render(latest: latest, stats: stats, startTime: startTime, format: format)
    }

    /// Binds every endpoint; returns the bound addresses as text (a tcp port 0 shows the real port).
    public func start() throws -> [String] {
        var bound: [String] = []
        if let address = configuration.metrics {
            let latest = self.latest, stats = self.stats, startTime = self.startTime
            let channel = try MetricsServer.bind(address, group: group) { format in
                MetricsExposition.render(latest: latest, stats: stats, startTime: startTime, format: format)
            }
            servers.withLock { $0.append(channel) }
            let port = channel.localAddress?.port ?? address.port
            bound.append("metrics http://\(MetricsAddress(host: address.host, port: port))/metrics")
        }
        for endpoint in configuration.endpoints {
            let bootstrap = serverBootstrap(label: endpoint)
            let channel: any Channel
            switch endpoint {
            case .unix(let path):
                channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
                bound.append("unix:\(path)")
            case let .tcp(host, port):
                if let refusal = ListenerSecurity.refusal(listening: endpoint, authenticated: configuration.tcpSecurity?.authenticates ?? false) {
                    throw refusal
                }
                channel = try bootstrap.bind(host: host, port: port).wait()
                bound.append("tcp://\(host):\(channel.localAddress?.port ?? port)")
            case let .vsock(_, port):
                guard configuration.vsockAllowed else { throw EndpointError.vsockUnavailable(endpoint.description) }
                try startVsock(port: port)
                bound.append(endpoint.description)
                onEvent(CollectorEvent(kind: .listening, peer: endpoint.description, runId: nil, detail: nil))
                continue
            case let .vhostUserVsock(path, cid, port):
                try startVhostUserVsock(path: path, cid: cid, port: port)
                bound.append(endpoint.description)
                onEvent(CollectorEvent(kind: .listening, peer: endpoint.description, runId: nil, detail: nil))
                continue
            case .serial:
                throw EndpointError.notListenable(endpoint.description)
            }
            servers.withLock { $0.append(channel) }
            onEvent(CollectorEvent(kind: .listening, peer: bound.last ?? "", runId: nil, detail: nil))
        }
        return bound
    }

    /// Accepts vsock connections in a thread of its own (so the peer's CID is known, which NIO
    /// does not report for vsock) and hands each descriptor to NIO with the usual pipeline.
    private func startVsock(port: UInt32) throws {
        let listener = try VsockListener(port: port)
        let fd = listener.descriptor
        vsockListeners.withLock { $0.append(fd) }
        let group = self.group
        let pipeline = pipelineInitializer()
        let allowed = configuration.allowedCIDs
        let onEvent = self.onEvent
        try ThreadGroup.detached { [listener = consume listener] in
            Self.acceptLoop(accept: { () throws(SystemError) in let c = try listener.accept(); return (c.descriptor, c.peerCID) },
                            serve: { conn, cid in
                                let peer = "vsock:cid=\(cid)"
                                _ = NIOPipeBootstrap(group: group)
                                    .channelInitializer { pipeline($0, peer, allowed.map { $0.contains(cid) } ?? true) }
                                    .takingOwnershipOfDescriptor(inputOutput: conn)
                            },
                            notice: { onEvent(CollectorEvent(kind: .notice, peer: "vsock://any:\(port)", runId: nil, detail: $0)) })
        }
    }

    /// Accepts until the listener is shut down. A failed accept that the next one may survive
    /// (out of descriptors or memory, a connection that died in the queue) is reported and
    /// retried after a pause that grows to 1 s; it once ended vsock ingest for good. Only a
    /// listener that is gone (EBADF, EINVAL after shutdown) or not a socket ends the loop.
    static func acceptLoop(accept: () throws(SystemError) -> (descriptor: Int32, cid: UInt32),
                           serve: (Int32, UInt32) -> Void, notice: (String) -> Void,
                           pause: (UInt64) -> Void = { Clock.sleep(nanoseconds: $0) }) {
        var backoffNs: UInt64 = 10_000_000
        while true {
            do {
                let (conn, cid) = try accept()
                backoffNs = 10_000_000
                serve(conn, cid)
            } catch {
                switch error.errno {
                case .badFileDescriptor, .invalidArgument, .notSocket, .notSupported: return  // shut down
                default:
                    notice("vsock accept failed: \(error); still listening, next try in \(backoffNs / 1_000_000) ms")
                    pause(backoffNs)
                    backoffNs = min(backoffNs * 2, 1_000_000_000)
                }
            }
        }
    }

    /// Serves a vhost-user-vsock device on `path`: each guest stream becomes a connection with
    /// the usual pipeline, its peer the CID this host gave the device (never the payload's).
    private func startVhostUserVsock(path: String, cid: UInt32, port: UInt32) throws {
        let group = self.group
        let pipeline = pipelineInitializer()
        let allowed = configuration.allowedCIDs.map { $0.contains(cid) } ?? true
        let peer = "vsock:cid=\(cid)"
        let onEvent = self.onEvent
        var config = VhostUserVsockBackend.Configuration(path: path, guestCID: UInt64(cid), port: port)
        config.maxConnections = configuration.maxConnections
        let backend = try VhostUserVsockBackend(configuration: config, onConnection: { fd, _ in
            _ = NIOPipeBootstrap(group: group)
                .channelInitializer { pipeline($0, peer, allowed) }
                .takingOwnershipOfDescriptor(inputOutput: fd)
        }, onNotice: { text in
            onEvent(CollectorEvent(kind: .notice, peer: peer, runId: nil, detail: text))
        })
        vhostUserBackends.withLock { $0.append(backend) }
    }

    /// What each vhost-user-vsock device carried so far (endpoint text → counters).
    public var vhostUserStatistics: [(endpoint: String, counters: VsockMuxer.Counters, frontends: Int)] {
        vhostUserBackends.withLock { list in
            list.map { b in
                let c = b.configuration
                return ("vhost-user-vsock:\(c.path),cid=\(c.guestCID),port=\(c.port)", b.statistics, b.frontendsConnected)
            }
        }
    }

    /// Stops accepting, lets in-flight stores finish and their acks go out, then shuts down.
    public func stop() {
        for fd in vsockListeners.withLock({ l -> [Int32] in defer { l.removeAll() }; return l }) { VsockListener.shutdown(descriptor: fd) }
        for b in vhostUserBackends.withLock({ l -> [VhostUserVsockBackend] in defer { l.removeAll() }; return l }) { b.stop() }
        let channels = servers.withLock { s -> [any Channel] in defer { s.removeAll() }; return s }
        for c in channels { try? c.close().wait() }
        // Store work already submitted completes before the pool stops.
        try? pool.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
        onEvent(CollectorEvent(kind: .stopped, peer: "", runId: nil, detail: nil))
    }

    private func serverBootstrap(label: Endpoint) -> ServerBootstrap {
        let pipeline = pipelineInitializer()
        let security = configuration.tcpSecurity
        return ServerBootstrap(group: group)
            // Guests reconnect together after a collector restart, and a Unix socket's connect
            // fails with EAGAIN (no retry, unlike TCP) once the queue is full: queue up to the
            // kernel's cap (somaxconn, 4096 by default); maxConnections still bounds the served.
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let peer: String = switch label {
                case .unix(let path): "unix:\(path)"
                case .tcp: channel.remoteAddress.map { "tcp:\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "tcp:unknown"
                default: label.description
                }
                guard case .tcp = label, let security else { return pipeline(channel, peer, true) }
                return pipeline(channel, peer, true).flatMapThrowing { try security.secure(channel) }
            }
    }

    /// Sets up a connection's handlers; `allowed` false makes it refuse the peer and close.
    private func pipelineInitializer() -> @Sendable (any Channel, String, Bool) -> EventLoopFuture<Void> {
        let config = configuration
        let committer = self.committer
        let stats = self.stats
        let latest = self.latest
        let onEvent = self.onEvent
        return { channel, peer, allowed in
            channel.eventLoop.makeCompletedFuture {
                let handler = CollectorHandler(peer: peer, committer: committer, stats: stats, latest: latest, config: config,
                                               allowed: allowed, onEvent: onEvent)
                try channel.pipeline.syncOperations.addHandlers([
                    IdleStateHandler(readTimeout: TimeAmount(config.idleTimeout)),
                    SlowSenderGuard(frameTimeout: TimeAmount(config.frameTimeout)),
                    MessageToByteHandler(WireFrameEncoder()),
                    ByteToMessageHandler(WireFrameDecoder(maxPayloadBytes: config.maxPayloadBytes)),
                    handler,
                ])
            }
        }
    }
}

/// One connection: hello, records, acks. Runs on its channel's event loop; stores run on the pool.
final class CollectorHandler: ChannelInboundHandler {
    typealias InboundIn = WireFrame
    typealias OutboundOut = WireFrame

    /// The transport's name for the sender, prefixed `IDENTITY@` once TLS or a token proved one.
    var peer: String
    let committer: GroupCommitter
    let stats: CollectorStats
    let latest: LatestResults
    let config: Collector.Configuration
    let onEvent: @Sendable (CollectorEvent) -> Void

    let allowed: Bool

    init(peer: String, committer: GroupCommitter, stats: CollectorStats, latest: LatestResults, config: Collector.Configuration,
         allowed: Bool, onEvent: @escaping @Sendable (CollectorEvent) -> Void) {
        self.peer = peer
        self.latest = latest
        self.allowed = allowed
        self.committer = committer
        self.stats = stats
        self.config = config
        self.onEvent = onEvent
    }

    func channelActive(context: ChannelHandlerContext) {
        let now = stats.opened()
        if !allowed {
            send(.error(WireFailure(code: "not-allowed", message: "\(peer) may not send to this collector (--allow-cid)")),
                 context: context, thenClose: true)
        } else if now > config.maxConnections {
            send(.error(WireFailure(code: "busy", message: "the collector has \(config.maxConnections) connections; retry later")),
                 context: context, thenClose: true)
        }
        onEvent(CollectorEvent(kind: .connected, peer: peer, runId: nil, detail: nil))
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stats.closed()
        onEvent(CollectorEvent(kind: .disconnected, peer: peer, runId: nil, detail: nil))
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let message: WireMessage
        do { message = try WireMessage(frame: frame) } catch {
            reject(error, context: context, close: error.code == "protocol")
            return
        }
        switch message {
        case .hello(let hello):
            guard hello.protocolVersion == Int(WireFrame.version) else {
                reject(WireFailure(code: "unsupported-version", message: "protocol \(hello.protocolVersion) is not supported"),
                       context: context, close: true)
                return
            }
            send(.hello(Hello(role: "collector", maxPayloadBytes: config.maxPayloadBytes)), context: context)
        case .record(let record):
            let receipt = Receipt(peer: peer, receivedAt: Date(), collectorHost: config.collectorHost,
                                  collectorKernel: config.collectorKernel, receivedJSON: String(buffer: frame.payload))
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let promise = context.eventLoop.makePromise(of: StoreOutcome.self)
            let bytes = frame.payload.readableBytes
            committer.submit(record, receipt: receipt, promise: promise)
            promise.futureResult.whenComplete { result in
                    let (handler, context) = loopBound.value
                    switch result {
                    case .success(let outcome):
                        handler.stats.count(outcome, bytes: bytes)
                        if outcome == .stored { handler.latest.update(record, peer: handler.peer) }
                        handler.onEvent(CollectorEvent(kind: outcome == .stored ? .stored : .duplicate, peer: handler.peer,
                                                       runId: record.runId, detail: nil))
                        handler.send(.ack(Ack(runId: record.runId, status: outcome == .stored ? .stored : .duplicate)), context: context)
                    case .failure(let error):
                        handler.stats.storeFailed()
                        // Unavailable: nothing can be stored now; the sender keeps its records
                        // (spooled) and tries again later. Anything else concerns this record.
                        let code = error is StoreUnavailable ? "store-unavailable" : "store-failed"
                        handler.reject(WireFailure(code: code, message: "\(error)"), context: context, close: code == "store-unavailable")
                    }
                }
        case .event(let event):
            guard let deliver = config.onLabEvent else {
                reject(WireFailure(code: "not-allowed", message: "this collector takes records, not lab events (only vbench lab's collector does)"),
                       context: context, close: false)
                return
            }
            deliver(event, peer)
            send(.ack(Ack(runId: event.id, status: .stored)), context: context)
        case .ack, .error:
            reject(WireFailure(code: "protocol", message: "a collector accepts hello, record and event messages only"), context: context, close: true)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let identified = event as? PeerIdentified {
            peer = "\(identified.identity)@\(peer)"
            return
        }
        if event is SlowSenderEvent {
            reject(WireFailure(code: "slow", message: "a frame took longer than \(TimeAmount(config.frameTimeout).nanoseconds / 1_000_000) ms to arrive"),
                   context: context, close: true)
            return
        }
        if event is IdleStateHandler.IdleStateEvent {
            reject(WireFailure(code: "idle", message: "nothing received for \(TimeAmount(config.idleTimeout).nanoseconds / 1_000_000_000) s"),
                   context: context, close: true)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A refusal from a handler in front (TLS, token): say why, then close.
        if let failure = error as? WireFailure {
            reject(failure, context: context, close: true)
            return
        }
        // Framing errors: say why, then close this connection only.
        let code: String
        if let wire = error as? WireError, case .frameTooLarge = wire { code = "too-large" }
        else if let wire = error as? WireError, case .unsupportedVersion = wire { code = "unsupported-version" }
        else { code = "protocol" }
        reject(WireFailure(code: code, message: "\(error)"), context: context, close: true)
    }

    private func reject(_ failure: WireFailure, context: ChannelHandlerContext, close: Bool) {
        stats.reject()
        onEvent(CollectorEvent(kind: .rejected, peer: peer, runId: nil, detail: "\(failure.code): \(failure.message)"))
        send(.error(failure), context: context, thenClose: close)
    }

    private func send(_ message: WireMessage, context: ChannelHandlerContext, thenClose: Bool = false) {
        guard context.channel.isActive, let frame = try? message.frame(allocator: context.channel.allocator) else { return }
        let written = context.writeAndFlush(wrapOutboundOut(frame))
        if thenClose {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.whenComplete { _ in loopBound.value.close(promise: nil) }
        }
    }
}
