import ArgumentParser
import VBenchGuestCLI
import Foundation
import VBenchCore
import VBenchReport
import VBenchLab
import VBenchPostgres
import VBenchStore
import VBenchStoreAPI
import VBenchSystem

extension VBench {
    /// `vbench lab`: real guests under QEMU with virtio and emulated devices.
    struct Lab: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Boot real guests under QEMU with a device matrix, run the harness inside, collect and compare.",
            discussion: """
                The guest kernel is Debian's linux-image package, fetched with apt-get download
                and unpacked into the lab cache (never installed here). Guests run under KVM only
                when a probe boot proves it works; otherwise under TCG, and every record says which.
                Records reach the store through the collector over virtio-serial. NICs sit on tap
                devices in a network namespace the lab creates (root, iproute2 and /dev/net/tun),
                with vbench serve inside as their peer: guests reach nothing else.
                """,
            subcommands: [Image.self, RunMatrix.self, Demo.self, Seeds.self, Crash.self, LabAgentCommand.self]
        )
    }
}

/// Options every lab subcommand shares.
struct LabOptions: ParsableArguments {
    @Option(name: .customLong("kernel"), help: ArgumentHelp("The Debian guest kernel (linux-image-VERSION); repeat it to run the matrix on each (default: \(GuestKernel.defaultVersion)).", valueName: "version"))
    var kernels: [String] = []

    var kernelVersions: [String] { kernels.isEmpty ? [GuestKernel.defaultVersion] : kernels }

    @Option(help: ArgumentHelp("A statically linked vbench for the guest (default: $VBENCH_LAB_BINARY, the guest binary .build-static/vbench-guest, .build-static/release/vbench, or this binary when static).", valueName: "path"))
    var binary: String?

    @Option(help: ArgumentHelp("Where kernels, appliances and boot logs are kept (default: $VBENCH_LAB_CACHE or /var/tmp/vbench-lab-cache).", valueName: "dir"))
    var cache: String?

    var labCache: LabCache { cache.map(LabCache.init(root:)) ?? .standard() }

    /// The static vbench for the guest, or a clear error naming how to build one.
    func staticBinary() throws -> String {
        var candidates: [String] = []
        if let b = binary { candidates = [b] } else {
            if let env = ProcessInfo.processInfo.environment["VBENCH_LAB_BINARY"] { candidates.append(env) }
            candidates.append(".build-static/vbench-guest")
            candidates.append(".build-static/release/vbench")
            candidates.append(CommandLine.arguments[0].contains("/") ? CommandLine.arguments[0] : "/proc/self/exe")
        }
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) {
            if binary != nil || (try? Appliance.isStaticExecutable(c)) == true { return c }
        }
        throw LabError("""
            no statically linked vbench for the guest\(binary.map { " at \($0)" } ?? ""). Build the guest binary (a few minutes):
                scripts/guest-binary .build-static/vbench-guest
            then pass --binary .build-static/vbench-guest (or set VBENCH_LAB_BINARY)
            """)
    }

    /// Checks the host tools the lab uses and names the package of each missing one.
    static func checkPrerequisites() throws {
        var missing: [String] = []
        if Subprocess.find("qemu-system-x86_64") == nil { missing.append("qemu-system-x86 (qemu-system-x86_64)") }
        if !FileManager.default.isExecutableFile(atPath: Appliance.busybox) { missing.append("busybox-static (/bin/busybox)") }
        if Subprocess.find("cpio") == nil { missing.append("cpio") }
        if Subprocess.find("dpkg-deb") == nil { missing.append("dpkg (dpkg-deb)") }
        if Subprocess.find("apt-get") == nil { missing.append("apt (apt-get)") }
        guard missing.isEmpty else {
            throw LabError("the lab needs: \(missing.joined(separator: ", ")). Install with: apt-get install -y qemu-system-x86 busybox-static cpio (scripts/deps does it)")
        }
    }

    /// The appliance of every --kernel (the first one alone where one guest kernel is enough).
    func appliances(log: (String) -> Void) throws -> [Appliance] {
        try Self.checkPrerequisites()
        let binary = try staticBinary()
        return try kernelVersions.map { version in
            let kernel = try GuestKernel.prepare(version: version, cache: labCache, log: log)
            return try Appliance.build(kernel: kernel, binary: binary, cache: labCache, log: log)
        }
    }
}

extension VBench.Lab {
    struct Image: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build (or find in the cache) the guest appliance: kernel, initramfs with busybox, vbench and drivers.")

