import ArgumentParser

/// An address and port on the command line: `0.0.0.0:5201`, `[::1]:5201`, `host:5201`.
public struct HostPort: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// `1.2.3.4:5201`, `[::1]:5201` → host and port; nil without a port or a host.
    public init?(argument text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    /// For `@Option(transform:)`: the same parse, with what to pass when it fails.
    public static func parse(_ text: String) throws -> HostPort {
        guard let v = HostPort(argument: text) else { throw ValidationError("must be ADDR:PORT (e.g. 0.0.0.0:5201 or [::1]:5201); got '\(text)'") }
        return v
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    public var defaultValueDescription: String { description }
}
