import Glibc
import VBenchSystem
import VBenchVhostUser

/// Part 4: the same messages over the real thing — a `VhostUserVsockBackend` in this process,
/// listening on a Unix socket (a vhost-user socket, not AF_VSOCK), a frontend connection, and
/// descriptors passed with SCM_RIGHTS: with the header or with the payload, too many of them,
/// with headers the backend refuses (it drops the frontend), with messages cut short by a
/// disconnect. After every input the backend must answer a GET_CONFIG ping (or have dropped
/// the frontend and take a new one); after every episode the frontend goes away and the
/// process must be back to the descriptors it had (nothing the backend received is kept).
final class SocketFuzzer {
    var stats = PartStats(name: "socket")
    let generator: CodecFuzzer
    let path: String
    var backend: VhostUserVsockBackend?
    var frontend: Int32 = -1
    var baseline = 0
    var ping: UInt32 = 0

    init() {
        generator = CodecFuzzer(baselineDescriptors: 0)
        path = "/tmp/vhost-fuzz-\(getpid()).sock"
    }

    func start() {
        guard backend == nil else { return }
        do {
            backend = try VhostUserVsockBackend(configuration: .init(path: path, guestCID: 3, port: 5000),
                                                onConnection: { fd, _ in close(fd) }, onNotice: { _ in })
        } catch {
            fail("the backend did not start on \(path): \(error)")
        }
        setSocketPath(path)
        baseline = openDescriptorCount()
    }

    func stop() {
        if frontend >= 0 { close(frontend); frontend = -1 }
        backend?.stop()
        backend = nil
        setSocketPath(nil)
    }

    /// A frontend connection the backend took: it answers the ping. (Right after a drop the
    /// backend may still hold the old frontend and refuse the new one: try again.)
    func connectFrontend() {
        for _ in 0..<2000 {
            if let s = try? TCPSocket.connectUnix(path: path) {
                let fd = dup(s.fd)
                s.close()
                frontend = fd
                if sendPing() && awaitPing() { return }
                close(frontend)
                frontend = -1
            }
            usleep(1000)
        }
        fail("the backend took no new frontend within 2 s")
    }

    func episode(_ e: UInt64, seed: UInt64, inputs: Int) {
        generator.rng = Rng(seed: seed, part: 4, episode: e)
        connectFrontend()
        var rng = Rng(seed: seed, part: 40, episode: e)
        for i in 0..<inputs {
            setContext("socket episode \(e) input \(i)")
            stats.inputs += 1
            if frontend < 0 { connectFrontend() }
            let m = generator.randomMessage()
            var bytes = [UInt8]()
            bytes.put(m.request); bytes.put(m.flags); bytes.put(UInt32(truncatingIfNeeded: m.payload.count))
            bytes += m.payload
            if rng.chance(10) { rng.mutate(&bytes, rounds: rng.range(1...4)) }
            var fds = m.fds.filter { $0 >= 0 }
            // Extra descriptors: any message may carry some, a few carry more than the backend takes.
            if rng.chance(15) { for _ in 0..<(rng.chance(80) ? rng.range(1...2) : rng.range(8...10)) { if let p = try? Descriptors.eventFD() { fds.append(p) } } }
            let size = bytes.count >= 12 ? Int(bytes.getLE(UInt32.self, 8)) : 0
            let complete = bytes.count >= 12 && bytes.count - 12 >= size
            if complete { bytes = Array(bytes[0..<(12 + size)]) }  // one message, framed
            // Descriptors with the header, with the payload, or split between them.
            var headFDs = fds, bodyFDs: [Int32] = []
            if bytes.count > 12 && !fds.isEmpty && rng.chance(30) {
                let k = rng.below(fds.count + 1)
                headFDs = Array(fds[0..<k]); bodyFDs = Array(fds[k...])
            }
            trace("  request \(bytes.count >= 4 ? bytes.getLE(UInt32.self, 0) : 0) flags \(bytes.count >= 8 ? bytes.getLE(UInt32.self, 4) : 0) size field \(size), \(bytes.count) bytes\(complete ? "" : " (cut short)"), fds \(headFDs.count) with the header, \(bodyFDs.count) with the payload")
            var sent = true
            if bodyFDs.isEmpty {
                sent = (try? DescriptorPassing.send(frontend, bytes, descriptors: headFDs)) != nil
            } else {
                sent = (try? DescriptorPassing.send(frontend, Array(bytes[0..<12]), descriptors: headFDs)) != nil
                    && (try? DescriptorPassing.send(frontend, Array(bytes[12...]), descriptors: bodyFDs)) != nil
            }
            for fd in fds { close(fd) }  // the backend has its own copies now
            if !complete {
                // The frontend goes away inside a message.
                close(frontend)
                frontend = -1
                stats.rejected += 1
                stats.note("cut short")
            } else if sent && sendPing() && awaitPing() {
                stats.accepted += 1
            } else {
                // The backend dropped the frontend (a header it refused, descriptors it would not take).
                close(frontend)
                frontend = -1
                stats.rejected += 1
                stats.note("frontends dropped")
            }
            if i % 64 == 0 { watchdog() }
        }
        if frontend >= 0 { close(frontend); frontend = -1 }
        // The backend sees the frontend go, resets the device and closes what it holds.
        var now = openDescriptorCount()
        for _ in 0..<2000 where now != baseline {
            usleep(1000)
            now = openDescriptorCount()
        }
        if now != baseline { fail("\(now - baseline) descriptors still open 2 s after the frontend went away (the backend keeps what it was sent)") }
    }

    /// GET_CONFIG of 0 bytes whose flags carry a sequence number: its reply marks the end of
    /// the replies to the message before it.
    func sendPing() -> Bool {
        ping &+= 1
        var b = [UInt8]()
        b.put(UInt32(24)); b.put(UInt32(1)); b.put(UInt32(12))
        b.put(UInt32(0)); b.put(UInt32(0)); b.put(ping)
        return (try? DescriptorPassing.send(frontend, b)) != nil
    }

    /// Reads replies until the ping's; false when the backend closed the connection.
    func awaitPing() -> Bool {
        while true {
            guard let head = read(12) else { return false }
            let flags = head.getLE(UInt32.self, 4), size = Int(head.getLE(UInt32.self, 8))
            if flags != 5 || size > 4096 { fail("a reply with flags \(flags), \(size) bytes") }
            guard let payload = size > 0 ? read(size) : [] else { return false }
            if head.getLE(UInt32.self, 0) == 24 && payload.count == 12 && payload.getLE(UInt32.self, 8) == ping { return true }
        }
    }

    func read(_ count: Int) -> [UInt8]? {
        var out = [UInt8]()
        while out.count < count {
            var p = [pollfd(fd: frontend, events: Int16(POLLIN), revents: 0)]
            let n = poll(&p, 1, 10_000)
            if n == 0 { fail("the backend did not answer within 10 s (a hang)") }
            guard let part = try? DescriptorPassing.receive(frontend, count: count - out.count) else { return nil }
            for fd in part.descriptors { close(fd) }
            out += part.bytes
        }
        return out
    }
}
