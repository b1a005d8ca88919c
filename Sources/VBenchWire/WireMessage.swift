import FoundationEssentials
import NIOCore
import VBenchCore

/// The first message of each side.
public struct Hello: Codable, Sendable, Equatable {
    public var protocolVersion: Int
    public var toolVersion: String
    /// `uplink` (a guest sending records) or `collector`.
    public var role: String
    /// The record schema versions this side reads (a collector) or can write (an uplink). Absent
    /// in the hello of vbench before record schema 2: such a peer speaks version 1 only.
    public var recordSchemaVersions: [Int]?
    /// An uplink's token, for a collector that takes records only from token holders
    /// (`--token-file`); absent otherwise, and ignored by a collector that asks for none.
    public var token: String?
    /// A collector's largest frame payload (`vbench collect --max-frame-bytes`): an uplink does
    /// not send a record it would refuse, and says why. Absent from older collectors.
    public var maxPayloadBytes: Int?

    public init(protocolVersion: Int = Int(WireFrame.version), toolVersion: String = VBenchVersion.current, role: String,
                recordSchemaVersions: [Int]? = Array(RunRecord.readableSchemaVersions), token: String? = nil, maxPayloadBytes: Int? = nil) {
        self.protocolVersion = protocolVersion
        self.toolVersion = toolVersion
        self.role = role
        self.recordSchemaVersions = recordSchemaVersions
        self.token = token
        self.maxPayloadBytes = maxPayloadBytes
    }

    /// The newest record schema version both sides know: what an uplink writes after reading
    /// the collector's hello.
    public func agreedRecordSchemaVersion() -> Int {
        Set(recordSchemaVersions ?? [1]).intersection(RunRecord.readableSchemaVersions).max() ?? 1
    }
}

/// The collector's answer to a record, sent only after the record is durably stored.
public struct Ack: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Stored now.
        case stored
        /// A record with this run id was stored before; nothing changed.
        case duplicate
    }
    public var runId: UUID
    public var status: Status

    public init(runId: UUID, status: Status) {
        self.runId = runId
        self.status = status
    }
}

/// A refusal or failure, with a code machines can branch on and a message for people.
public struct WireFailure: Codable, Sendable, Equatable, Error {
    /// `unsupported-version`, `invalid-record`, `too-large`, `not-allowed`, `unauthenticated`, `store-failed`, `protocol`.
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// A message of wire protocol v1. Payloads are JSON (UTF-8).
public enum WireMessage: Sendable, Equatable {
    case hello(Hello)
    case record(RunRecord)
    case ack(Ack)
    case error(WireFailure)
    case event(LabEvent)

    /// The frame that carries this message; a record is written in `recordSchemaVersion`.
    public func frame(allocator: ByteBufferAllocator = ByteBufferAllocator(),
                      recordSchemaVersion: Int = RunRecord.currentSchemaVersion) throws -> WireFrame {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let (type, data): (FrameType, Data) = switch self {
        case .hello(let h): (.hello, try encoder.encode(h))
        case .record(let r): (.record, try r.jsonData(pretty: false, schemaVersion: recordSchemaVersion))
        case .ack(let a): (.ack, try encoder.encode(a))
        case .error(let e): (.error, try encoder.encode(e))
        case .event(let e): (.event, try encoder.encode(e))
        }
        return WireFrame(type: type, payload: allocator.buffer(bytes: data))
    }

    /// Reads the message a frame carries; a record is checked as `RunRecord.decode` checks it.
    public init(frame: WireFrame) throws(WireFailure) {
        let data = Data(frame.payload.readableBytesView)
        let decoder = JSONDecoder()
        do {
            switch frame.type {
            case .hello: self = .hello(try decoder.decode(Hello.self, from: data))
            case .ack: self = .ack(try decoder.decode(Ack.self, from: data))
            case .error: self = .error(try decoder.decode(WireFailure.self, from: data))
            case .event: self = .event(try decoder.decode(LabEvent.self, from: data))
            case .record:
                do { self = .record(try RunRecord.decode(data)) } catch {
                    switch error {
                    case .unsupportedSchemaVersion: throw WireFailure(code: "unsupported-version", message: "\(error)")
                    case .malformed: throw WireFailure(code: "invalid-record", message: "\(error)")
                    }
                }
            }
        } catch let failure as WireFailure {
            throw failure
        } catch {
            throw WireFailure(code: "protocol", message: "malformed \(frame.type) message: \(error)")
        }
    }
}
