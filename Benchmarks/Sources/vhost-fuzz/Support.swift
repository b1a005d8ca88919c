import Glibc

// MARK: randomness

/// splitmix64: the same generator as frame-fuzz. Every episode of every part has its own stream,
/// derived from (seed, part, episode), so one episode replays alone (`--part P --episode E`).
struct Rng {
    var s: UInt64

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    init(seed: UInt64, part: UInt64, episode: UInt64) {
        s = Self.mix(Self.mix(seed) ^ Self.mix(part &* 0x1000_0000_01B3) ^ Self.mix(episode &+ 0x51ED_2701))
    }

    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0..<n (0 when n <= 0).
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    mutating func range(_ r: ClosedRange<Int>) -> Int { r.lowerBound + below(r.count) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
    mutating func u8() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func u16() -> UInt16 { UInt16(truncatingIfNeeded: next()) }
    mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
    mutating func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(n)
        var word: UInt64 = 0
        for i in 0..<n {
            if i % 8 == 0 { word = next() }
            out.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(i % 8))))
        }
        return out
    }

    /// Values that sit on the edges of comparisons and additions.
    static let edges64: [UInt64] = [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 43, 44, 45, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0x1001,
                                    0xffff, 0x1_0000, 0x1_0001, 0x10_0000, 0x10_0001, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff,
                                    0x1_0000_0000, 0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, UInt64.max - 0xfff, UInt64.max - 16,
                                    UInt64.max - 1, UInt64.max]
    mutating func edge64() -> UInt64 { chance(70) ? pick(Self.edges64) : next() }
    mutating func edge32() -> UInt32 { chance(70) ? UInt32(truncatingIfNeeded: pick(Self.edges64)) : u32() }

    /// Generic byte mutations (the frame-fuzz set): flips, byte sets, inserts, deletions,
    /// truncation, edge values written over a field.
    mutating func mutate(_ input: inout [UInt8], rounds: Int) {
        for _ in 0..<rounds {
            switch below(8) {
            case 0: if !input.isEmpty { input[below(input.count)] ^= UInt8(1 << below(8)) }
            case 1: if !input.isEmpty { input[below(input.count)] = u8() }
            case 2: input.insert(u8(), at: below(input.count + 1))
            case 3: if !input.isEmpty { input.remove(at: below(input.count)) }
            case 4: input = Array(input.prefix(below(input.count + 1)))
            case 5:
                if input.count >= 4 {
                    let at = below(input.count - 3), v = edge32()
                    for i in 0..<4 { input[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
                }
            case 6:
                if input.count >= 8 {
                    let at = below(input.count - 7), v = edge64()
                    for i in 0..<8 { input[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
                }
            default: input += bytes(below(16))
            }
        }
    }
}

// MARK: bytes

extension Array where Element == UInt8 {
    /// Host order (what vhost-user uses; little-endian on the machines this runs on).
    mutating func put<T: FixedWidthInteger>(_ v: T) { Swift.withUnsafeBytes(of: v) { append(contentsOf: $0) } }
    mutating func putLE<T: FixedWidthInteger>(_ v: T) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
    func getLE<T: FixedWidthInteger>(_: T.Type, _ at: Int) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(self[at + i]) << (8 * i) }
        return v
    }
}

func loadLE<T: FixedWidthInteger>(_ p: UnsafeRawPointer, _ offset: Int, _: T.Type) -> T {
    T(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: T.self))
}

func storeLE<T: FixedWidthInteger>(_ p: UnsafeMutableRawPointer, _ offset: Int, _ v: T) {
    p.storeBytes(of: v.littleEndian, toByteOffset: offset, as: T.self)
}

// MARK: failing loudly

/// Where the fuzzer is, for a crash report: written by the loop, read by the signal handler.
nonisolated(unsafe) let crashContext = UnsafeMutablePointer<UInt8>.allocate(capacity: 512)
nonisolated(unsafe) var crashContextLength = 0

func setContext(_ text: String) {
    var t = text
    t.withUTF8 { b in
        let n = min(b.count, 511)
        crashContext.update(from: b.baseAddress!, count: n)
        crashContextLength = n
    }
}

var contextText: String { String(decoding: UnsafeBufferPointer(start: crashContext, count: crashContextLength), as: UTF8.self) }

/// The socket part's path, removed when the fuzzer fails or crashes (a C string: the signal
/// handler reads it).
nonisolated(unsafe) let socketPath = UnsafeMutablePointer<CChar>.allocate(capacity: 256)

func setSocketPath(_ path: String?) {
    socketPath[0] = 0
    guard let path, path.utf8.count < 255 else { return }
    for (i, c) in path.utf8.enumerated() { socketPath[i] = CChar(bitPattern: c) }
    socketPath[path.utf8.count] = 0
}

/// A broken invariant: the fuzzer found a bug without a crash. Exit status 1.
func fail(_ message: String) -> Never {
    if socketPath[0] != 0 { unlink(socketPath) }
    fflush(nil)
    var text = "vhost-fuzz: INVARIANT BROKEN in \(contextText): \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(1)
}

