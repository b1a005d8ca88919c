import ArgumentParser
import VBenchCore
import VBenchGuestCLI
import VBenchSystem

/// The root command: lists the subcommands.
@main
struct VBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vbench",
        abstract: "Measure how far a guest's disks, NICs and memory are from the bare host.",
        discussion: """
            Exit codes: 0 ok, 1 error, 2 regression found, 3 a benchmark failed, 5 compare's baseline missing, 64 usage.
            """,
        version: VBenchVersion.current,
        subcommands: [RunCommand.self, ServeCommand.self, Collect.self, SendCommand.self, ProbeCommand.self, Runs.self, Import.self, Report.self, Compare.self, Capacity.self, Lab.self]
    )

    /// Starts from a clean signal mask (see ProcessControl.unblockAllSignals), then runs the
    /// command as ArgumentParser's own main does.
    static func main() {
        ProcessControl.unblockAllSignals()
        GuestCLI.store = StoreForRuns()
        GuestCLI.tls = TLSForSenders()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            VBenchExit.exit(for: error, command: self)
        }
    }
}
