import Foundation
import VBenchCore
import VBenchSystem

/// What a lab run boots and measures: the device models, how they are attached, and the
/// workload each guest runs. Built in (`blk`, `demo`) or read from a JSON file of the same shape.
public struct LabMatrix: Codable, Sendable, Equatable {
    /// How the configurations share boots.
    public enum BootMode: String, Codable, Sendable, CaseIterable {
        /// One boot holds every disk and NIC; the guest measures them one after another.
        case shared
        /// One boot per disk model and one per NIC model.
        case perDevice = "per-device"
    }

    /// The devices of one boot.
    public struct Boot: Sendable, Equatable {
        public var disks: [DiskModel]
        public var nics: [NicModel]
        public init(disks: [DiskModel], nics: [NicModel] = []) {
            self.disks = disks
            self.nics = nics
        }
        public var label: String { (disks.map(\.rawValue) + nics.map(\.rawValue)).joined(separator: ", ") }
    }

    public var name: String
    public var disks: [DiskModel]
    public var nics: [NicModel]
    public var boot: BootMode
    /// QEMU `cache=` of every disk (`none`: O_DIRECT on the host, what libvirt uses for raw images).
    public var cache: String
    /// QEMU `aio=` of every disk (`native` needs cache=none or directsync; `threads`, `io_uring`).
    public var aio: String
    /// Size of each backing file.
    public var diskSizeMiB: Int
    /// The block profile the guest runs (quick, standard, full), and optional overrides.
    public var profile: String
    public var runtimeSeconds: Double?
    public var repetitions: Int?
    /// Guest memory and vCPUs (1 vCPU beats 2 on a 2-core host: QEMU's I/O thread needs a core).
    public var memoryMiB: Int
    public var cpus: Int
    /// Also send the guest's records over AF_VSOCK to a collector inside the guest
    /// (vsock_loopback). Needs a full static vbench as `--binary` (the guest binary has no
    /// `collect`); off by default, since the records reach the host over AF_VSOCK anyway.
    public var vsockLoopback: Bool
    /// One workload instead of the profile's: `rw` (randread, …), `bs`, `iodepth`.
    public var rw: String?
    public var bs: String?
    public var iodepth: Int?
    /// QEMU block throttling set during the boot from a disk measured earlier in it.
    public var throttle: Throttle?
    /// Measure the disks round-robin this many times in the boot (A B C A B C …), each time
    /// `repetitions` repetitions, one record per disk and pass: slow drift inside a boot then
    /// falls on every disk alike, and `compare` gets one sample per pass.
    public var passes: Int?
    /// Measure each disk under each of these guest I/O schedulers (`none`, `mq-deadline`, …),
    /// one after another, the order reversed every other pass; records carry `lab.ioscheduler`.
    /// The guest switches with `vbench run --ioscheduler` and switches back.
    public var ioschedulers: [String]?
    /// Also send one synthetic record of this many MiB (1…16; 16 is the wire's frame limit, less
    /// 16 KiB) over the uplink after the runs, proving the transport carries a record as large as
    /// any whole: a `blk` record tagged `lab.check=transport` whose pseudo-random workloads hash
    /// to its `lab.check.sha256`. It stays out of the lab's table and records.json. 0: none.
    public var transportCheckMiB = 0
    /// Also time the uplink against virtio-serial in the same boot: see `TransportBenchmark`.
    public var transportBenchmark: TransportBenchmark?

    /// Records/s and MB/s from the guest to the collector over the boot's vsock uplink and over
    /// a virtio-serial port of the same boot, one `vbench send` of pregenerated records each
    /// (distinct run ids per transport, so neither meets the other's duplicates). The guest
    /// times each send with /proc/uptime and says `transport bench TRANSPORT SIZE exit N: …`.
    /// The figures include what every record costs on its way (JSON validation in the guest,
    /// in the collector, one SQLite transaction), the same for both transports.
    public struct TransportBenchmark: Codable, Sendable, Equatable {
        /// Small records (records/s), each of `recordKiB`.
        public var records: Int
        public var recordKiB: Int
        /// Large records (MB/s), each of `largeMiB`.
        public var largeRecords: Int
        public var largeMiB: Int