        @OptionGroup var lab: LabOptions

        func run() throws {
            do {
                for a in try lab.appliances(log: note) {
                    print("kernel   \(a.kernel.image)")
                    print("initrd   \(a.initrd) (\(a.bytes) bytes, \(a.moduleCount) modules, hash \(a.hash))")
                }
            } catch let e as LabError {
                throw VBenchFailure(.error, e.message)
            }
        }
    }

    struct RunMatrix: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Boot guests with a device matrix, measure every disk inside, collect the records, and run the native baseline.")

        @OptionGroup var lab: LabOptions
        @OptionGroup var runOptions: LabRunOptions

        @Option(help: ArgumentHelp("blk (every disk model), net (virtio-net, e1000, vmxnet3), all (both), demo (virtio-blk, ide, ahci, nvme, virtio-net, e1000) or a JSON matrix file.", valueName: "matrix"))
        var matrix: String = "blk"

        func run() throws {
            try runOptions.execute(lab: lab, matrixName: matrix)
        }
    }

    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A quick lab run: virtio-blk vs ide vs ahci vs nvme against the native baseline, virtio-net vs e1000, as tables.",
            discussion: "Installs nothing: it checks qemu, busybox-static, cpio and the kernel package and says what is missing. Without root, iproute2 or /dev/net/tun it leaves out the NICs and says so. Under TCG it leaves out NVMe and says why (QEMU 7.2's emulated NVMe controller loses requests there).")

        @OptionGroup var lab: LabOptions
        @OptionGroup var runOptions: LabRunOptions

        func run() throws {
            try runOptions.execute(lab: lab, matrixName: "demo")
        }
    }
}

