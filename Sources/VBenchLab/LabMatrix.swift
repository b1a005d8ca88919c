import Foundation
import VBenchCore

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
    /// (vsock_loopback), proving the vsock paths on a real kernel.
    public var vsockLoopback: Bool

    public init(name: String, disks: [DiskModel], nics: [NicModel] = [], boot: BootMode = .shared,
                cache: String = "none", aio: String = "native", diskSizeMiB: Int = 256, profile: String = "quick",
                runtimeSeconds: Double? = nil, repetitions: Int? = nil, memoryMiB: Int = 512, cpus: Int = 1,
                vsockLoopback: Bool = true) {
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
    }

    private enum CodingKeys: String, CodingKey {
        case name, disks, nics, boot, cache, aio, diskSizeMiB, profile, runtimeSeconds, repetitions, memoryMiB, cpus, vsockLoopback
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
                  vsockLoopback: try c.decodeIfPresent(Bool.self, forKey: .vsockLoopback) ?? d.vsockLoopback)
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
    }

    /// Seconds one guest `vbench run` may take: twice its measuring and ramp time, plus a minute.
    /// A disk whose I/O stalls (LAB-NOTES saw one NVMe run in twenty stall) fails alone.
    public func guestRunBound() -> Double {
        let p = BlockProfile(rawValue: profile) ?? .quick
        let perWorkload = (runtimeSeconds ?? p.runtimeSeconds) + p.rampSeconds
        return Double(p.shapes.count * (repetitions ?? p.repetitions)) * perWorkload * 2 + 60
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
        Double(boot.disks.count) * guestRunBound() + (boot.nics.isEmpty ? 0 : guestNetRunBound(nics: boot.nics.count)) + 180
    }

    /// The boots this matrix needs.
    public var boots: [Boot] {
        switch boot {
        case .shared: [Boot(disks: disks, nics: nics)]
        case .perDevice: disks.map { Boot(disks: [$0]) } + nics.map { Boot(disks: [], nics: [$0]) }
        }
    }
}