        public init(records: Int = 100, recordKiB: Int = 16, largeRecords: Int = 4, largeMiB: Int = 4) {
            self.records = records
            self.recordKiB = recordKiB
            self.largeRecords = largeRecords
            self.largeMiB = largeMiB
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(records: try c.decodeIfPresent(Int.self, forKey: .records) ?? 100,
                      recordKiB: try c.decodeIfPresent(Int.self, forKey: .recordKiB) ?? 16,
                      largeRecords: try c.decodeIfPresent(Int.self, forKey: .largeRecords) ?? 4,
                      largeMiB: try c.decodeIfPresent(Int.self, forKey: .largeMiB) ?? 4)
        }

        /// Everything both transports send, as it lands in the guest's initramfs.
        public var guestBytes: Int { 2 * (records * (recordKiB << 10) + largeRecords * (largeMiB << 20)) }
    }

    /// Limits disks to a fraction of the IOPS another disk of the same boot just measured:
    /// after the reference disk's record reaches the host, the lab sets each limit through
    /// QMP (`block_set_io_throttle`) and tells the guest to go on. Boot-to-boot drift cannot
    /// move the limit away from the reference.
    public struct Throttle: Codable, Sendable, Equatable {
        /// Index of the disk whose IOPS set the limits. With `passes`, the reference disk first
        /// runs a reference pass of its own (5 repetitions, tagged `lab.phase=reference`; the
        /// limits come from their median).
        public var reference: Int
        /// Its workload whose mean IOPS is the reference (default: the matrix's single
        /// workload, else randread-4k-qd32).
        public var workload: String?
        /// Disk index → the fraction of the reference IOPS it is limited to (0.9: 10 % below).
        public var disks: [String: Double]

        public init(reference: Int, workload: String? = nil, disks: [String: Double]) {
            self.reference = reference
            self.workload = workload
            self.disks = disks
        }

        /// The limited disks by index, in order.
        public var limited: [(index: Int, fraction: Double)] {
            disks.compactMap { k, v in Int(k).map { ($0, v) } }.sorted { $0.index < $1.index }
        }
    }

    public init(name: String, disks: [DiskModel], nics: [NicModel] = [], boot: BootMode = .shared,
                cache: String = "none", aio: String = "native", diskSizeMiB: Int = 256, profile: String = "quick",
                runtimeSeconds: Double? = nil, repetitions: Int? = nil, memoryMiB: Int = 512, cpus: Int = 1,
                vsockLoopback: Bool = false, rw: String? = nil, bs: String? = nil, iodepth: Int? = nil, throttle: Throttle? = nil, passes: Int? = nil,
                ioschedulers: [String]? = nil) {
        self.name = name
        self.disks = disks
        self.nics = nics
        self.boot = boot
        self.cache = cache
        self.aio = aio
        self.diskSizeMiB = diskSizeMiB
        self.profile = profile
        self.runtimeSeconds = runtimeSeconds
        self.repetitions = repetitions
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.vsockLoopback = vsockLoopback
        self.rw = rw
        self.bs = bs
        self.iodepth = iodepth
        self.throttle = throttle
        self.passes = passes
        self.ioschedulers = ioschedulers
    }

