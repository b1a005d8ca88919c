import ArgumentParser
import FoundationEssentials
import VBenchCore
import VBenchReport
import VBenchNet
import VBenchProbe
import VBenchSystem

/// Options of `vbench run --device net`.
struct NetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("--device net: the host running vbench serve (HOST or HOST:PORT, port 5201 by default).", valueName: "host[:port]"))
    var peer: String?

    @Option(help: ArgumentHelp("--device net: the interface to test through (bound with SO_BINDTODEVICE), or auto: every non-loopback interface with a route to the peer, one record each; repeatable.", valueName: "name|auto"))
    var iface: [String] = []

    @Option(help: ArgumentHelp("--device net: parallel connections of the multi-stream tests.", valueName: "n"))
    var streams: Int = 4

    @Option(help: ArgumentHelp("--device net: only stream tests this way: send (to the peer) or recv (from it). Default: both.", valueName: "way"))
    var direction: StreamDirection?

    @Option(name: .customLong("message-size"), help: ArgumentHelp("--device net: bytes per write in stream tests.", valueName: "size"))
    var messageSize: String = "128k"

    @Option(name: .customLong("rr-size"), help: ArgumentHelp("--device net: request and response size of the sized request/response test (besides 1 byte).", valueName: "size"))
    var rrSize: String = "1k"

    var peerHostPort: (String, UInt16)? {
        guard let p = peer else { return nil }
        if let hp = HostPort(argument: p), !p.hasSuffix("]") { return (hp.host, hp.port) }
        let host = p.hasPrefix("[") && p.hasSuffix("]") ? String(p.dropFirst().dropLast()) : p
        return (host, 5201)
    }

    func check() throws {
        guard peer != nil else { throw ValidationError("--device net needs --peer HOST[:PORT] (a machine running vbench serve)") }
        guard peerHostPort != nil else { throw ValidationError("--peer must be HOST or HOST:PORT; got '\(peer ?? "")'") }
        guard (1...128).contains(streams) else { throw ValidationError("--streams must be 1…128; got \(streams)") }
        guard let m = ByteCount.parse(messageSize), (1...(16 << 20)).contains(m) else { throw ValidationError("--message-size must be 1…16m; got '\(messageSize)'") }
        guard let r = ByteCount.parse(rrSize), (1...(16 << 20)).contains(r) else { throw ValidationError("--rr-size must be 1…16m; got '\(rrSize)'") }
    }
}

/// `--direction`: which way stream tests carry the payload.
enum StreamDirection: String, ExpressibleByArgument {
    case send, recv
    var net: NetDirection { self == .send ? .send : .receive }
}

/// `vbench run --device net`: the standard network workloads against a `vbench serve` peer,
/// one record per interface.
struct NetRunService {
    var net: NetOptions
    var seconds: Double
    var repetitions: Int
    var output: OutputOptions
    var tests: Set<NetTest>?

