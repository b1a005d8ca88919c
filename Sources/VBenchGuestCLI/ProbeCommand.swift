import ArgumentParser
import FoundationEssentials
import Glibc
import VBenchCore
import VBenchProbe
import VBenchSystem

/// `vbench probe`: devices, drivers, classes, hypervisor, advice.
public struct ProbeCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "List disks and NICs with their drivers and classes, identify the hypervisor, and audit what the guest is missing."
    )

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Read /sys and /proc under this folder instead of /.", valueName: "dir"))
    var root: String = "/"

    @Option(help: ArgumentHelp("Copy every file the probe reads into this folder (to make a fixture).", valueName: "dir"))
    var record: String?

    @Flag(help: ArgumentHelp("Measure a clock read under every available clocksource, switching to each and back (needs root; the audit otherwise measures the one in use)."))
    var clockCost = false

    public func validate() throws {
        if clockCost, root != "/" { throw ValidationError("--clock-cost measures the live system; drop it or --root \(root)") }
        if clockCost, geteuid() != 0 { throw ValidationError("--clock-cost switches the kernel's clocksource and needs root; run it with sudo, or leave it out to measure only the clocksource in use") }
        if root != "/", !FileStatusCheck.isDirectory(root) {
            throw ValidationError("--root \(root) is not a folder; name a recorded tree such as Tests/Fixtures/qemu-kvm-virtio")
        }
    }

    public func run() throws {
        let recorder = record.map { TreeRecorder(destination: $0) }
        let report = SystemProbe(fs: RootedFileSystem(root: root, recorder: recorder), clockCost: clockCost ? .every : nil).report()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(ProbeTable.render(report))
        }
        if let recorder, !recorder.failedPaths.isEmpty {
            throw VBenchFailure(.error, "could not record \(recorder.failedPaths.count) paths into \(recorder.destination), first \(recorder.failedPaths[0])")
        }
    }
}

public enum FileStatusCheck {
    public static func isDirectory(_ path: String) -> Bool {
        ((try? FileStatus.of(path)) ?? nil)?.kind == .directory
    }

    public static func exists(_ path: String) -> Bool {
        ((try? FileStatus.of(path)) ?? nil) != nil
    }
}