extension VBench.Lab {
    struct Crash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove the guest's spool durable: SIGKILL QEMU right after the guest spools a record, boot the same disk again, count what arrives.",
            discussion: """
                One ext4 disk image carries the guest's spool (vbench send --spool) from boot to
                boot. Each boot resends what is spooled, then spools new records one at a time,
                saying so on the console after each; the lab SIGKILLs QEMU the moment the 1st, 2nd,
                … line of the boot appears (in turn, so kills also land in the middle of the next
                record's write). A last boot resends and powers off. Passes when every record the
                guest said it spooled is in the store, whole (its hash checked), and nothing is
                left in the spool. Exit 0 passed, 1 a record lost or damaged, 64 usage.
                """)

        @OptionGroup var lab: LabOptions

        @Option(help: ArgumentHelp("How many boots end in SIGKILL.", valueName: "n"))
        var kills: Int = 20

        @Option(name: .customLong("per-boot"), help: ArgumentHelp("Records each boot spools (the kill comes after the 1st, 2nd, … of them in turn).", valueName: "n"))
        var perBoot: Int = 3

        @Option(help: ArgumentHelp("auto (KVM only after a probe boot proves it), kvm or tcg.", valueName: "accel"))
        var accel: Acceleration = .auto

        @Option(help: ArgumentHelp("How the records come home: vsock, vhost-user-vsock, vhost-vsock or serial (as lab run).", valueName: "transport"))
        var transport: String = "vsock"

        @Option(help: ArgumentHelp("The results store: a SQLite file or postgres://USER@HOST:PORT/DATABASE.", valueName: "path|url"))
        var store: String = "results/vbench.sqlite"

        @Option(name: .customLong("boot-timeout"), help: ArgumentHelp("Bound of one boot, in seconds.", valueName: "seconds"))
        var bootTimeout: Double = 300

        @Flag(name: .customLong("control-without-fsync"), help: "The control: spool with a plain cp (no fsync, no rename) instead of vbench, to see the test catch a spool that is not durable (expected to fail).")
        var control = false

        func validate() throws {
            guard (1...1000).contains(kills) else { throw ValidationError("--kills must be 1…1000; got \(kills)") }
            guard (1...50).contains(perBoot) else { throw ValidationError("--per-boot must be 1…50; got \(perBoot)") }
                guard let uplink = LabUplink(transport: transport) else {
                throw ValidationError("--transport must be vsock, vhost-user-vsock, vhost-vsock or serial; got \(transport)")
            }
            if uplink == .vsock && !Signals.isVsockHost() {
                throw ValidationError("--transport vhost-vsock needs /dev/vhost-vsock, which this machine lacks; use vsock (it picks vhost-user-vsock here) or serial")
            }
            guard bootTimeout >= 30 else { throw ValidationError("--boot-timeout must be at least 30 seconds") }
        }

        func run() throws {
            let live = ProgressLine(logLines: true)
            func say(_ s: String) { live.clear(); note(s) }
            let started = Clock.monotonicNs()
            let result: SpoolCrashResult
            let runId = "crash-" + ISO8601Stamp.compact(Date()) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
            do {
                if Subprocess.find("mkfs.ext4") == nil { throw LabError("the crash test makes its spool disk with mkfs.ext4: apt-get install -y e2fsprogs") }
                let appliance = try lab.appliances(log: say)[0]
                let runStore = try RunStores.open(try StoreLocation(store), create: true)
                defer { runStore.close() }
                var options = LabRunner.Options(matrix: LabMatrix(name: "crash", disks: [.virtioBlk]), cache: lab.labCache, runId: runId)
                options.acceleration = accel
                options.uplink = LabUplink(transport: transport) ?? .automatic
                options.bootTimeout = bootTimeout
                let runner = LabRunner(options: options, appliance: appliance, store: runStore, log: say, progress: { live.show($0) })
                let (acceleration, why) = try runner.chooseAcceleration()
                say("crash test \(runId): \(kills) kills, \(perBoot) records a boot, uplink \(options.uplink.rawValue); acceleration: \(why)")
                result = try runner.spoolCrash(kills: kills, recordsPerBoot: perBoot, accel: acceleration, control: control)
            } catch let e as LabError {
                live.clear()
                throw VBenchFailure(.error, e.message)
            }
            live.clear()
            let seconds = Double(Clock.monotonicNs() - started) / 1e9
            print("spool crash test \(runId)\(control ? " (control: cp without fsync)" : ""): \(result.kills) kills; \(result.reported.count) records reported spooled, \(result.reported.intersection(result.stored).count) of them stored whole; "
                  + "\(result.lost.count) lost, \(result.corrupt.count) corrupt, \(result.duplicates) acked twice; "
                  + "\(result.interrupted) kills cut a record's spooling short, \(result.stored.subtracting(result.reported).count) such records stored whole; "
                  + "last resend: \(result.finalResend ?? "none"); \(formatFixed(seconds, digits: 0)) s")
            if !result.passed {
                let lost = result.lost.map { $0.uuidString.lowercased() }.sorted().prefix(5).joined(separator: ", ")
                throw VBenchFailure(.error, "the spool lost or damaged records (lost: \(lost.isEmpty ? "none" : lost); corrupt: \(result.corrupt.count)); boot logs under \(result.consoles.first.map { (($0 as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent } ?? "the lab cache")")
            }
        }
    }

    struct Seeds: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Boot guests dressed as VMware, VirtualBox, Xen HVM and plain QEMU-TCG and check what vbench probe identifies and audits.",
            discussion: """
                Each boot sets QEMU's SMBIOS type 1 strings (and for VMware the CPUID the guest
                kernel trusts), runs vbench probe --json inside, and compares the hypervisor it
                reports with the seed; each guest's audit is printed after the table. The seeds
                carry display adapters (std VGA, Cirrus), and qemu-desktop carries QXL,
                virtio-gpu, the guest agent and SPICE ports, a balloon, an RNG and a 2-queue
                virtio-net NIC on 2 vCPUs (a tap in a network namespace of its own: needs root). --record also records each guest's sysfs/DMI tree into
                DIR/lab-seed-NAME for the probe fixtures (keeping an existing expected.json) and
                refuses a tree that carries any string of this machine.
                """)

        @OptionGroup var lab: LabOptions

        @Option(help: ArgumentHelp("Record each guest's tree into DIR/lab-seed-NAME (e.g. Tests/Fixtures).", valueName: "dir"))
        var record: String?

        @Option(help: ArgumentHelp("Only this seed: vmware, virtualbox, xen, qemu-tcg or qemu-desktop (repeatable).", valueName: "name"))
        var only: [String] = []

        @Option(name: .customLong("boot-timeout"), help: ArgumentHelp("Bound of one boot, in seconds.", valueName: "seconds"))
        var bootTimeout: Double = 300

        func validate() throws {
            let names = HypervisorSeed.all.map(\.name)
            for o in only where !names.contains(o) { throw ValidationError("--only \(o): not one of \(names.joined(separator: ", "))") }
            guard bootTimeout >= 30 else { throw ValidationError("--boot-timeout must be at least 30 seconds") }
        }

        func run() throws {
            let live = ProgressLine(logLines: true)
            func say(_ s: String) { live.clear(); note(s) }
            do {
                let appliance = try lab.appliances(log: say)[0]
                let runId = "seeds-" + ISO8601Stamp.compact(Date())
                var options = LabRunner.Options(matrix: LabMatrix(name: "seeds", disks: [.virtioBlk]), cache: lab.labCache, runId: runId)
                options.bootTimeout = bootTimeout
                let runner = LabRunner(options: options, appliance: appliance, store: nil, log: say, progress: { live.show($0) })
                let markers = LabRunner.hostMarkers()
                var table = ReportTable(title: "", header: ["SEED", "DMI VENDOR", "DMI PRODUCT", "EXPECTED", "DETECTED", "EVIDENCE", "BOOT"], numeric: [6])
                var failures: [String] = []
                var audits: [String] = []
                for seed in HypervisorSeed.all where only.isEmpty || only.contains(seed.name) {
                    let r = try runner.seedBoot(seed, record: record != nil)
                    live.clear()
                    if let audit = r.report?.audit { audits.append("== seed \(seed.name) ==\n" + ProbeTable.renderAudit(audit)) }
                    let h = r.report?.environment.hypervisor
                    table.append([seed.name, h?.dmiSysVendor ?? "-", h?.dmiProductName ?? "-", seed.expected.rawValue,
                                       h?.vendor.rawValue ?? "-", h?.evidence.joined(separator: " ") ?? (r.failure ?? "-"),
                                       "\(formatFixed(r.seconds, digits: 1)) s"])
                    if let f = r.failure { failures.append("\(seed.name): \(f)"); continue }
                    if h?.vendor != seed.expected { failures.append("\(seed.name): probe said \(h?.vendor.rawValue ?? "nothing"), expected \(seed.expected.rawValue)") }
                    if let dir = record {
                        let tree = "\(r.folder)/tree"
                        if let leak = LabRunner.leakedHostMarker(in: tree, markers: markers) {
                            failures.append("\(seed.name): the recorded tree carries '\(leak)' from this machine; not copied")
                            continue
                        }
                        let dest = "\(dir)/lab-seed-\(seed.name)"
                        let fm = FileManager.default
                        try fm.createDirectory(atPath: dest, withIntermediateDirectories: true)
                        for entry in try fm.contentsOfDirectory(atPath: dest) where entry != "expected.json" {
                            try fm.removeItem(atPath: "\(dest)/\(entry)")
                        }
                        for entry in try fm.contentsOfDirectory(atPath: tree) {
                            try fm.copyItem(atPath: "\(tree)/\(entry)", toPath: "\(dest)/\(entry)")
                        }
                        say("\(seed.name): tree recorded in \(dest)")
                    }
                }
                print(TableRenderer.text(table))
                for a in audits { print("\n" + a) }
                if !failures.isEmpty {
                    for f in failures { say("failed: \(f)") }
                    throw VBenchExit.benchmarkFailed
                }
            } catch let e as LabError {
                live.clear()
                throw VBenchFailure(.error, e.message)
            }
        }
    }
}

