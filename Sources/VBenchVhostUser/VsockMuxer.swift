import Glibc
import VBenchSystem

/// The host side of one guest's vsock streams: packets from the guest's transmit queue in,
/// packets for its receive queue out, and each accepted stream joined to a local socket (one
/// end of a socket pair, the other end an ordinary collector connection). Credit flow control
/// both ways (virtio 1.2, 5.10.6.3): the guest never has more in flight than we buffer, and we
/// never send more than the guest said it can take.
public final class VsockMuxer {
    public struct Configuration: Sendable {
        /// The CID this host gave the device: the only source address the guest may use.
        public var guestCID: UInt64
        /// The host port guests connect to.
        public var port: UInt32
        /// What each stream may have in flight towards us (buf_alloc).
        public var bufferSize: UInt32 = 256 * 1024
        public var maxConnections = 64
        /// Control packets waiting for receive buffers; beyond this the guest is not reading and
        /// more are dropped.
        public var maxQueuedControl = 1024
        /// After we shut a stream down, how long the guest has to answer with RST.
        public var closeTimeout: Duration = .seconds(10)
        public init(guestCID: UInt64, port: UInt32) {
            self.guestCID = guestCID
            self.port = port
        }
    }

    /// Counts for the collector's log and the tests.
    public struct Counters: Sendable, Equatable {
        public var packetsIn = 0, packetsOut = 0, bytesIn = 0, bytesOut = 0
        public var connections = 0, resets = 0, malformed = 0, spoofed = 0, creditViolations = 0, droppedControl = 0
    }

    struct Key: Hashable { var guestPort: UInt32, hostPort: UInt32 }

    final class Connection {
        let key: Key
        let app: Int32
        var toApp: [UInt8] = []
        var toAppOffset = 0
        var receivedCount: UInt32 = 0
        var forwardCount: UInt32 = 0
        var advertisedForward: UInt32 = 0
        var peerBufferAllocation: UInt32
        var peerForwardCount: UInt32
        var sentCount: UInt32 = 0
        var appReadable = false
        var appEnded = false
        var guestSendDone = false
        var guestReceiveDone = false
        var appWriteShut = false
        var shutdownSent = false
        var creditUpdateQueued = false
        var closeDeadline: ContinuousClock.Instant?

        init(key: Key, app: Int32, peer: VsockHeader) {
            self.key = key
            self.app = app
            peerBufferAllocation = peer.bufferAllocation
            peerForwardCount = peer.forwardCount
        }

        var buffered: Int { toApp.count - toAppOffset }
        /// What the guest may still send us: what it last heard from us.
        var peerFree: UInt32 {
            let inFlight = sentCount &- peerForwardCount
            return inFlight > peerBufferAllocation ? 0 : peerBufferAllocation - inFlight
        }
    }

    public let configuration: Configuration
    public private(set) var counters = Counters()
    /// Called with the local end of each new stream (nonblocking, close-on-exec) and the guest's port.
    public var onConnection: (Int32, UInt32) -> Void = { fd, _ in Descriptors.close(fd) }
    /// Called with a line for the collector's log when a guest breaks a rule.
    public var onNotice: (String) -> Void = { _ in }
    var connections: [Key: Connection] = [:]
    private var control: [(VsockHeader, Key?)] = []
    private var roundRobin: [Key] = []

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public var connectionCount: Int { connections.count }

    // MARK: guest → host

    /// One packet from the transmit queue: the chain's readable bytes, header first.
    public func receive(_ bytes: [UInt8]) {
        counters.packetsIn += 1
        guard let h = VsockHeader(bytes) else {
            counters.malformed += 1
            notice("a packet of \(bytes.count) bytes is shorter than the 44-byte header; dropped")
            return
        }
        // The source is the CID this host assigned, whatever the guest writes: a packet claiming
        // another is dropped without an answer.
        guard h.sourceCID == configuration.guestCID else {
            counters.spoofed += 1
            notice("a packet from CID \(h.sourceCID) on the device of CID \(configuration.guestCID); dropped")
            return
        }
        let key = Key(guestPort: h.sourcePort, hostPort: h.destinationPort)
        guard h.knownOp != .reset else {
            if let c = connections[key] { remove(c) }
            return
        }
        guard h.destinationCID == VsockHeader.hostCID, h.type == VsockHeader.typeStream else {
            reset(key)
            return
        }
        guard let op = h.knownOp else {
            counters.malformed += 1
            notice("unknown vsock op \(h.op) on port \(h.sourcePort); reset")
            if let c = connections[key] { remove(c) }
            reset(key)
            return
        }
        if op == .request {
            accept(h, key: key)
            return
        }
        guard let c = connections[key] else {
            reset(key)
            return
        }
        c.peerBufferAllocation = h.bufferAllocation
        c.peerForwardCount = h.forwardCount
        switch op {
        case .readWrite:
            let length = Int(h.length)
            guard length <= VsockHeader.maxPayload, bytes.count - VsockHeader.size >= length else {
                counters.malformed += 1
                notice("port \(h.sourcePort): a payload of \(h.length) bytes in a packet of \(bytes.count); reset")
                abort(c)
                return
            }
            guard !c.guestSendDone else {
                notice("port \(h.sourcePort): data after the guest's shutdown; reset")
                abort(c)
                return
            }
            guard c.buffered + length <= Int(configuration.bufferSize) else {
                counters.creditViolations += 1
                notice("port \(h.sourcePort): \(length) bytes beyond the credit given (\(Int(configuration.bufferSize) - c.buffered) left); reset")
                abort(c)
                return
            }
            if length > 0 {
                c.toApp.append(contentsOf: bytes[VsockHeader.size..<(VsockHeader.size + length)])
                c.receivedCount &+= UInt32(length)
                counters.bytesIn += length
                flushToApp(c)
            }
        case .creditUpdate:
            break
        case .creditRequest:
            queueCreditUpdate(c)
        case .shutdown:
            if h.flags & VsockHeader.shutdownSend != 0 { c.guestSendDone = true }
            if h.flags & VsockHeader.shutdownReceive != 0 { c.guestReceiveDone = true }
        case .response:
            // We never connect to the guest.
            abort(c)
            return
        case .request, .reset:
            return  // handled above
        }
        settle(c)
    }

