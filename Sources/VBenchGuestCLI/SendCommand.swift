import ArgumentParser
import FoundationEssentials
import VBenchCore
import VBenchUplink
import VBenchWire

/// `vbench send`: deliver spooled records (and record files) to a collector.
public struct SendCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send spooled runs, and any record files given, to a collector.",
        discussion: """
            Records stay in the spool until the collector acknowledges them (stored or duplicate).
            tls://HOST:PORT sends over TLS: the collector's certificate must be signed by --tls-ca
            and name HOST; --tls-cert and --tls-key answer a collector that verifies client
            certificates. --token-file answers a collector that asks for a token.
            """
    )

    @Option(help: ArgumentHelp("The collector: vsock://2:PORT, serial:PATH, unix:PATH, tcp://HOST:PORT or tls://HOST:PORT (TCP with TLS).", valueName: "endpoint"))
    var to: String

    @Option(help: ArgumentHelp("The spool folder.", valueName: "dir"))
    var spool: String = "results/spool"

    @Option(help: ArgumentHelp("Seconds to wait for the connection and the acks.", valueName: "seconds"))
    var timeout: Double = 15

    @OptionGroup var security: SenderSecurityOptions

    @Argument(help: ArgumentHelp("RunRecord JSON files to send as well.", valueName: "file"))
    var files: [String] = []

    public func validate() throws {
        try security.check(to, option: "--to")
        guard timeout > 0 else { throw ValidationError("--timeout must be more than 0; got \(timeout)") }
    }

    public func run() throws {
        var records: [RunRecord] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: f) else {
                throw VBenchFailure(.error, "cannot read \(f); name a RunRecord JSON file")
            }
            do { records.append(try RunRecord.decode(data)) } catch {
                throw VBenchFailure(.error, "\(f): \(error)")
            }
        }
        let spoolFolder = Spool(directory: spool)
        let unreadable = try spoolFolder.load().unreadable
        for u in unreadable { note("\(u) is not a readable RunRecord; left in place") }
        let uplink: Uplink
        do { uplink = try security.uplink(to: to, timeout: .nanoseconds(Int64(timeout * 1e9))) } catch {
            throw VBenchFailure(.usage, "\(error)")
        }
        let outcome: Delivery.Outcome
        do { outcome = try Delivery(uplink: uplink, spool: spoolFolder).deliver(records) } catch {
            throw VBenchFailure(.error, "\(error)")
        }
        print("stored \(outcome.stored), already stored \(outcome.duplicates), still spooled \(outcome.spooled)")
        if let failure = outcome.failure { throw VBenchFailure(.error, failure) }
    }
}
