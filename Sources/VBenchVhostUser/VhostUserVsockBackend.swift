import Glibc
import Synchronization
import VBenchSystem

/// A vhost-user-vsock device backend on a Unix socket: QEMU's
/// `-chardev socket,id=c,path=PATH -device vhost-user-vsock-pci,chardev=c` connects here, and
/// the guest's AF_VSOCK streams to CID 2 on `port` come out as local socket descriptors. This is
/// not an AF_VSOCK socket on this machine: the device lives in this process, on guest memory
/// QEMU shares with it. One thread serves one device; one frontend at a time (a second is
/// refused while the first is connected, and a new one is accepted after it went away).
public final class VhostUserVsockBackend: Sendable {
    public struct Configuration: Sendable {
        public var path: String
        public var guestCID: UInt64
        public var port: UInt32
        public var maxConnections = 64
        public init(path: String, guestCID: UInt64, port: UInt32) {
            self.path = path
            self.guestCID = guestCID
            self.port = port
        }
    }

    public let configuration: Configuration
    private let wake: Int32
    private let done: Int32
    private let shared = SharedState()

    /// Listens on the socket path (replacing a stale socket there, never another kind of file)
    /// and starts the device's thread. `onConnection` gets each guest stream's local descriptor
    /// and the guest's port; `onNotice` lines worth logging (a frontend came or went, a guest
    /// broke a rule).
    public init(configuration: Configuration, onConnection: @escaping @Sendable (Int32, UInt32) -> Void,
                onNotice: @escaping @Sendable (String) -> Void) throws(SystemError) {
        self.configuration = configuration
        var st = stat()
        if lstat(configuration.path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else {
                throw SystemError("listen", "\(configuration.path) exists and is not a socket; name another path", errno: .fileExists)
            }
            unlink(configuration.path)
        }
        let listener = try TCPSocket.listenUnix(path: configuration.path)
        wake = try Descriptors.eventFD()
        done = try Descriptors.eventFD()
        let (wake, done, shared) = (self.wake, self.done, self.shared)
        try ThreadGroup.detached {
            let loop = Loop(configuration: configuration, listener: listener, wake: wake, shared: shared,
                            onConnection: onConnection, onNotice: onNotice)
            loop.run()
            Descriptors.signal(done)
        }
    }

    /// What crossed the device so far.
    public var statistics: VsockMuxer.Counters { shared.counters.withLock { $0 } }
    /// How many frontends (QEMU processes) connected so far.
    public var frontendsConnected: Int { shared.frontends.withLock { $0 } }

    /// Stops the thread (within about a second), drops every stream and removes the socket.
    public func stop() {
        Descriptors.signal(wake)
        var p = [pollfd(fd: done, events: Int16(POLLIN), revents: 0)]
        _ = try? Descriptors.poll(&p, timeoutMs: 5000)
        unlink(configuration.path)
    }

    deinit {
        Descriptors.close(wake)
        Descriptors.close(done)
    }
}

/// What the device's thread tells others.
final class SharedState: Sendable {
    let counters = Mutex(VsockMuxer.Counters())
    let frontends = Mutex(0)
}

/// The device's thread: the socket, the kicks, the local descriptors, one poll.
private final class Loop {
    let configuration: VhostUserVsockBackend.Configuration
    let listener: TCPSocket
    let wake: Int32
    let shared: SharedState
    let onNotice: @Sendable (String) -> Void
    let device: VhostUserVsockDevice
    let muxer: VsockMuxer
    var frontend: Int32 = -1
    /// A receive buffer taken while data looked ready, kept for the next packet.
    var heldReceive: DescriptorChain?
    var receiveStarved = false

    init(configuration: VhostUserVsockBackend.Configuration, listener: TCPSocket, wake: Int32, shared: SharedState,
         onConnection: @escaping @Sendable (Int32, UInt32) -> Void, onNotice: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.listener = listener
        self.wake = wake
        self.shared = shared
        self.onNotice = onNotice
        device = VhostUserVsockDevice(guestCID: configuration.guestCID)
        var muxConfig = VsockMuxer.Configuration(guestCID: configuration.guestCID, port: configuration.port)
        muxConfig.maxConnections = configuration.maxConnections
        muxer = VsockMuxer(configuration: muxConfig)
        muxer.onConnection = onConnection
        muxer.onNotice = onNotice
        device.onRingsInvalidated = { [unowned self] in self.releaseHeld() }
    }

