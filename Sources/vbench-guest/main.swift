import ArgumentParser
import VBenchCore
import VBenchGuestCLI
import VBenchSystem

/// The guest binary: the guest-side commands of vbench, no store, no PostgreSQL, no TLS, no full
/// Foundation. What users copy into every VM and the lab packs into its appliance; records go
/// to files under --out and to a collector (run --send, send).
struct VBenchGuest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vbench",
        abstract: "Measure a guest's disks, NICs and memory (the guest binary: probe, run, send, serve, lab agent).",
        discussion: """
            The full vbench (collect, report, compare, capacity, lab, a results store, TLS) runs on
            the host; this binary keeps records as files under --out and sends them to its collector.
            Exit codes: 0 ok, 1 error, 3 a benchmark failed, 64 usage.
            """,
        version: VBenchVersion.current,
        subcommands: [RunCommand.self, ServeCommand.self, SendCommand.self, ProbeCommand.self, GuestLabCommand.self]
    )

    /// Starts from a clean signal mask, then runs the command as ArgumentParser's main does.
    static func main() {
        ProcessControl.unblockAllSignals()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            VBenchExit.exit(for: error, command: self)
        }
    }
}

VBenchGuest.main()