struct LabRunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("auto (KVM only after a probe boot proves it), kvm or tcg.", valueName: "accel"))
    var accel: Acceleration = .auto

    @Option(help: ArgumentHelp("shared (one boot, every disk) or per-device (one boot per disk model); default: the matrix's.", valueName: "mode"))
    var boot: LabMatrix.BootMode?

    @Option(help: ArgumentHelp("Measured seconds per repetition in the guest (default: the profile's).", valueName: "seconds"))
    var runtime: Double?

    @Option(help: ArgumentHelp("Repetitions per workload (default: the profile's).", valueName: "n"))
    var `repeat`: Int?

    @Option(help: ArgumentHelp("Run the matrix this many times, kernels interleaved (A B A B …), for comparisons across boots.", valueName: "n"))
    var rounds: Int = 1

    @Option(help: ArgumentHelp("A concurrency sweep: boot this many guests at once, each with the whole matrix, for every count listed (e.g. 1,2,3,4); records carry lab.guests and lab.guest. For vbench capacity.", valueName: "list"))
    var guests: String?

    /// The sweep's guest counts: [1] without --guests.
    func guestCounts() throws -> [Int] {
        guard let g = guests else { return [1] }
        let counts = g.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 != nil && (1...16).contains($0!) }) else {
            throw ValidationError("--guests must be a comma-separated list of counts 1…16, e.g. 1,2,3,4; got '\(g)'")
        }
        return counts.map { $0! }
    }

    @Flag(inversion: .prefixedNo, help: "Also run the same workloads on this machine, on a file under results/lab/, as the native baseline.")
    var native = true

    @Option(name: .customLong("boot-timeout"), help: ArgumentHelp("Bound of one boot, in seconds (default: from the profile: each disk's run bound plus 180 s).", valueName: "seconds"))
    var bootTimeout: Double?

    @Option(help: ArgumentHelp("Bound of the whole lab run, in seconds.", valueName: "seconds"))
    var timeout: Double = 3600

    @Option(help: ArgumentHelp("The results store: a SQLite file or postgres://USER@HOST:PORT/DATABASE.", valueName: "path|url"))
    var store: String = "results/vbench.sqlite"

    @Option(help: ArgumentHelp("Folder for the lab's summaries and the native baseline's file.", valueName: "dir"))
    var out: String = "results"

    @Option(name: .customLong("tag"), help: ArgumentHelp("A label for every record of this lab run (repeatable).", valueName: "key=value"))
    var tags: [String] = []

    @Option(help: ArgumentHelp("How the guests' records come home: vsock (AF_VSOCK to CID 2: vhost-vsock where /dev/vhost-vsock exists, else this collector's own vhost-user-vsock device), vhost-user-vsock, vhost-vsock or serial (virtio-serial).", valueName: "transport"))
    var transport: String = "vsock"

    func validate() throws {
        guard let uplink = LabUplink(transport: transport) else {
            throw ValidationError("--transport must be vsock, vhost-user-vsock, vhost-vsock or serial; got \(transport)")
        }
        if uplink == .vsock && !Signals.isVsockHost() {
            throw ValidationError("--transport vhost-vsock needs /dev/vhost-vsock, which this machine lacks; use vsock (it picks vhost-user-vsock here) or serial")
        }
        if let r = runtime, !(r > 0 && r <= 3600) { throw ValidationError("--runtime must be in (0, 3600] seconds; got \(r)") }
        if let r = `repeat`, !(1...100).contains(r) { throw ValidationError("--repeat must be 1…100; got \(r)") }
        if let b = bootTimeout {
            guard b >= 30 else { throw ValidationError("--boot-timeout must be at least 30 seconds; got \(b)") }
            guard timeout >= b else { throw ValidationError("--timeout (\(timeout) s) must be at least --boot-timeout (\(b) s)") }
        }
        guard timeout >= 60 else { throw ValidationError("--timeout must be at least 60 seconds; got \(timeout)") }
        for t in tags where !t.contains("=") { throw ValidationError("--tag must be key=value; got '\(t)'") }
        guard (1...100).contains(rounds) else { throw ValidationError("--rounds must be 1…100; got \(rounds)") }
        _ = try guestCounts()
    }

    /// Runs the campaign (VBenchLab's `LabCampaign`), prints its table, and exits 3 when a
    /// boot failed.
    func execute(lab: LabOptions, matrixName: String) throws {
        let live = ProgressLine(logLines: true)
        func say(_ s: String) { live.clear(); note(s) }
        var request = LabCampaign.Request(matrixName: matrixName, cache: lab.labCache, store: store, out: out)
        request.boot = boot
        request.runtimeSeconds = runtime
        request.repetitions = `repeat`
        request.rounds = rounds
        request.guestCounts = guests == nil ? nil : try guestCounts()
        request.nativeBaseline = native
        request.bootTimeout = bootTimeout
        request.timeout = timeout
        request.uplink = LabUplink(transport: transport) ?? .automatic
        request.acceleration = accel
        for t in tags {
            let p = t.split(separator: "=", maxSplits: 1)
            request.tags[String(p[0])] = p.count > 1 ? String(p[1]) : ""
        }
        let outcome: LabCampaign.Outcome
        do {
            let appliances = try lab.appliances(log: say)
            try AtomicFile.makeDirectories(out)
            let runStore = try RunStores.open(try StoreLocation(store), create: true)
            defer { runStore.close() }
            outcome = try LabCampaign.run(request, appliances: appliances, store: runStore, log: say, progress: { live.show($0) })
        } catch {
            live.clear()
            throw error
        }
        live.clear()
        print(outcome.table)
        for f in outcome.failures { say("failed: \(f)") }
        if !outcome.failures.isEmpty {
            throw VBenchFailure(.benchmarkFailed, "\(outcome.failures.count) of the lab run's checks failed (listed above); its records and summary are in \(outcome.folder)")
        }
    }
}

// Typed option values: ArgumentParser lists the choices and refuses others (exit 64).
extension Acceleration: ExpressibleByArgument {}
extension LabMatrix.BootMode: ExpressibleByArgument {}