    private enum CodingKeys: String, CodingKey {
        case name, disks, nics, boot, cache, aio, diskSizeMiB, profile, runtimeSeconds, repetitions, memoryMiB, cpus, vsockLoopback
        case rw, bs, iodepth, throttle, passes, ioschedulers, transportCheckMiB, transportBenchmark
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LabMatrix(name: "custom", disks: [])
        self.init(name: try c.decodeIfPresent(String.self, forKey: .name) ?? d.name,
                  disks: try c.decodeIfPresent([DiskModel].self, forKey: .disks) ?? [],
                  nics: try c.decodeIfPresent([NicModel].self, forKey: .nics) ?? [],
                  boot: try c.decodeIfPresent(BootMode.self, forKey: .boot) ?? d.boot,
                  cache: try c.decodeIfPresent(String.self, forKey: .cache) ?? d.cache,
                  aio: try c.decodeIfPresent(String.self, forKey: .aio) ?? d.aio,
                  diskSizeMiB: try c.decodeIfPresent(Int.self, forKey: .diskSizeMiB) ?? d.diskSizeMiB,
                  profile: try c.decodeIfPresent(String.self, forKey: .profile) ?? d.profile,
                  runtimeSeconds: try c.decodeIfPresent(Double.self, forKey: .runtimeSeconds),
                  repetitions: try c.decodeIfPresent(Int.self, forKey: .repetitions),
                  memoryMiB: try c.decodeIfPresent(Int.self, forKey: .memoryMiB) ?? d.memoryMiB,
                  cpus: try c.decodeIfPresent(Int.self, forKey: .cpus) ?? d.cpus,
                  vsockLoopback: try c.decodeIfPresent(Bool.self, forKey: .vsockLoopback) ?? d.vsockLoopback,
                  rw: try c.decodeIfPresent(String.self, forKey: .rw), bs: try c.decodeIfPresent(String.self, forKey: .bs),
                  iodepth: try c.decodeIfPresent(Int.self, forKey: .iodepth),
                  throttle: try c.decodeIfPresent(Throttle.self, forKey: .throttle),
                  passes: try c.decodeIfPresent(Int.self, forKey: .passes),
                  ioschedulers: try c.decodeIfPresent([String].self, forKey: .ioschedulers))
        transportCheckMiB = try c.decodeIfPresent(Int.self, forKey: .transportCheckMiB) ?? 0
        transportBenchmark = try c.decodeIfPresent(TransportBenchmark.self, forKey: .transportBenchmark)
    }

    /// The NICs of the `net` and `all` matrices: the paravirtual one and the emulated ones QEMU
    /// has that Debian's generic kernel drives.
    public static let labNics: [NicModel] = [.virtioNet, .e1000, .vmxnet3]
    /// Every disk model, one shared boot.
    public static let blk = LabMatrix(name: "blk", disks: DiskModel.allCases)
    /// virtio-net against e1000 and vmxnet3, against `vbench serve` in the lab's namespace.
    public static let net = LabMatrix(name: "net", disks: [], nics: labNics)
    /// Every disk model and NIC.
    public static let all = LabMatrix(name: "all", disks: DiskModel.allCases, nics: labNics)
    /// The demo's quick comparison: virtio-blk against the emulated IDE and AHCI and NVMe, and
    /// virtio-net against e1000.
    public static let demo = LabMatrix(name: "demo", disks: [.virtioBlk, .ide, .ahci, .nvme], nics: [.virtioNet, .e1000])

    /// The demo as it can run under `accel`, and what it left out and why (nil: nothing). Under TCG
    /// NVMe is left out: QEMU 7.2's emulated controller loses submissions there (the guest logs
    /// `nvme nvme0: I/O N QID 1 timeout, aborting` and resets the controller 30 s later), with
    /// aio=native, aio=threads and ioeventfd=on alike (results/lab/nvme-tcg.md).
    public func demo(under accel: Acceleration) -> (matrix: LabMatrix, leftOut: String?) {
        guard accel == .tcg, disks.contains(.nvme) else { return (self, nil) }
        var m = self
        m.disks.removeAll { $0 == .nvme }
        return (m, "the demo leaves out NVMe under TCG: QEMU 7.2's emulated NVMe controller loses requests there (the guest logs 'nvme nvme0: I/O N QID 1 timeout, aborting' and the run ends at its bound; every aio= and ioeventfd setting tried stalled, see results/lab/nvme-tcg.md). Measure it anyway with: vbench lab run --matrix blk")
    }