    func run() -> ExitCode {
        let fs = RootedFileSystem()
        let environment = SystemProbe(fs: fs).environment()
        let inventory = DeviceInventory(fs: fs, hypervisor: environment.hypervisor.vendor)
        let tags: [String: String]
        do { tags = try output.parsedTags() } catch { return fail("\(error)", code: VBenchExit.usage) }
        let (host, port) = net.peerHostPort!
        // Interfaces: as named (bound with SO_BINDTODEVICE), or auto: every non-loopback
        // interface with a route to the peer, each bound to its interface when there are
        // several; a peer on this machine (loopback) has no such route: then the one the
        // kernel picks, unbound.
        var chosen: [(name: String, bind: Bool)] = []
        for i in (net.iface.isEmpty ? ["auto"] : net.iface) {
            guard i == "auto" else { chosen.append((i, true)); continue }
            guard let address = Interfaces.addressBytes(host) else {
                return fail("--peer \(host): --iface auto needs a numeric address (names are not resolved); pass an address or --iface NAME", code: VBenchExit.usage)
            }
            let table = fs.readString(address.count == 4 ? "/proc/net/route" : "/proc/net/ipv6_route") ?? ""
            let routes = address.count == 4 ? Interfaces.parseIPv4Routes(table) : Interfaces.parseIPv6Routes(table)
            // The kernel's own choice first: a peer on this machine goes over loopback whatever
            // the main table says (the local table wins; a default route covers 127.0.0.1 too).
            guard let source = Interfaces.sourceAddress(toward: host), let kernelChoice = Interfaces.name(holding: source) else {
                return fail("no route to \(host); check the address, or pass --iface NAME", code: VBenchExit.error)
            }
            var routed = Interfaces.interfaces(routing: address, routes: routes)
            if kernelChoice == "lo" || routed.isEmpty { routed = [kernelChoice] }
            chosen += routed.map { ($0, routed.count > 1) }
        }
        var seen = Set<String>()
        chosen = chosen.filter { seen.insert($0.name).inserted }
        if chosen.count > 1 { note("testing \(chosen.count) interfaces toward \(host): \(chosen.map(\.name).joined(separator: ", "))") }
        var worst = VBenchExit.ok
        for (name, bindIt) in chosen {
            guard let device = inventory.nic(named: name) else {
                note("no interface \(name) here (see vbench probe); skipped")
                worst = VBenchExit.error
                continue
            }
            let bind = bindIt ? name : nil
            let live = ProgressLine()
            let start = Date()
            var workloads: [WorkloadResult] = []
            do {
                let client = try NetClient(host: host, port: port, device: bind)
                let specs = NetProfile.workloads(peer: "\(host):\(port)", interface: name, streams: net.streams,
                                                 messageSize: Int(ByteCount.parse(net.messageSize) ?? 131072),
                                                 rrSize: Int(ByteCount.parse(net.rrSize) ?? 1024), seconds: seconds, repetitions: repetitions,
                                                 tests: tests, directions: net.direction.map { [$0.net] })
                for (i, spec) in specs.enumerated() {
                    live.show("\(name): \(spec.name) (\(i + 1)/\(specs.count))")
                    workloads.append(try client.run(spec, seconds: seconds, repetitions: repetitions))
                }
            } catch {
                live.clear()
                note("\(name): \(error)")
                worst = VBenchExit.benchmarkFailed
                continue
            }
            live.clear()
            let record = RunRecord(runId: UUID(), startTime: start, endTime: Date(), role: output.native ? .native : .guest,
                                   tool: ToolInfo(), tags: tags, environment: environment, device: device, family: "net",
                                   target: nil, workloads: workloads)
            let code = output.emit(record, table: NetTable.render(record))
            if code.rawValue > worst.rawValue { worst = code }
        }
        return worst
    }
}

/// The table `vbench run --device net` prints.
enum NetTable {
    static func render(_ r: RunRecord) -> String {
        var table = ReportTable(title: "", header: ["NIC", "DRIVER", "CLASS", "MTU", "WORKLOAD", "RESULT", "P50", "P99", "RETRANS", "COV", "N"],
                              numeric: [3, 5, 6, 7, 8, 9, 10])
        for w in r.workloads {
            guard let spec = w.spec.net else { continue }
            let key = spec.test == .stream ? Metric.throughput.key : spec.test == .rr ? Metric.transactions.key : Metric.connections.key
            guard let s = w.summary[key] else { continue }
            let result = spec.test == .stream ? formatFixed(s.median / 1e9, digits: 2) + " Gbit/s"
                : BlockTable.formatCount(s.median) + (spec.test == .rr ? " trans/s" : " conn/s")
            let p50 = w.latencyNs?.percentiles["p50"].map(BlockTable.formatDuration) ?? "-"
            let p99 = w.latencyNs?.percentiles["p99"].map(BlockTable.formatDuration) ?? "-"
            let retrans = w.summary[Metric.retransmits.key].map { formatFixed($0.median, digits: 0) } ?? "-"
            table.append([r.device.name, r.device.driver ?? "-", r.device.deviceClass.rawValue, r.device.mtuBytes.map(String.init) ?? "-",
                               w.name, result, p50, p99, retrans, formatFixed(s.cov * 100, digits: 1) + "%", "\(w.repetitions.count)"])
        }
        return "network of \(r.role == .native ? "the native host" : "a guest") on \(r.environment.hypervisor.vendor.displayName), kernel \(r.environment.kernelRelease), peer \(r.workloads.first?.spec.net?.peer ?? "-")\n"
            + TableRenderer.text(table)
            + "\nStreams: goodput at the receiver, median of repetitions; request/response: transactions/s and round-trip latency."
    }
}
