import CVBenchShims
import VBenchSystem

/// Why a virtqueue stopped being served: the driver broke a rule of the split ring. The queue
/// is then left alone (as a device that needs a reset), never trusted further.
public struct VirtqueueError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One buffer the driver made available: the head index and its pieces in order, each already
/// translated and bounds-checked.
public struct DescriptorChain {
    public struct Piece {
        public var bytes: UnsafeMutableRawBufferPointer
        public var writable: Bool
    }
    public var head: UInt16
    public var pieces: [Piece]

    public var readableLength: Int { pieces.lazy.filter { !$0.writable }.reduce(0) { $0 + $1.bytes.count } }
    public var writableLength: Int { pieces.lazy.filter(\.writable).reduce(0) { $0 + $1.bytes.count } }

    /// Copies the driver-readable bytes out (the driver may change them while we look: parse the
    /// copy, never the shared memory twice).
    public func readableBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(readableLength)
        for p in pieces where !p.writable { out.append(contentsOf: UnsafeRawBufferPointer(p.bytes)) }
        return out
    }

    /// Writes `bytes` into the writable pieces in order; returns how many fit.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Int {
        var done = 0
        bytes.withUnsafeBytes { src in
            for p in pieces where p.writable && done < src.count {
                let n = min(p.bytes.count, src.count - done)
                if n > 0 { p.bytes.baseAddress!.copyMemory(from: src.baseAddress! + done, byteCount: n) }
                done += n
            }
        }
        return done
    }
}

/// A split virtqueue (virtio 1.x, section 2.6) served by the device side: descriptors, the
/// available ring the driver fills and the used ring we fill. Indexes, lengths, chains and
/// addresses from the driver are all checked; a lie breaks this queue only.
public final class Virtqueue {
    public static let descriptorNext: UInt16 = 1, descriptorWrite: UInt16 = 2, descriptorIndirect: UInt16 = 4
    /// The longest chain total this device accepts (a vsock packet is 44 bytes of header and at
    /// most 64 KiB of payload; receive buffers are smaller).
    public var maxChainBytes = 1 << 20

    public let index: Int
    public private(set) var size: UInt16 = 0
    public var address: VringAddress?
    /// Host pointers of the three parts, set by `attach(memory:)`.
    private var descriptors: UnsafeMutableRawPointer?
    private var available: UnsafeMutableRawPointer?
    private var used: UnsafeMutableRawPointer?
    private var memory: GuestMemory?
    public var lastAvailable: UInt16 = 0
    public private(set) var usedIndex: UInt16 = 0
    public var kick: Int32 = -1
    public var call: Int32 = -1
    /// SET_VRING_ENABLE's last word (nil: never sent).
    public var enabled: Bool?
    /// Kicked since started, and not stopped by GET_VRING_BASE.
    public var started = false
    public private(set) var broken: VirtqueueError?

    public init(index: Int) { self.index = index }

    /// SET_VRING_NUM: a power of two, 1…32768. Rings already attached were checked for the old
    /// size: they are checked again, and left unattached (until the next SET_VRING_ADDR) when
    /// the new size does not fit where they are.
    public func setSize(_ n: UInt32) throws(VhostUserError) {
        guard n > 0, n <= 32768, n & (n - 1) == 0 else { throw VhostUserError("vring \(index): size \(n) is not a power of two up to 32768") }
        size = UInt16(n)
        if let memory { try? attach(memory: memory) }
    }

    /// Points the queue at its rings in `memory` (after SET_VRING_ADDR or a new memory table).
    /// Misaligned or unmapped rings are refused, and the queue is then not served: it never
    /// keeps pointers into memory it was moved away from (that memory may be unmapped).
    public func attach(memory: GuestMemory) throws(VhostUserError) {
        self.memory = memory
        descriptors = nil
        available = nil
        used = nil
        guard let a = address, size > 0 else { return }
        let n = UInt64(size)
        guard a.descriptors % 16 == 0, a.available % 2 == 0, a.used % 4 == 0 else {
            throw VhostUserError("vring \(index): ring addresses are misaligned")
        }
        guard let d = memory.translate(userAddress: a.descriptors, length: 16 * n),
              let av = memory.translate(userAddress: a.available, length: 6 + 2 * n),
              let u = memory.translate(userAddress: a.used, length: 6 + 8 * n) else {
            throw VhostUserError("vring \(index): a ring lies outside the guest's memory")
        }
        descriptors = d
        available = av
        used = u
        // The driver may have used the ring before (a reconnect): continue from its used index.
        usedIndex = vbench_load_acquire_u16(u + 2)
        broken = nil
    }