    private func accept(_ h: VsockHeader, key: Key) {
        if let existing = connections[key] {
            notice("port \(h.sourcePort): a second request on an open stream; reset")
            abort(existing)
            return
        }
        guard h.destinationPort == configuration.port, connections.count < configuration.maxConnections else {
            if h.destinationPort == configuration.port { notice("\(connections.count) streams are open; refused port \(h.sourcePort)") }
            reset(key)
            return
        }
        let pair: (Int32, Int32)
        do { pair = try Descriptors.socketPair() } catch {
            notice("\(error); refused port \(h.sourcePort)")
            reset(key)
            return
        }
        let c = Connection(key: key, app: pair.0, peer: h)
        connections[key] = c
        roundRobin.append(key)
        counters.connections += 1
        enqueue(.response, key: key)
        onConnection(pair.1, h.sourcePort)
    }

    // MARK: host → guest

    /// Whether something waits for a receive buffer (a control packet, or data known readable).
    public var hasOutgoing: Bool {
        !control.isEmpty || connections.values.contains { $0.appReadable && $0.peerFree > 0 && !$0.appEnded && !$0.guestReceiveDone }
    }

    /// The next packet for the guest with at most `maxPayload` bytes of data, or nil.
    public func nextPacket(maxPayload: Int) -> (header: VsockHeader, payload: [UInt8])? {
        if let p = nextControl() { return p }
        let limit = min(maxPayload, VsockHeader.maxPayload)
        guard limit > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: limit)
        for _ in 0..<roundRobin.count {
            let key = roundRobin.removeFirst()
            roundRobin.append(key)
            guard let c = connections[key], c.appReadable, !c.appEnded, !c.guestReceiveDone else { continue }
            let credit = Int(c.peerFree)
            guard credit > 0 else { continue }
            let want = min(limit, credit)
            let n = buffer.withUnsafeMutableBytes { Descriptors.readAvailable(c.app, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            switch n {
            case nil:
                c.appReadable = false
            case 0?:
                c.appEnded = true
                c.appReadable = false
                settle(c)
                if let p = nextControl() { return p }
            case let n? where n < 0:
                abort(c)
                if let p = nextControl() { return p }
            case let n?:
                var h = header(.readWrite, key: key)
                h.length = UInt32(n)
                c.sentCount &+= UInt32(n)
                counters.bytesOut += n
                counters.packetsOut += 1
                return (h, Array(buffer[0..<n]))
            }
        }
        return nil
    }

    private func nextControl() -> (header: VsockHeader, payload: [UInt8])? {
        guard !control.isEmpty else { return nil }
        var (h, key) = control.removeFirst()
        if let key, let c = connections[key] {
            h.bufferAllocation = configuration.bufferSize
            h.forwardCount = c.forwardCount
            c.advertisedForward = c.forwardCount
            if h.knownOp == .creditUpdate { c.creditUpdateQueued = false }
        }
        counters.packetsOut += 1
        return (h, [])
    }

    private func header(_ op: VsockHeader.Op, key: Key, flags: UInt32 = 0) -> VsockHeader {
        var h = VsockHeader(sourceCID: VsockHeader.hostCID, destinationCID: configuration.guestCID, sourcePort: key.hostPort,
                            destinationPort: key.guestPort, op: op, flags: flags)
        if let c = connections[key] {
            h.bufferAllocation = configuration.bufferSize
            h.forwardCount = c.forwardCount
            c.advertisedForward = c.forwardCount
        }
        return h
    }

    private func enqueue(_ op: VsockHeader.Op, key: Key, flags: UInt32 = 0) {
        guard control.count < configuration.maxQueuedControl else {
            counters.droppedControl += 1
            return
        }
        control.append((VsockHeader(sourceCID: VsockHeader.hostCID, destinationCID: configuration.guestCID, sourcePort: key.hostPort,
                                     destinationPort: key.guestPort, op: op, flags: flags), connections[key] == nil ? nil : key))
    }

    private func reset(_ key: Key) {
        counters.resets += 1
        enqueue(.reset, key: key)
    }

    // MARK: the local side

    /// Descriptors to poll and for what: readable while the guest can take data (and the receive
    /// queue has room: `receiveStarved` false), writable while data waits for the local side.
    public func pollInterest(receiveStarved: Bool) -> [pollfd] {
        connections.values.compactMap { c in
            var events: Int16 = 0
            if !c.appEnded && !c.guestReceiveDone && !receiveStarved && !c.appReadable && c.peerFree > 0 { events |= Int16(POLLIN) }
            if c.buffered > 0 { events |= Int16(POLLOUT) }
            return events == 0 ? nil : pollfd(fd: c.app, events: events, revents: 0)
        }
    }

    /// What poll said of the local descriptors.
    public func ready(_ polled: [pollfd]) {
        let byFD = Dictionary(connections.values.map { ($0.app, $0) }, uniquingKeysWith: { a, _ in a })
        for p in polled where p.revents != 0 {
            guard let c = byFD[p.fd], connections[c.key] === c else { continue }
            if p.revents & Int16(POLLOUT) != 0 { flushToApp(c) }
            if p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { c.appReadable = true }
            if connections[c.key] === c { settle(c) }
        }
    }

    private func flushToApp(_ c: Connection) {
        guard c.buffered > 0 else { return }
        let n = c.toApp.withUnsafeBytes { Descriptors.writeAvailable(c.app, UnsafeRawBufferPointer(rebasing: $0[c.toAppOffset...])) }
        if n < 0 {
            // The collector closed its end: nothing more is read from this stream.
            abort(c)
            return
        }
        c.toAppOffset += n
        c.forwardCount &+= UInt32(n)
        if c.toAppOffset == c.toApp.count {
            c.toApp.removeAll(keepingCapacity: c.toApp.capacity <= 1 << 20)
            c.toAppOffset = 0
        } else if c.toAppOffset > 1 << 16 {
            c.toApp.removeFirst(c.toAppOffset)
            c.toAppOffset = 0
        }
        // The guest sees less than half the buffer free: tell it what was forwarded.
        let heard = c.receivedCount &- c.advertisedForward
        if n > 0, heard > configuration.bufferSize / 2 { queueCreditUpdate(c) }
    }

    private func queueCreditUpdate(_ c: Connection) {
        guard !c.creditUpdateQueued else { return }
        c.creditUpdateQueued = true
        enqueue(.creditUpdate, key: c.key)
    }

    /// Moves a stream on after a change: half-closes, full closes, shutdowns.
    private func settle(_ c: Connection) {
        guard connections[c.key] === c else { return }
        if c.guestSendDone && c.buffered == 0 && !c.appWriteShut {
            Descriptors.shutdownWrite(c.app)
            c.appWriteShut = true
        }
        if c.guestSendDone && c.guestReceiveDone && c.buffered == 0 {
            // The guest closed: confirm with RST (as Linux's host side does) and let go.
            enqueue(.reset, key: c.key)
            remove(c)
            return
        }
        if c.appEnded && !c.shutdownSent {
            enqueue(.shutdown, key: c.key, flags: VsockHeader.shutdownSend | VsockHeader.shutdownReceive)
            c.shutdownSent = true
            c.closeDeadline = .now + configuration.closeTimeout
        }
    }

    /// Resets a stream the guest broke or the local side dropped.
    private func abort(_ c: Connection) {
        counters.resets += 1
        enqueue(.reset, key: c.key)
        remove(c)
    }

    private func remove(_ c: Connection) {
        guard connections[c.key] === c else { return }
        connections[c.key] = nil
        roundRobin.removeAll { $0 == c.key }
        Descriptors.close(c.app)
    }

    /// Streams whose guest never answered our shutdown are reset.
    public func expire(now: ContinuousClock.Instant = .now) {
        for c in connections.values where c.closeDeadline.map({ $0 <= now }) == true {
            abort(c)
        }
    }

    /// Drops every stream (the device stopped or the frontend went away): the local sides see
    /// end of file, so half-received records are never stored.
    public func resetAll() {
        for c in Array(connections.values) { remove(c) }
        control.removeAll()
    }

    private func notice(_ text: String) { onNotice("vsock cid \(configuration.guestCID): \(text)") }
}