/// Guard pages and retired mappings, for the signal handler to say where a fault landed.
/// Fixed-size tables: the handler must not allocate.
enum GuardTable {
    static let capacity = 4096
    nonisolated(unsafe) static let starts = UnsafeMutablePointer<UInt>.allocate(capacity: capacity)
    nonisolated(unsafe) static let ends = UnsafeMutablePointer<UInt>.allocate(capacity: capacity)
    /// 0 free, 1 guard page, 2 retired (a region's memory after the frontend replaced it).
    nonisolated(unsafe) static let kinds = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    nonisolated(unsafe) static var used = 0

    static func setUp() { kinds.initialize(repeating: 0, count: capacity) }

    static func add(_ start: UnsafeMutableRawPointer, _ length: Int, kind: UInt8) -> Int {
        for i in 0..<capacity where kinds[i] == 0 {
            starts[i] = UInt(bitPattern: start)
            ends[i] = UInt(bitPattern: start) + UInt(length)
            kinds[i] = kind
            used = max(used, i + 1)
            return i
        }
        fail("guard table full")
    }

    static func remove(_ slot: Int) { kinds[slot] = 0 }
}

private nonisolated(unsafe) let previousActions = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
private nonisolated(unsafe) let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)

private func emit(_ s: StaticString) { _ = write(2, s.utf8Start, s.utf8CodeUnitCount) }
private func emitHex(_ v: UInt) {
    var n = 0
    var x = v
    repeat {
        let d = UInt8(x & 0xf)
        scratch[n] = d < 10 ? 48 + d : 87 + d
        n += 1
        x >>= 4
    } while x != 0
    scratch[n] = 120; scratch[n + 1] = 48  // reversed "0x"
    n += 2
    var i = 0, j = n - 1
    while i < j { let t = scratch[i]; scratch[i] = scratch[j]; scratch[j] = t; i += 1; j -= 1 }
    _ = write(2, scratch, n)
}

private let crashHandler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { sig, info, _ in
    emit("\nvhost-fuzz: CRASH (signal ")
    emitHex(UInt(sig))
    emit(") in ")
    _ = write(2, crashContext, crashContextLength)
    if sig == SIGALRM {
        emit(": no progress for 60 s (a hang)")
    } else if sig == SIGSEGV || sig == SIGBUS, let info {
        let address = UInt(bitPattern: info.pointee._sifields._sigfault.si_addr)
        emit(", fault address ")
        emitHex(address)
        var said = false
        for i in 0..<GuardTable.used where GuardTable.kinds[i] != 0 && address >= GuardTable.starts[i] && address < GuardTable.ends[i] {
            if GuardTable.kinds[i] == 1 { emit(": inside a PROT_NONE guard page next to a guest memory region") }
            else { emit(": inside a retired region (memory the frontend replaced; a stale ring pointer)") }
            said = true
            break
        }
        if !said && sig == SIGBUS { emit(": SIGBUS (a mapped file shorter than the mapping?)") }
    }
    emit("\n")
    if socketPath[0] != 0 { unlink(socketPath) }
    // Hand the signal to whoever had it before (the Swift runtime's backtracer or the default):
    // for a fault, returning re-runs the faulting instruction under the restored action.
    sigaction(sig, previousActions + Int(sig), nil)
    if sig == SIGALRM || sig == SIGABRT { raise(sig) }
}

func installCrashHandlers() {
    GuardTable.setUp()
    socketPath[0] = 0
    for sig in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT, SIGALRM] {
        var sa = sigaction()
        sa.__sigaction_handler.sa_sigaction = crashHandler
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK
        sigemptyset(&sa.sa_mask)
        sigaction(sig, &sa, previousActions + Int(sig))
    }
}

/// The watchdog: an input that takes a minute is a hang (SIGALRM ends the process).
func watchdog() { alarm(60) }

// MARK: the machine

func openDescriptorCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    var n = 0
    while let e = readdir(dir) {
        if e.pointee.d_name.0 != 46 { n += 1 }  // not "." or ".."
    }
    closedir(dir)
    return n - 1  // the directory's own descriptor
}

func cpuModel() -> String {
    guard let f = fopen("/proc/cpuinfo", "r") else { return "unknown" }
    defer { fclose(f) }
    var line: UnsafeMutablePointer<CChar>? = nil
    var cap = 0
    defer { free(line) }
    while getline(&line, &cap, f) > 0, let line {
        let s = String(cString: line)
        if s.hasPrefix("model name"), let colon = s.firstIndex(of: ":") {
            return String(s[s.index(after: colon)...]).trimmingSpaces
        }
    }
    return "unknown"
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\n" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" { s.removeLast() }
        return String(s)
    }
}

/// `--guards-only`: the rings part without its reference walker (guard pages and the
/// pieces-inside-regions check only), to show what the guard pages catch on their own.
nonisolated(unsafe) var guardsOnly = false

/// `--trace`: each codec message and its outcome on stdout (for replaying one episode).
nonisolated(unsafe) var tracing = false

func trace(_ text: @autoclosure () -> String) {
    if tracing { print(text()); fflush(nil) }
}

func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }
