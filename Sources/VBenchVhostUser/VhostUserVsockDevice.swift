import VBenchSystem

/// The control plane of a vhost-user vsock device: what the frontend (QEMU) asks over the
/// socket, answered from this state. Only the receive (0) and transmit (1) queues come here;
/// QEMU keeps the event queue itself. No I/O on the socket: the backend reads and writes the
/// messages, which keeps this testable with hand-built bytes.
public final class VhostUserVsockDevice {
    public let guestCID: UInt64
    public let queues = [Virtqueue(index: 0), Virtqueue(index: 1)]
    public private(set) var memory: GuestMemory?
    public private(set) var features: UInt64 = 0
    public private(set) var protocolFeatures: UInt64 = 0
    /// Called when the rings stop (GET_VRING_BASE) or the memory they lie in is replaced:
    /// whatever was taken from them is no longer valid.
    public var onRingsInvalidated: () -> Void = {}

    public init(guestCID: UInt64) { self.guestCID = guestCID }

    public var receive: Virtqueue { queues[0] }
    public var transmit: Virtqueue { queues[1] }

    /// Handles one message; returns the reply to send, if any. A malformed message throws (the
    /// caller answers a REPLY_ACK request with failure and logs it); its descriptors are closed.
    public func handle(_ m: VhostUserMessage) throws(VhostUserError) -> VhostUserMessage? {
        var consumed = false
        defer { if !consumed { for fd in m.descriptors { Descriptors.close(fd) } } }
        let reply: [UInt8]?
        guard let request = VhostUserRequest(rawValue: m.request) else {
            throw VhostUserError("vhost-user request \(m.request) is not supported by this vsock device")
        }
        switch request {
        case .getFeatures:
            reply = u64(VhostUserFeatures.offered)
        case .setFeatures:
            features = try m.u64()
            reply = nil
        case .getProtocolFeatures:
            reply = u64(VhostUserFeatures.offeredProtocol)
        case .setProtocolFeatures:
            protocolFeatures = try m.u64() & VhostUserFeatures.offeredProtocol
            reply = nil
        case .getQueueNum:
            reply = u64(UInt64(queues.count))
        case .setOwner, .resetOwner, .setConfig, .setVringEndian, .sendRARP, .netSetMTU:
            reply = nil
        case .setMemTable:
            let regions = try m.memoryRegions()
            consumed = true
            let mapped = try GuestMemory.map(regions, descriptors: m.descriptors)
            onRingsInvalidated()
            memory = mapped
            // Every queue moves to the new memory (the old one is unmapped when the last
            // reference goes), also when another queue's rings are refused in it.
            var refused: VhostUserError?
            for q in queues {
                do throws(VhostUserError) { try q.attach(memory: mapped) } catch { refused = refused ?? error }
            }
            if let refused { throw refused }
            reply = nil
        case .setVringNum:
            let s = try m.vringState()
            try queue(s.index).setSize(s.number)
            reply = nil
        case .setVringAddr:
            let a = try m.vringAddress()
            let q = try queue(a.index)
            q.address = a
            if let memory { try q.attach(memory: memory) }
            reply = nil
        case .setVringBase:
            let s = try m.vringState()
            try queue(s.index).lastAvailable = UInt16(truncatingIfNeeded: s.number)
            reply = nil
        case .getVringBase:
            let s = try m.vringState()
            let q = try queue(s.index)
            onRingsInvalidated()
            var out = [UInt8]()
            out.appendNative(s.index)
            out.appendNative(UInt32(q.stop()))
            return .reply(to: m.request, payload: out)
        case .setVringKick, .setVringCall, .setVringErr:
            let v = try m.u64()
            let index = UInt32(v & 0xff), noDescriptor = v & 0x100 != 0
            guard noDescriptor ? m.descriptors.isEmpty : m.descriptors.count == 1 else {
                throw VhostUserError("\(m.name) for vring \(index) came with \(m.descriptors.count) descriptors")
            }
            let q = try queue(index)
            let fd: Int32 = noDescriptor ? -1 : m.descriptors[0]
            consumed = true
            switch request {
            case .setVringKick:
                if q.kick >= 0 { Descriptors.close(q.kick) }
                q.kick = fd
                // The ring starts with its kick descriptor (vhost-user.rst, "Starting and stopping rings").
                q.started = true
            case .setVringCall:
                if q.call >= 0 { Descriptors.close(q.call) }
                q.call = fd
            default:
                if fd >= 0 { Descriptors.close(fd) }  // errors are not reported through it
            }
            reply = nil
        case .setVringEnable:
            let s = try m.vringState()
            try queue(s.index).enabled = s.number != 0
            reply = nil
        case .getConfig:
            let access = try m.configAccess()
            // The config space is the guest CID, 8 bytes little-endian.
            var space = [UInt8]()
            space.appendLE(guestCID)
            var out = [UInt8]()
            out.appendNative(access.offset)
            out.appendNative(access.size)
            out.appendNative(access.flags)
            for i in 0..<Int(access.size) {
                let at = Int(access.offset) + i
                out.append(at < space.count ? space[at] : 0)
            }
            return .reply(to: m.request, payload: out)
        case .setLogBase, .setLogFD, .setBackendRequestFD, .iotlbMessage:
            throw VhostUserError("\(m.name) needs a feature this vsock device does not offer")
        }
        if let reply { return .reply(to: m.request, payload: reply) }
        return m.needsReply && protocolFeatures & VhostUserFeatures.replyAck != 0 ? .reply(to: m.request, payload: u64(0)) : nil
    }

    /// The frontend went away: forget everything it set up.
    public func reset() {
        onRingsInvalidated()
        for q in queues { q.reset() }
        memory = nil
        features = 0
        protocolFeatures = 0
    }

    private func queue(_ index: UInt32) throws(VhostUserError) -> Virtqueue {
        guard Int(index) < queues.count else {
            throw VhostUserError("vring \(index): this device serves vrings 0 (receive) and 1 (transmit)")
        }
        return queues[Int(index)]
    }

    private func u64(_ v: UInt64) -> [UInt8] {
        var out = [UInt8]()
        out.appendNative(v)
        return out
    }
}
