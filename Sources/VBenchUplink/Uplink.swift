import FoundationEssentials
import NIOCore
import NIOPosix
import Synchronization
import VBenchCore
import VBenchSystem
import VBenchWire

/// Why sending failed; the records concerned stay in the spool.
public struct UplinkError: Error, CustomStringConvertible, Sendable {
    public var endpoint: String
    public var reason: String
    public var description: String { "could not deliver to \(endpoint): \(reason)" }
}

/// The guest side: connects, says hello, sends records and waits for their acks.
public struct Uplink: Sendable {
    public let endpoint: Endpoint
    /// Bound on connecting and on waiting for all acks.
    public let timeout: TimeAmount
    /// TLS and token (tcp only).
    public let security: SenderSecurity

    public init(endpoint: Endpoint, timeout: TimeAmount = .seconds(15), security: SenderSecurity = .none) {
        self.endpoint = endpoint
        self.timeout = timeout
        self.security = security
    }

    /// What one connection achieved: the ack of each record the collector acknowledged (a
    /// record without an ack was not stored, as far as the sender knows) and why records were
    /// not sent at all (larger than the collector takes).
    public struct Outcome: Sendable {
        public var acks: [UUID: Ack.Status]
        public var refusals: [String]
        /// Why the connection ended before every ack came (a refusal, a timeout), if it did.
        public var failure: String? = nil
    }

    /// Sends `records` over one connection; returns the ack of each record the collector
    /// acknowledged (a record without an ack was not stored, as far as the sender knows).
    /// - Parameter shared: an event loop group to use (many senders in one process share one);
    ///   without it the call makes and shuts down its own.
    public func send(_ records: [RunRecord], on shared: (any EventLoopGroup)? = nil) throws -> [UUID: Ack.Status] {
        try deliver(records, on: shared).acks
    }

    /// `send`, saying also which records were not sent and why: a record larger than the frame
    /// limit in the collector's hello is not written (the collector would close the connection
    /// on it, and the sender would see only a broken pipe).
    /// `events` (a lab guest's) go after the records on the same connection; each is
    /// acknowledged by its id like a record.
    public func deliver(_ records: [RunRecord], events: [LabEvent] = [], on shared: (any EventLoopGroup)? = nil) throws -> Outcome {
        let own = shared == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        defer { try? own?.syncShutdownGracefully() }
        guard let group = shared ?? own, !records.isEmpty || !events.isEmpty else { return Outcome(acks: [:], refusals: []) }
        let expected = Set(records.map(\.runId) + events.map(\.id))
        let done = group.next().makePromise(of: [UUID: Ack.Status].self)
        let greeted = group.next().makePromise(of: Hello.self)
        let collector = AckCollector(expected: expected, promise: done, hello: greeted)
        let security = self.security
        let tlsHost: String?
        switch endpoint {
        case .tcp(let host, _): tlsHost = host
        default:
            tlsHost = nil
            if security.usesTLS {
                let failure = UplinkError(endpoint: endpoint.description, reason: "TLS is spoken over TCP only: send to tls://HOST:PORT")
                collector.finish(error: failure)
                throw failure
            }
        }
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers([
                    MessageToByteHandler(WireFrameEncoder()),
                    ByteToMessageHandler(WireFrameDecoder()),
                    UplinkHandler(collector: collector),
                ])
                if let tlsHost { try security.secure(channel, host: tlsHost) }
            }
        }
        let channel: any Channel
        var refusals: [String] = []
        do {
            switch endpoint {
            case let .unix(path):
                channel = try ClientBootstrap(group: group).connectTimeout(timeout).channelInitializer(initializer)
                    .connect(unixDomainSocketPath: path).wait()
            case let .tcp(host, port):
                channel = try ClientBootstrap(group: group).connectTimeout(timeout).channelInitializer(initializer)
                    .connect(host: host, port: port).wait()
            case let .vsock(cid, port):
                // Only an explicit --send vsock://CID:PORT reaches here; no default picks vsock.
                channel = try ClientBootstrap(group: group).connectTimeout(timeout).channelInitializer(initializer)
                    .connect(to: VsockAddress(cid: .init(rawValue: cid ?? 2), port: .init(integerLiteral: port))).wait()
            case .vhostUserVsock:
                throw UplinkError(endpoint: endpoint.description, reason: EndpointError.notSendable(endpoint.description).description)
            case let .serial(path):
                let fd = try openCharacterDevice(path)
                // The host's reply comes back on the same descriptor as the write (measured on QEMU 7.2).
                channel = try NIOPipeBootstrap(group: group).channelInitializer(initializer)
                    .takingOwnershipOfDescriptor(inputOutput: fd).wait()
            }
        } catch {
            let failure = error as? UplinkError ?? UplinkError(endpoint: endpoint.description, reason: "\(error)")
            collector.finish(error: failure)  // no promise is left behind unfulfilled
            throw failure
        }
        defer { try? channel.close().wait() }
        do {
            try channel.writeAndFlush(try WireMessage.hello(Hello(role: "uplink", token: security.token)).frame()).wait()
            // The collector's hello says which record versions it reads: a collector older than
            // record schema 2 gets version 1.
            let limit = self.timeout
            let helloTimer = channel.eventLoop.scheduleTask(in: limit) {
                greeted.fail(UplinkError(endpoint: "", reason: "no hello from the collector within \(limit.nanoseconds / 1_000_000_000) s"))
            }
            let hello: Hello
            do { hello = try greeted.futureResult.wait() } catch {
                helloTimer.cancel()
                collector.finish(error: error)
                throw error
            }
            helloTimer.cancel()
            let version = hello.agreedRecordSchemaVersion()
            for r in records {
                let frame = try WireMessage.record(r).frame(allocator: channel.allocator, recordSchemaVersion: version)
                if let max = hello.maxPayloadBytes, frame.payload.readableBytes > max {
                    refusals.append("record \(r.runId.uuidString.lowercased()) is \(frame.payload.readableBytes) bytes of JSON, more than the \(max) "
                                    + "the collector takes (vbench collect --max-frame-bytes); it was not sent")
                    collector.drop(r.runId)
                    continue
                }
                try channel.writeAndFlush(frame).wait()
            }
            for e in events {
                try channel.writeAndFlush(try WireMessage.event(e).frame(allocator: channel.allocator)).wait()
            }
        } catch let failure as UplinkError {
            throw UplinkError(endpoint: endpoint.description, reason: failure.reason)
        } catch {
            let failure = UplinkError(endpoint: endpoint.description, reason: "write failed: \(error)")
            collector.finish(error: failure)
            throw failure
        }
        let timeout = self.timeout
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            collector.finish(error: UplinkError(endpoint: "", reason: "no ack within \(timeout.nanoseconds / 1_000_000_000) s"))
        }
        defer { timer.cancel() }
        do {
            return Outcome(acks: try done.futureResult.wait(), refusals: refusals)
        } catch {
            // Whatever was acknowledged before the failure is safe; the caller spools the rest.
            return Outcome(acks: collector.acked, refusals: refusals, failure: (error as? UplinkError)?.reason ?? "\(error)")
        }
    }
}

