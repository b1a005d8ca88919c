/// The vhost-user protocol (QEMU's docs/interop/vhost-user.rst), as far as a vsock device needs
/// it: a 12-byte header in the host's byte order (request, flags, payload size), a payload, and
/// descriptors passed with the message (SCM_RIGHTS).
public enum VhostUserRequest: UInt32, Sendable {
    case getFeatures = 1, setFeatures = 2, setOwner = 3, resetOwner = 4, setMemTable = 5
    case setLogBase = 6, setLogFD = 7, setVringNum = 8, setVringAddr = 9, setVringBase = 10
    case getVringBase = 11, setVringKick = 12, setVringCall = 13, setVringErr = 14
    case getProtocolFeatures = 15, setProtocolFeatures = 16, getQueueNum = 17, setVringEnable = 18
    case sendRARP = 19, netSetMTU = 20, setBackendRequestFD = 21, iotlbMessage = 22, setVringEndian = 23
    case getConfig = 24, setConfig = 25
}

/// Feature bits this backend offers and understands.
public enum VhostUserFeatures {
    /// VIRTIO_F_VERSION_1 (bit 32): a modern, little-endian device.
    public static let version1: UInt64 = 1 << 32
    /// VHOST_USER_F_PROTOCOL_FEATURES (bit 30): protocol features are negotiated and rings start
    /// disabled until SET_VRING_ENABLE.
    public static let protocolFeatures: UInt64 = 1 << 30
    public static let offered: UInt64 = version1 | protocolFeatures

    /// Protocol features: MQ (0, to answer GET_QUEUE_NUM), REPLY_ACK (3), CONFIG (9, which QEMU
    /// needs to read the guest CID from the backend).
    public static let multiQueue: UInt64 = 1 << 0
    public static let replyAck: UInt64 = 1 << 3
    public static let config: UInt64 = 1 << 9
    public static let offeredProtocol: UInt64 = multiQueue | replyAck | config
}

/// Why a vhost-user message could not be taken.
public struct VhostUserError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One message: the header's fields, the payload, and the descriptors that came with it.
public struct VhostUserMessage: Sendable, Equatable {
    public static let headerSize = 12
    /// No message this device takes is longer (a memory table of 8 regions is 264 bytes, a
    /// config read 12 + 256).
    public static let maxPayload = 4096
    public static let versionFlag: UInt32 = 0x1
    public static let replyFlag: UInt32 = 0x4
    public static let needReplyFlag: UInt32 = 0x8

    public var request: UInt32
    public var flags: UInt32
    public var payload: [UInt8]
    public var descriptors: [Int32]

    public init(request: UInt32, flags: UInt32 = VhostUserMessage.versionFlag, payload: [UInt8] = [], descriptors: [Int32] = []) {
        self.request = request
        self.flags = flags
        self.payload = payload
        self.descriptors = descriptors
    }

    public init(_ request: VhostUserRequest, flags: UInt32 = VhostUserMessage.versionFlag, payload: [UInt8] = [], descriptors: [Int32] = []) {
        self.init(request: request.rawValue, flags: flags, payload: payload, descriptors: descriptors)
    }

    public var needsReply: Bool { flags & Self.needReplyFlag != 0 }

    /// Parses a header: request, flags and the payload size to read next.
    public static func header(_ bytes: [UInt8]) throws(VhostUserError) -> (request: UInt32, flags: UInt32, size: Int) {
        guard bytes.count == headerSize else { throw VhostUserError("a vhost-user header is 12 bytes; got \(bytes.count)") }
        let request = bytes.loadNative(UInt32.self, at: 0), flags = bytes.loadNative(UInt32.self, at: 4)
        let size = Int(bytes.loadNative(UInt32.self, at: 8))
        guard flags & 0x3 == versionFlag else { throw VhostUserError("vhost-user version \(flags & 0x3) is not supported (1 is)") }
        guard size <= maxPayload else { throw VhostUserError("a vhost-user payload of \(size) bytes is larger than any this device takes (\(maxPayload))") }
        return (request, flags, size)
    }