    /// `blk`, `net`, `all`, `demo`, or the path of a JSON matrix file.
    public static func named(_ name: String) throws -> LabMatrix {
        switch name {
        case "blk": return .blk
        case "net": return .net
        case "all": return .all
        case "demo": return .demo
        default:
            guard let data = FileManager.default.contents(atPath: name) else {
                throw LabError("--matrix \(name): not blk, demo, net or all, and no readable matrix file at that path")
            }
            let m: LabMatrix
            do { m = try JSONDecoder().decode(LabMatrix.self, from: data) } catch {
                throw LabError("--matrix \(name): not a valid matrix file (\(error)); see docs/lab.md for its fields")
            }
            try m.check(source: name)
            return m
        }
    }

    /// Refuses a matrix that cannot run, naming the field.
    public func check(source: String) throws {
        guard !disks.isEmpty || !nics.isEmpty else { throw LabError("\(source): the matrix names no disks and no NICs") }
        guard disks.count <= 8 else { throw LabError("\(source): at most 8 disks per matrix; got \(disks.count)") }
        guard nics.count <= 4 else { throw LabError("\(source): at most 4 NICs per matrix; got \(nics.count)") }
        guard (0...16).contains(transportCheckMiB) else {
            throw LabError("\(source): transportCheckMiB must be 0…16 (the wire's frame limit is 16 MiB); got \(transportCheckMiB)")
        }
        if let b = transportBenchmark {
            guard (1...1000).contains(b.records), (1...1024).contains(b.recordKiB), (1...16).contains(b.largeRecords), (1...15).contains(b.largeMiB) else {
                throw LabError("\(source): transportBenchmark needs records 1…1000, recordKiB 1…1024, largeRecords 1…16 and largeMiB 1…15; got \(b)")
            }
            // The records travel in the initramfs, which lives in the guest's RAM with the appliance.
            guard b.guestBytes <= (memoryMiB << 20) / 4 else {
                throw LabError("\(source): transportBenchmark puts \(b.guestBytes >> 20) MiB of records in the guest; at most a quarter of memoryMiB (\(memoryMiB)): raise memoryMiB or send fewer")
            }
        }
        guard ["none", "directsync", "writeback", "writethrough", "unsafe"].contains(cache) else {
            throw LabError("\(source): cache must be none, directsync, writeback, writethrough or unsafe; got \(cache)")
        }
        guard ["native", "threads", "io_uring"].contains(aio) else {
            throw LabError("\(source): aio must be native, threads or io_uring; got \(aio)")
        }
        if aio == "native" && !(cache == "none" || cache == "directsync") {
            throw LabError("\(source): aio=native needs cache=none or directsync (QEMU refuses it otherwise)")
        }
        guard (16...65536).contains(diskSizeMiB) else { throw LabError("\(source): diskSizeMiB must be 16…65536; got \(diskSizeMiB)") }
        guard ["quick", "standard", "full"].contains(profile) else { throw LabError("\(source): profile must be quick, standard or full; got \(profile)") }
        guard (128...65536).contains(memoryMiB) else { throw LabError("\(source): memoryMiB must be 128…65536; got \(memoryMiB)") }
        guard (1...64).contains(cpus) else { throw LabError("\(source): cpus must be 1…64; got \(cpus)") }
        if let r = runtimeSeconds, !(r > 0 && r <= 3600) { throw LabError("\(source): runtimeSeconds must be in (0, 3600]; got \(r)") }
        if let r = repetitions, !(1...100).contains(r) { throw LabError("\(source): repetitions must be 1…100; got \(r)") }
        if let rw, !["read", "write", "randread", "randwrite", "randrw"].contains(rw) {
            throw LabError("\(source): rw must be read, write, randread, randwrite or randrw; got \(rw)")
        }
        if rw == nil && (bs != nil || iodepth != nil) { throw LabError("\(source): bs and iodepth need rw (one workload instead of the profile)") }
        if let p = passes, !(1...200).contains(p) { throw LabError("\(source): passes must be 1…200; got \(p)") }
        if let list = ioschedulers {
            guard !list.isEmpty, Set(list).count == list.count, list.allSatisfy(IOScheduler.isName) else {
                throw LabError("\(source): ioschedulers must list distinct scheduler names such as [\"none\", \"mq-deadline\"]; got \(list)")
            }
            guard throttle == nil else { throw LabError("\(source): ioschedulers and throttle do not go together (the throttle's reference is one run per disk)") }
        }
        if let d = iodepth, !(1...4096).contains(d) { throw LabError("\(source): iodepth must be 1…4096; got \(d)") }
        if let t = throttle {
            guard boot == .shared else { throw LabError("\(source): throttle needs a shared boot (the limits come from a disk of the same boot)") }
            guard disks.indices.contains(t.reference) else { throw LabError("\(source): throttle.reference \(t.reference) is not a disk index (0…\(disks.count - 1))") }
            guard !t.disks.isEmpty else { throw LabError("\(source): throttle.disks names no disk") }
            for (k, f) in t.disks {
                guard let i = Int(k), disks.indices.contains(i) else { throw LabError("\(source): throttle.disks key '\(k)' is not a disk index (0…\(disks.count - 1))") }
                guard i > t.reference else { throw LabError("\(source): throttled disk \(i) must come after the reference disk \(t.reference) (it is measured after it)") }
                guard f > 0 && f <= 1 else { throw LabError("\(source): throttle fraction of disk \(i) must be in (0, 1]; got \(f)") }
            }
        }
    }

