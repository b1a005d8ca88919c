import ArgumentParser
import VBenchNet
import VBenchSystem

/// `vbench serve`: the peer of `vbench run --device net`.
public struct ServeCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve network tests to vbench run --device net (the peer, like iperf3 -s or netserver).",
        discussion: """
            One control connection per client sets up each test and its data connections;
            many clients at once. Garbage, over-long lines, a silent or vanished client end
            only their own connection. SIGINT or SIGTERM stops it.
            """
    )

    @Option(help: ArgumentHelp("Address and port to listen on (0.0.0.0, ::, or one address).", valueName: "addr:port"))
    var listen: String = "0.0.0.0:5201"

    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Close a control connection silent this long.", valueName: "seconds"))
    var idleTimeout: Double = 60

    public func validate() throws {
        guard Self.split(listen) != nil else { throw ValidationError("--listen must be ADDR:PORT (e.g. 0.0.0.0:5201 or [::1]:5201); got '\(listen)'") }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be more than 0 seconds") }
    }

    /// `1.2.3.4:5201`, `[::1]:5201` → (host, port).
    static func split(_ text: String) -> (String, UInt16)? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    public func run() throws {
        Signals.blockTermination()
        let (host, port) = Self.split(listen)!
        var config = NetServer.Configuration(host: host, port: port)
        config.idleTimeoutMs = Int(idleTimeout * 1000)
        let server: NetServer
        do { server = try NetServer(configuration: config) } catch {
            throw fail("cannot listen on \(listen): \(error)", code: VBenchExit.error)
        }
        try ThreadGroup.detached { server.serve() }
        note("serving network tests on \(host):\(server.port); SIGINT or SIGTERM stops")
        while Signals.waitForTermination(timeoutNs: 1_000_000_000) == nil {}
        server.stop()
        note("stopped: \(server.testsServed) tests served, \(server.requestsRejected) requests refused")
    }
}