    /// Header and payload, as sent.
    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.headerSize + payload.count)
        out.appendNative(request)
        out.appendNative(flags)
        out.appendNative(UInt32(payload.count))
        out += payload
        return out
    }

    /// A reply to `request` (flags: version and reply).
    public static func reply(to request: UInt32, payload: [UInt8]) -> VhostUserMessage {
        VhostUserMessage(request: request, flags: versionFlag | replyFlag, payload: payload)
    }

    // MARK: payloads

    public func u64() throws(VhostUserError) -> UInt64 {
        guard payload.count >= 8 else { throw VhostUserError("\(name) needs an 8-byte payload; got \(payload.count)") }
        return payload.loadNative(UInt64.self, at: 0)
    }

    /// A vring state: the ring's index and a number (size, base or enable).
    public func vringState() throws(VhostUserError) -> (index: UInt32, number: UInt32) {
        guard payload.count >= 8 else { throw VhostUserError("\(name) needs a vring state (8 bytes); got \(payload.count)") }
        return (payload.loadNative(UInt32.self, at: 0), payload.loadNative(UInt32.self, at: 4))
    }

    /// A vring's addresses, in the frontend's (QEMU's) virtual address space.
    public func vringAddress() throws(VhostUserError) -> VringAddress {
        guard payload.count >= 40 else { throw VhostUserError("SET_VRING_ADDR needs 40 bytes; got \(payload.count)") }
        return VringAddress(index: payload.loadNative(UInt32.self, at: 0), flags: payload.loadNative(UInt32.self, at: 4),
                            descriptors: payload.loadNative(UInt64.self, at: 8), used: payload.loadNative(UInt64.self, at: 16),
                            available: payload.loadNative(UInt64.self, at: 24), log: payload.loadNative(UInt64.self, at: 32))
    }

    /// The memory table: one region per descriptor passed.
    public func memoryRegions() throws(VhostUserError) -> [MemoryRegionDescription] {
        guard payload.count >= 8 else { throw VhostUserError("SET_MEM_TABLE needs a region count; got \(payload.count) bytes") }
        let count = Int(payload.loadNative(UInt32.self, at: 0))
        guard (1...8).contains(count) else { throw VhostUserError("SET_MEM_TABLE with \(count) regions; 1…8 are allowed") }
        guard payload.count >= 8 + 32 * count else { throw VhostUserError("SET_MEM_TABLE of \(count) regions needs \(8 + 32 * count) bytes; got \(payload.count)") }
        guard descriptors.count == count else { throw VhostUserError("SET_MEM_TABLE of \(count) regions came with \(descriptors.count) descriptors") }
        return (0..<count).map { i in
            let o = 8 + 32 * i
            return MemoryRegionDescription(guestPhysical: payload.loadNative(UInt64.self, at: o), size: payload.loadNative(UInt64.self, at: o + 8),
                                           userAddress: payload.loadNative(UInt64.self, at: o + 16), mmapOffset: payload.loadNative(UInt64.self, at: o + 24))
        }
    }

    /// A config access: offset, size and flags (and, for SET_CONFIG, the bytes).
    public func configAccess() throws(VhostUserError) -> (offset: UInt32, size: UInt32, flags: UInt32) {
        guard payload.count >= 12 else { throw VhostUserError("\(name) needs 12 bytes; got \(payload.count)") }
        let size = payload.loadNative(UInt32.self, at: 4)
        guard size <= 256 else { throw VhostUserError("\(name) of \(size) bytes; config space accesses are at most 256") }
        return (payload.loadNative(UInt32.self, at: 0), size, payload.loadNative(UInt32.self, at: 8))
    }

    public var name: String {
        VhostUserRequest(rawValue: request).map { "\($0)" } ?? "request \(request)"
    }
}

/// SET_VRING_ADDR's payload.
public struct VringAddress: Sendable, Equatable {
    public var index: UInt32, flags: UInt32
    public var descriptors: UInt64, used: UInt64, available: UInt64, log: UInt64
    public init(index: UInt32, flags: UInt32, descriptors: UInt64, used: UInt64, available: UInt64, log: UInt64) {
        self.index = index
        self.flags = flags
        self.descriptors = descriptors
        self.used = used
        self.available = available
        self.log = log
    }
}

/// One region of SET_MEM_TABLE.
public struct MemoryRegionDescription: Sendable, Equatable {
    public var guestPhysical: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64
    public init(guestPhysical: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64) {
        self.guestPhysical = guestPhysical
        self.size = size
        self.userAddress = userAddress
        self.mmapOffset = mmapOffset
    }
}

// MARK: byte helpers

extension Array where Element == UInt8 {
    /// A value in the host's byte order at `offset` (callers check the bounds).
    func loadNative<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }

    /// A little-endian value at `offset` (callers check the bounds).
    func loadLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) })
    }

    mutating func appendNative<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value) { append(contentsOf: $0) }
    }

    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