    /// The name of the workload the throttle reads its reference IOPS from.
    public var throttleWorkload: String {
        if let w = throttle?.workload { return w }
        if let rw { return "\(rw)-\(bs ?? "4k")-qd\(iodepth ?? 32)" }
        return "randread-4k-qd32"
    }

    /// Seconds one guest `vbench run` may take: twice its measuring and ramp time, plus a minute.
    /// A disk whose I/O stalls (earlier lab runs saw one NVMe run in twenty stall) fails alone.
    public func guestRunBound() -> Double {
        let p = BlockProfile(rawValue: profile) ?? .quick
        let perWorkload = (runtimeSeconds ?? p.runtimeSeconds) + p.rampSeconds
        return Double((rw == nil ? p.shapes.count : 1) * (repetitions ?? p.repetitions)) * perWorkload * 2 + 60
    }

    /// Seconds and repetitions of each network workload in the guest: the matrix's runtime and
    /// repetitions when set, else 2 s × 3.
    public var netSeconds: Double { runtimeSeconds ?? 2 }
    public var netRepetitions: Int { repetitions ?? 3 }

    /// Seconds the guest's `vbench run --device net` may take for `nics` NICs: twice the
    /// measuring time of the seven network workloads (plus a second of setup each), plus a minute.
    public func guestNetRunBound(nics: Int) -> Double {
        Double(nics * 7 * netRepetitions) * (netSeconds + 1) * 2 + 60
    }

    /// A boot's default bound: every disk's run bound and the NICs' run, plus boot, send and power-off.
    public func defaultBootTimeout(_ boot: Boot) -> Double {
        // Runs after the first are bounded alike but start faster: count a pass at half its bound.
        let disks = Double(boot.disks.count * (ioschedulers?.count ?? 1)) * guestRunBound() * (passes.map { 1 + Double($0 - 1) / 2 } ?? 1)
            + (throttle != nil && passes != nil ? guestRunBound() : 0)
        return disks + (boot.nics.isEmpty ? 0 : guestNetRunBound(nics: boot.nics.count)) + 180
    }

    /// The boots this matrix needs.
    public var boots: [Boot] {
        switch boot {
        case .shared: [Boot(disks: disks, nics: nics)]
        case .perDevice: disks.map { Boot(disks: [$0]) } + nics.map { Boot(disks: [], nics: [$0]) }
        }
    }
}
