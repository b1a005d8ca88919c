import ArgumentParser
import VBenchGuestCLI
import FoundationEssentials
import NIOCore
import VBenchCollector
import VBenchCore
import VBenchReport
import VBenchPostgres
import VBenchStore
import VBenchStoreAPI
import VBenchSystem
import VBenchWire

extension VBench {
    /// `vbench collect`: receive records from guests and store them.
    struct Collect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Receive runs from guests over vsock, a Unix socket or TCP and store them.",
            discussion: """
                Each record is validated, stored in one transaction and only then acknowledged;
                a run id already stored is acknowledged as a duplicate. SIGINT or SIGTERM lets
                in-flight records finish, then exits 0. vsock is used only on a hypervisor host
                (one with /dev/vhost-vsock) or inside a vbench lab guest over vsock_loopback;
                elsewhere the default listen address is unix:PATH. On any host, guests of your
                own QEMU reach the collector over AF_VSOCK through vhost-user-vsock:PATH: the
                collector serves the device for `-chardev socket,id=v,path=PATH -device
                vhost-user-vsock-pci,chardev=v` (guest memory must be shared:
                `-object memory-backend-memfd,id=mem,size=SIZE,share=on -numa node,memdev=mem`),
                and the guest sends to vsock://2:PORT. Start the collector before QEMU.

                A tcp:// listener beyond loopback (anything but 127.0.0.0/8, ::1 and localhost)
                must authenticate its senders: TLS with client certificates (--tls-cert,
                --tls-key, --tls-client-ca) or a token (--token-file), or both; without either
                collect refuses to start (exit 64). The options apply to every tcp:// listener,
                loopback too. The sender's identity (tls:SUBJECT or token:NAME) is stored before
                its transport peer. Senders send to tls://HOST:PORT (docs/collect.md).
                """
        )

        @Option(name: .customLong("listen"),
                help: ArgumentHelp("vsock://any:PORT, unix:PATH, tcp://HOST:PORT or vhost-user-vsock:PATH[,cid=N][,port=P] (guest CID N, default 3; port P, default 5000) (repeatable). Default: vsock://any:5000 on a vsock host, else unix:results/vbench.sock.", valueName: "endpoint"))
        var listen: [String] = []

        @Option(help: ArgumentHelp("The results store: a SQLite file, or postgres://USER@HOST:PORT/DATABASE shared by many collectors (password from PGPASSWORD or a passfile).", valueName: "path|url"))
        var store: String = "results/vbench.sqlite"

        @Option(name: .customLong("host-label"), help: ArgumentHelp("The name stored with every record this collector receives (default: this host's name); report, compare and capacity select and group by it.", valueName: "name"))
        var hostLabel: String?

        @Option(help: ArgumentHelp("Serve the latest results and the collector's counters for Prometheus at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464).", valueName: "host:port"))
        var metrics: String?

        @Option(name: .customLong("store-retry"), help: ArgumentHelp("PostgreSQL: keep retrying a lost or restarting server this long before refusing records (senders keep them and resend).", valueName: "seconds"))
        var storeRetry: Double = 60

        @Option(name: .customLong("max-frame-bytes"), help: "Largest record accepted, in bytes.")
        var maxFrameBytes: Int = WireFrame.defaultMaxPayloadBytes

        @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Close a connection silent for this long.", valueName: "seconds"))
        var idleTimeout: Double = 60

        @Option(name: .customLong("max-connections"), help: "Connections served at once.")
        var maxConnections: Int = 256

        @Option(name: .customLong("allow-cid"), help: ArgumentHelp("Accept vsock records only from this guest CID (repeatable).", valueName: "cid"))
        var allowCID: [UInt32] = []

        @OptionGroup var security: ListenerSecurityOptions

        @Flag(name: .customLong("json-log"), help: "Log one JSON object per event on standard output.")
        var jsonLog = false

        func validate() throws {
            let endpoints = try listen.map { l in
                do { return try Endpoint(l) } catch { throw ValidationError("--listen: \(error)") }
            }
            try security.check(endpoints)
            guard (1024...(1 << 30)).contains(maxFrameBytes) else { throw ValidationError("--max-frame-bytes must be 1024…1073741824; got \(maxFrameBytes)") }
            guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be more than 0 seconds; got \(idleTimeout)") }
            guard maxConnections > 0 else { throw ValidationError("--max-connections must be at least 1; got \(maxConnections)") }
            do { _ = try StoreLocation(store) } catch { throw ValidationError(error.description) }
            if let m = metrics { do { _ = try MetricsAddress(m) } catch { throw ValidationError("\(error)") } }
            if let h = hostLabel, h.isEmpty || h.count > 200 { throw ValidationError("--host-label must be 1…200 characters") }
            guard storeRetry >= 0 && storeRetry <= 86_400 else { throw ValidationError("--store-retry must be 0…86400 seconds; got \(storeRetry)") }
        }

        func run() throws {
            Signals.blockTermination()
            FileLimits.raiseOpenFilesToMaximum()
            let vsockHost = Signals.isVsockHost()
            let endpoints = try (listen.isEmpty ? [vsockHost ? "vsock://any:5000" : "unix:results/vbench.sock"] : listen).map { try Endpoint($0) }
            let tcpSecurity: ListenerSecurity?
            do { tcpSecurity = try security.load() } catch { throw VBenchFailure(.usage, "\(error)") }
            let location = try StoreLocation(store)
            if case .sqlite(let path) = location {
                let storeDir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
                try AtomicFile.makeDirectories(storeDir.isEmpty ? "/" : storeDir)
            }
            for case .unix(let path) in endpoints {
                let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
                try AtomicFile.makeDirectories(dir.isEmpty ? "/" : dir)
            }
            let runStore: any RunStore
            do {
                runStore = try RunStores.open(location, create: true, retryWindow: .milliseconds(Int64(storeRetry * 1000)))
            } catch {
                throw VBenchFailure(.error, "\(error)")
            }
            defer { runStore.close() }
            var config = Collector.Configuration(endpoints: endpoints, collectorHost: hostLabel ?? hostName(),
                                                 collectorKernel: Signals.kernelRelease(),
                                                 vsockAllowed: vsockHost || Signals.isLabVsockLoopbackGuest())
            config.maxPayloadBytes = maxFrameBytes
            config.idleTimeout = .nanoseconds(Int64(idleTimeout * 1e9))
            config.maxConnections = maxConnections
            config.metrics = try metrics.map { try MetricsAddress($0) }
            config.tcpSecurity = tcpSecurity
            if !allowCID.isEmpty {
                guard endpoints.contains(where: { switch $0 { case .vsock, .vhostUserVsock: true; default: false } }) else {
                    throw VBenchFailure(.usage, "--allow-cid applies to vsock endpoints; none is listened on")
                }
                config.allowedCIDs = Set(allowCID)
            }
            let json = jsonLog
            let collector = Collector(configuration: config, store: runStore) { event in
                if json { CollectLog.json(event) } else if event.kind == .notice, let text = event.detail { note(text) }
            }
            if config.metrics != nil {
                do { try collector.seedLatest() } catch { note("metrics start empty: could not read the latest runs from the store (\(error))") }
            }
            let bound: [String]
            do { bound = try collector.start() } catch {
                collector.stop()
                throw VBenchFailure(.error, "\(error)")
            }
            for b in bound { note("listening on \(b)") }
            if let demands = security.demands { note("tcp senders need \(demands)") }
            note("storing in \(runStore.location) as host \(config.collectorHost); SIGINT or SIGTERM stops")
            let live = ProgressLine()
            while Signals.waitForTermination(timeoutNs: 1_000_000_000) == nil {
                let s = collector.stats
                live.show("guests connected \(s.connected), records stored \(s.stored), duplicates \(s.duplicates), rejected \(s.rejected)"
                          + (s.storeErrors > 0 ? ", store errors \(s.storeErrors)" : ""))
            }
            live.clear()
            collector.stop()
            let s = collector.stats
            for v in collector.vhostUserStatistics {
                let c = v.counters
                note("\(v.endpoint): \(v.frontends) frontends, \(c.connections) streams, \(c.bytesIn) bytes in, \(c.bytesOut) out, \(c.resets) resets, \(c.malformed + c.spoofed + c.creditViolations) packets refused")
            }
            note("stopped: \(s.connections) connections, \(s.stored) stored (\(s.storedBytes) bytes), \(s.duplicates) duplicates, \(s.rejected) rejected, \(s.storeErrors) store errors")
        }
    }
}

enum CollectLog {
    static func json(_ e: CollectorEvent) {
        var fields = ["\"event\":\"\(e.kind.rawValue)\"", "\"peer\":\(quote(e.peer))",
                      "\"time\":\"\(Date().formatted(.iso8601))\""]
        if let id = e.runId { fields.append("\"runId\":\"\(id.uuidString.lowercased())\"") }
        if let d = e.detail { fields.append("\"detail\":\(quote(d))") }
        print("{" + fields.joined(separator: ",") + "}")
        flushStandardOutput()
    }

    static func quote(_ s: String) -> String { JSONText.quote(s) }
}