/// Gathers acks until every expected run id has one, or the connection fails.
final class AckCollector: Sendable {
    private let state: Mutex<(pending: Set<UUID>, acked: [UUID: Ack.Status], finished: Bool)>
    private let promise: EventLoopPromise<[UUID: Ack.Status]>
    /// The collector's hello (fails with the connection).
    let hello: EventLoopPromise<Hello>

    init(expected: Set<UUID>, promise: EventLoopPromise<[UUID: Ack.Status]>, hello: EventLoopPromise<Hello>) {
        state = Mutex((expected, [:], false))
        self.promise = promise
        self.hello = hello
        if expected.isEmpty { finish(error: nil) }
    }

    var acked: [UUID: Ack.Status] { state.withLock { $0.acked } }

    func ack(_ a: Ack) {
        let complete = state.withLock { s -> [UUID: Ack.Status]? in
            guard !s.finished else { return nil }
            s.acked[a.runId] = a.status
            s.pending.remove(a.runId)
            if s.pending.isEmpty { s.finished = true; return s.acked }
            return nil
        }
        if let complete { promise.succeed(complete) }
    }

    /// A record that will not be sent: no ack is awaited for it.
    func drop(_ runId: UUID) {
        let complete = state.withLock { s -> [UUID: Ack.Status]? in
            guard !s.finished, s.pending.remove(runId) != nil, s.pending.isEmpty else { return nil }
            s.finished = true
            return s.acked
        }
        if let complete { promise.succeed(complete) }
    }

    func finish(error: (any Error)?) {
        let result = state.withLock { s -> [UUID: Ack.Status]? in
            guard !s.finished else { return nil }
            s.finished = true
            return s.acked
        }
        guard let result else { return }
        hello.fail(error ?? UplinkError(endpoint: "", reason: "the connection ended before the collector's hello"))
        if let error { promise.fail(error) } else { promise.succeed(result) }
    }
}

final class UplinkHandler: ChannelInboundHandler {
    typealias InboundIn = WireFrame
    let collector: AckCollector
    init(collector: AckCollector) { self.collector = collector }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let message = try? WireMessage(frame: unwrapInboundIn(data)) else { return }
        switch message {
        case .hello(let h): collector.hello.succeed(h)
        case .ack(let a): collector.ack(a)
        case .error(let e) where e.code != "invalid-record" && e.code != "store-failed":
            collector.finish(error: UplinkError(endpoint: "", reason: "\(e.code): \(e.message)"))
        default: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        collector.finish(error: UplinkError(endpoint: "", reason: "the collector closed the connection"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        collector.finish(error: error)
        context.close(promise: nil)
    }
}
