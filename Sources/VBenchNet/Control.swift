import FoundationEssentials
import VBenchCore
import VBenchSystem

/// The control protocol between `vbench run --device net` and `vbench serve`: one JSON object
/// per line on a control connection. The client says hello, then asks for one test at a time;
/// the server answers with a data port, serves the test on it, and reports its side's figures.
public struct ControlRequest: Codable, Sendable, Equatable {
    public enum Op: String, Codable, Sendable { case hello, stream, rr, crr, bye }
    public var op: Op
    public var version: Int?
    /// stream: `send` = the client sends to the server; `receive` = the server sends.
    public var direction: NetDirection?
    public var streams: Int?
    public var messageSize: Int?
    public var responseSize: Int?
    public var seconds: Double?

    public init(op: Op, version: Int? = nil, direction: NetDirection? = nil, streams: Int? = nil, messageSize: Int? = nil,
                responseSize: Int? = nil, seconds: Double? = nil) {
        self.op = op
        self.version = version
        self.direction = direction
        self.streams = streams
        self.messageSize = messageSize
        self.responseSize = responseSize
        self.seconds = seconds
    }
}

public struct ControlReply: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    public var version: Int?
    public var dataPort: UInt16?
    /// The server's side of a finished test.
    public var bytes: UInt64?
    public var transactions: UInt64?
    public var cpuNs: UInt64?
    public var elapsedNs: UInt64?
    public var retransmits: UInt64?

    public init(ok: Bool, error: String? = nil, version: Int? = nil, dataPort: UInt16? = nil, bytes: UInt64? = nil,
                transactions: UInt64? = nil, cpuNs: UInt64? = nil, elapsedNs: UInt64? = nil, retransmits: UInt64? = nil) {
        self.ok = ok
        self.error = error
        self.version = version
        self.dataPort = dataPort
        self.bytes = bytes
        self.transactions = transactions
        self.cpuNs = cpuNs
        self.elapsedNs = elapsedNs
        self.retransmits = retransmits
    }
}

/// Reads and writes JSON lines on a socket, with a bound on line length.
final class LineChannel: @unchecked Sendable {
    let socket: TCPSocket
    private var buffer: [UInt8] = []
    static let maxLine = 64 * 1024
    static let version = 1

    init(_ socket: TCPSocket) { self.socket = socket }

    func send<T: Encodable>(_ value: T) -> Bool {
        guard var data = try? JSONEncoder().encode(value) else { return false }
        data.append(0x0a)
        return data.withUnsafeBytes { socket.sendAll($0.baseAddress!, $0.count) }
    }

    /// The next line decoded as `T`; nil at EOF, on timeout, on garbage or an over-long line.
    func receive<T: Decodable>(_ type: T.Type) -> T? {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let nl = buffer.firstIndex(of: 0x0a) {
                let line = Data(buffer[..<nl])
                buffer.removeSubrange(...nl)
                return try? JSONDecoder().decode(T.self, from: line)
            }
            guard buffer.count < Self.maxLine else { return nil }
            let n = chunk.withUnsafeMutableBytes { socket.receive($0.baseAddress!, $0.count) }
            if n == 0 { return nil }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}
