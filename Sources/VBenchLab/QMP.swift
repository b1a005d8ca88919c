import Foundation
import VBenchSystem

/// A client of QEMU's QMP monitor (JSON lines over a Unix socket): the greeting, capability
/// negotiation, then one command at a time; asynchronous events are skipped.
public final class QMPClient {
    let socket: TCPSocket
    private var buffer: [UInt8] = []

    /// Connects to `path` (QEMU started with `-qmp unix:PATH,server=on,wait=off`), retrying
    /// for `timeout` seconds while QEMU comes up, and negotiates capabilities.
    public init(path: String, timeout: Double = 10) throws {
        let deadline = Clock.monotonicNs() + UInt64(timeout * 1e9)
        var s: TCPSocket?
        var lastError = ""
        while s == nil {
            do { s = try TCPSocket.connectUnix(path: path) } catch {
                lastError = "\(error)"
                guard Clock.monotonicNs() < deadline else { throw LabError("QMP at \(path): \(lastError)") }
                Clock.sleep(nanoseconds: 100_000_000)
            }
        }
        socket = s!
        socket.setReceiveTimeout(ms: Int(timeout * 1000))
        guard let greeting = try readObject(), greeting["QMP"] != nil else { throw LabError("QMP at \(path): no greeting") }
        _ = try execute("qmp_capabilities")
    }

    /// Runs `command` and returns its `return` value; a QMP `error` throws with its description.
    @discardableResult
    public func execute(_ command: String, _ arguments: [String: Any] = [:]) throws -> Any {
        var message: [String: Any] = ["execute": command]
        if !arguments.isEmpty { message["arguments"] = arguments }
        var data = try JSONSerialization.data(withJSONObject: message)
        data.append(0x0a)
        guard data.withUnsafeBytes({ socket.sendAll($0.baseAddress!, $0.count) }) else { throw LabError("QMP \(command): QEMU closed the monitor") }
        while true {
            guard let reply = try readObject() else { throw LabError("QMP \(command): no reply") }
            if reply["event"] != nil { continue }
            if let e = reply["error"] as? [String: Any] { throw LabError("QMP \(command): \(e["desc"] ?? e)") }
            if let r = reply["return"] { return r }
        }
    }

    func readObject() throws -> [String: Any]? {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let nl = buffer.firstIndex(of: 0x0a) {
                let line = Data(buffer[..<nl])
                buffer.removeSubrange(...nl)
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0d }) { continue }
                return try JSONSerialization.jsonObject(with: line) as? [String: Any]
            }
            guard buffer.count < 1 << 20 else { return nil }
            let n = chunk.withUnsafeMutableBytes { socket.receive($0.baseAddress!, $0.count) }
            if n == 0 { return nil }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    /// Limits drive `device` (the `-drive id=`) to `iops` operations per second, reads and
    /// writes together (QEMU's throttling.iops-total); 0 removes the limit.
    public func setIOPSLimit(device: String, iops: Int) throws {
        try execute("block_set_io_throttle", ["device": device, "bps": 0, "bps_rd": 0, "bps_wr": 0,
                                               "iops": iops, "iops_rd": 0, "iops_wr": 0])
    }

    /// The drive's current IOPS limit, as `query-block` reports it.
    public func iopsLimit(device: String) throws -> Int? {
        guard let blocks = try execute("query-block") as? [[String: Any]] else { return nil }
        for b in blocks where b["device"] as? String == device {
            return (b["inserted"] as? [String: Any])?["iops"] as? Int
        }
        return nil
    }

    public func close() { socket.close() }
}