    /// Stops serving (GET_VRING_BASE); returns where to resume.
    public func stop() -> UInt16 {
        started = false
        return lastAvailable
    }

    public var isReady: Bool { started && enabled != false && descriptors != nil && broken == nil }

    /// Whether the driver has made buffers available that we have not taken.
    public var hasAvailable: Bool {
        guard isReady, let available else { return false }
        return vbench_load_acquire_u16(available + 2) != lastAvailable
    }

    /// The next available chain, or nil when there is none (or the queue is broken).
    public func next() -> DescriptorChain? {
        guard isReady, let available, let descriptors, let memory else { return nil }
        do throws(VirtqueueError) {
            let availableIndex = vbench_load_acquire_u16(available + 2)
            let pending = availableIndex &- lastAvailable
            if pending == 0 { return nil }
            guard pending <= size else { throw VirtqueueError("vring \(index): the driver made \(pending) buffers available in a ring of \(size)") }
            let slot = Int(lastAvailable & (size - 1))
            let head = UInt16(littleEndian: available.loadUnaligned(fromByteOffset: 4 + 2 * slot, as: UInt16.self))
            guard head < size else { throw VirtqueueError("vring \(index): descriptor index \(head) is outside a ring of \(size)") }
            var pieces: [DescriptorChain.Piece] = []
            var i = head, total = 0, count = 0
            while true {
                count += 1
                guard count <= Int(size) else { throw VirtqueueError("vring \(index): the chain from descriptor \(head) loops") }
                let d = descriptors + 16 * Int(i)
                let addr = UInt64(littleEndian: d.loadUnaligned(as: UInt64.self))
                let len = UInt32(littleEndian: d.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
                let flags = UInt16(littleEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
                let nextIndex = UInt16(littleEndian: d.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
                guard flags & Self.descriptorIndirect == 0 else {
                    throw VirtqueueError("vring \(index): an indirect descriptor, a feature this device did not offer")
                }
                total += Int(len)
                guard total <= maxChainBytes else { throw VirtqueueError("vring \(index): a chain of more than \(maxChainBytes) bytes") }
                guard let translated = memory.translate(guestPhysical: addr, length: len) else {
                    throw VirtqueueError("vring \(index): descriptor \(i) points outside the guest's memory (0x\(String(addr, radix: 16)), \(len) bytes)")
                }
                for t in translated { pieces.append(.init(bytes: t, writable: flags & Self.descriptorWrite != 0)) }
                guard flags & Self.descriptorNext != 0 else { break }
                guard nextIndex < size else { throw VirtqueueError("vring \(index): next descriptor \(nextIndex) is outside a ring of \(size)") }
                i = nextIndex
            }
            lastAvailable &+= 1
            return DescriptorChain(head: head, pieces: pieces)
        } catch {
            broken = error
            return nil
        }
    }

    /// Returns a chain to the driver with `written` bytes written into it.
    public func putUsed(_ head: UInt16, written: Int) {
        guard let used, size > 0 else { return }
        let slot = Int(usedIndex & (size - 1))
        used.storeBytes(of: UInt32(head).littleEndian, toByteOffset: 4 + 8 * slot, as: UInt32.self)
        used.storeBytes(of: UInt32(truncatingIfNeeded: written).littleEndian, toByteOffset: 8 + 8 * slot, as: UInt32.self)
        usedIndex &+= 1
        vbench_store_release_u16(used + 2, usedIndex)
    }

    /// Tells the driver (the call eventfd: QEMU injects the interrupt).
    public func notify() {
        guard call >= 0 else { return }
        vbench_memory_barrier()
        Descriptors.signal(call)
    }

    /// Closes the eventfds and forgets the rings (the frontend went away or reset the device).
    public func reset() {
        if kick >= 0 { Descriptors.close(kick) }
        if call >= 0 { Descriptors.close(call) }
        kick = -1
        call = -1
        started = false
        enabled = nil
        address = nil
        descriptors = nil
        available = nil
        used = nil
        memory = nil
        lastAvailable = 0
        usedIndex = 0
        broken = nil
        size = 0
    }
}