    func run() {
        defer {
            disconnectFrontend(reason: nil)
            listener.close()
        }
        while true {
            var fds = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0), pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)]
            if frontend >= 0 { fds.append(pollfd(fd: frontend, events: Int16(POLLIN), revents: 0)) }
            let kicks = device.queues.map(\.kick)
            for k in kicks where k >= 0 { fds.append(pollfd(fd: k, events: Int16(POLLIN), revents: 0)) }
            let fixed = fds.count
            fds += muxer.pollInterest(receiveStarved: receiveStarved)
            do { _ = try Descriptors.poll(&fds, timeoutMs: 1000) } catch {
                onNotice("vhost-user \(configuration.path): \(error); the device stops")
                return
            }
            if fds[0].revents != 0 { return }
            if fds[1].revents != 0 { acceptFrontend() }
            for p in fds[2..<fixed] where p.revents != 0 {
                if p.fd == frontend {
                    readFrontend()
                } else if device.queues.contains(where: { $0.kick == p.fd }) {
                    // Only a kick still open: the frontend's message in this round may have
                    // closed the one polled (a reset, a new kick), and its number may belong to
                    // another thread's descriptor by now.
                    Descriptors.drain(p.fd)
                    if p.fd == device.receive.kick { receiveStarved = false }
                }
            }
            if fixed < fds.count { muxer.ready(Array(fds[fixed...])) }
            muxer.expire()
            pump()
            let snapshot = muxer.counters
            shared.counters.withLock { $0 = snapshot }
        }
    }

    private func acceptFrontend() {
        guard let conn = try? listener.accept(timeoutMs: 0) else { return }
        if frontend >= 0 {
            onNotice("vhost-user \(configuration.path): a second frontend while one is connected; refused")
            return  // conn closes as it goes out of scope
        }
        let fd = dup(conn.fd)
        guard fd >= 0 else { return }
        frontend = fd
        shared.frontends.withLock { $0 += 1 }
        onNotice("vhost-user \(configuration.path): frontend connected (guest CID \(configuration.guestCID))")
    }

    private func disconnectFrontend(reason: String?) {
        guard frontend >= 0 else { return }
        Descriptors.close(frontend)
        frontend = -1
        muxer.resetAll()
        device.reset()
        receiveStarved = false
        if let reason { onNotice("vhost-user \(configuration.path): \(reason)") }
    }

    /// Reads one message (header, then payload; descriptors come with the header's bytes).
    private func readFrontend() {
        do {
            guard let head = try readExactly(VhostUserMessage.headerSize) else {
                disconnectFrontend(reason: "frontend disconnected; streams of guest CID \(configuration.guestCID) reset, waiting for a new one")
                return
            }
            var fds = head.descriptors
            // A message refused or cut short leaves nothing open: its descriptors are closed here.
            let (request, flags, size): (UInt32, UInt32, Int)
            do { (request, flags, size) = try VhostUserMessage.header(head.bytes) } catch {
                for fd in fds { Descriptors.close(fd) }
                throw error
            }
            var payload: [UInt8] = []
            if size > 0 {
                let read: (bytes: [UInt8], descriptors: [Int32])?
                do { read = try readExactly(size) } catch {
                    for fd in fds { Descriptors.close(fd) }
                    throw error
                }
                guard let body = read else {
                    for fd in fds { Descriptors.close(fd) }
                    disconnectFrontend(reason: "frontend disconnected inside a message")
                    return
                }
                payload = body.bytes
                fds += body.descriptors
            }
            let message = VhostUserMessage(request: request, flags: flags, payload: payload, descriptors: fds)
            let reply: VhostUserMessage?
            do {
                reply = try device.handle(message)
            } catch {
                onNotice("vhost-user \(configuration.path): \(message.name): \(error)")
                var failure = [UInt8]()
                failure.appendNative(UInt64(1))
                reply = message.needsReply ? .reply(to: request, payload: failure) : nil
            }
            if let reply { try DescriptorPassing.send(frontend, reply.encoded()) }
        } catch {
            disconnectFrontend(reason: "frontend dropped: \(error)")
        }
    }

    private func readExactly(_ count: Int) throws -> (bytes: [UInt8], descriptors: [Int32])? {
        var bytes: [UInt8] = [], fds: [Int32] = []
        while bytes.count < count {
            let received: (bytes: [UInt8], descriptors: [Int32])?
            do { received = try DescriptorPassing.receive(frontend, count: count - bytes.count) } catch {
                for fd in fds { Descriptors.close(fd) }
                throw error
            }
            guard let part = received else {
                for fd in fds { Descriptors.close(fd) }
                return nil
            }
            bytes += part.bytes
            fds += part.descriptors
        }
        return (bytes, fds)
    }

    /// Moves packets: the guest's transmissions in, then ours into its receive buffers.
    private func pump() {
        let tx = device.transmit, rx = device.receive
        var took = false
        while let chain = tx.next() {
            muxer.receive(chain.readableBytes())
            tx.putUsed(chain.head, written: 0)
            took = true
        }
        if took { tx.notify() }
        if let broken = tx.broken { noteBroken(broken) }
        var gave = false
        while muxer.hasOutgoing {
            guard let chain = heldReceive ?? rx.next() else {
                receiveStarved = true
                break
            }
            heldReceive = nil
            let room = chain.writableLength
            guard room >= VsockHeader.size else {
                rx.putUsed(chain.head, written: 0)
                gave = true
                continue
            }
            guard let packet = muxer.nextPacket(maxPayload: room - VsockHeader.size) else {
                heldReceive = chain
                break
            }
            let written = chain.write(packet.header.encoded + packet.payload)
            rx.putUsed(chain.head, written: written)
            gave = true
        }
        if gave { rx.notify() }
        if let broken = rx.broken { noteBroken(broken) }
    }

    private var reportedBroken: Set<String> = []
    private func noteBroken(_ e: VirtqueueError) {
        if reportedBroken.insert(e.message).inserted {
            onNotice("vhost-user \(configuration.path): guest CID \(configuration.guestCID): \(e.message); the queue is no longer served")
            muxer.resetAll()
        }
    }

    /// Gives a held receive buffer back unused (before its ring stops or its memory goes).
    private func releaseHeld() {
        if let chain = heldReceive {
            device.receive.putUsed(chain.head, written: 0)
            heldReceive = nil
        }
    }
}
