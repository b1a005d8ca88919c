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

    @Option(help: ArgumentHelp("Address and port to listen on (0.0.0.0, ::, or one address).", valueName: "addr:port"), transform: HostPort.parse)
    var listen = HostPort(host: "0.0.0.0", port: 5201)

    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Close a control connection silent this long.", valueName: "seconds"))
    var idleTimeout: Double = 60

    public func validate() throws {
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be more than 0 seconds") }
    }


    public func run() throws {
        Signals.blockTermination()
        let host = listen.host
        var config = NetServer.Configuration(host: host, port: listen.port)
        config.idleTimeoutMs = Int(idleTimeout * 1000)
        let server: NetServer
        do { server = try NetServer(configuration: config) } catch {
            throw VBenchFailure(.error, "cannot listen on \(listen): \(error)")
        }
        try ThreadGroup.detached { server.serve() }
        note("serving network tests on \(host):\(server.port); SIGINT or SIGTERM stops")
        while Signals.waitForTermination(timeoutNs: 1_000_000_000) == nil {}
        server.stop()
        note("stopped: \(server.testsServed) tests served, \(server.requestsRejected) requests refused")
    }
}
