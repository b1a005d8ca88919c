import FoundationEssentials

/// What a lab guest does in one boot, as the host plans it: `vbench lab agent --job job.json`
/// inside the guest reads it and runs it step by step. Disks are found by serial and NICs by
/// MAC, whatever the guest's kernel names them.
public struct LabJob: Codable, Sendable, Equatable {
    public var runId: String
    /// Where records and events go: `serial:/dev/virtio-ports/org.vbench.0`, `vsock://2:5000`.
    public var sendTo: String
    /// Labels for every record of the boot (lab.run, lab.boot, qemu.*, qemu.cmdline, …).
    public var tags: [String: String]
    public var block: BlockPlan
    public var disks: [Disk]
    /// The disks' runs in order (passes, schedulers and the throttle reference already laid out).
    public var steps: [Step]
    public var network: NetworkPlan?
    /// The virtio-serial port the host writes the throttle limits on (`d1=22500 d2=17500`).
    public var controlPort: String?
    /// A record file in the job to send once over the uplink: one as large as the wire allows.
    public var transportCheck: String?
    /// The transport benchmark's sends, in order.
    public var transportBench: [BenchSend]
    /// AF_VSOCK inside the guest (vsock_loopback): a collector of its own on CID 1.
    public var vsockLoopback: Bool
    /// A boot of the spool's crash test: this replaces every other step.
    public var spoolCrash: SpoolCrash?
    /// A seeded boot of `vbench lab seeds`: probe, and ship the output on a serial port; this
    /// replaces every other step.
    public var probe: ProbeShip?

    public init(runId: String, sendTo: String, tags: [String: String], block: BlockPlan, disks: [Disk], steps: [Step],
                network: NetworkPlan? = nil, controlPort: String? = nil, transportCheck: String? = nil,
                transportBench: [BenchSend] = [], vsockLoopback: Bool = false, spoolCrash: SpoolCrash? = nil, probe: ProbeShip? = nil) {
        self.runId = runId
        self.sendTo = sendTo
        self.tags = tags
        self.block = block
        self.disks = disks
        self.steps = steps
        self.network = network
        self.controlPort = controlPort
        self.transportCheck = transportCheck
        self.transportBench = transportBench
        self.vsockLoopback = vsockLoopback
        self.spoolCrash = spoolCrash
        self.probe = probe
    }

    /// `vbench probe --json` (and `probe --record tree` when `record`), the output folder packed
    /// as tar.gz and written base64 between `VBENCH-BEGIN` and `VBENCH-END` lines on `port`,
    /// a serial port the host logs to a file (seeded boots have no uplink). Console lines only.
    public struct ProbeShip: Codable, Sendable, Equatable {
        public var record: Bool
        public var port: String
        /// Bound of each probe.
        public var seconds: Double

        public init(record: Bool, port: String = "/dev/ttyS1", seconds: Double = 300) {
            self.record = record
            self.port = port
            self.seconds = seconds
        }
    }

    /// One boot of `vbench lab crash`: mount the ext4 spool disk found by `serial`, resend what
    /// earlier boots spooled, then spool `records` (files of the job) one by one, saying
    /// `spooled ID` on the console after each, and wait for the lab's SIGKILL. The last boot
    /// only resends and unmounts. `control`: the records are copied in by busybox `cp` (no
    /// fsync, no rename), to show that the test catches a spool that is not durable.
    /// These boots speak on the console only: the lab kills QEMU on a console line, and an event
    /// in flight at that moment would die with it.
    public struct SpoolCrash: Codable, Sendable, Equatable {
        public var serial: String
        public var mountpoint: String
        public var records: [String]
        public var last: Bool
        public var control: Bool
        public var resendSeconds: Double

        public init(serial: String, mountpoint: String = "/spooldisk", records: [String], last: Bool, control: Bool = false,
                    resendSeconds: Double = 120) {
            self.serial = serial
            self.mountpoint = mountpoint
            self.records = records
            self.last = last
            self.control = control
            self.resendSeconds = resendSeconds
        }

        /// The spool folder on the mounted disk.
        public var spool: String { mountpoint + "/spool" }
    }

    /// The `vbench run --device blk` settings every disk's run shares.
    public struct BlockPlan: Codable, Sendable, Equatable {
        public var profile: String
        public var rw: String?
        public var bs: String?
        public var iodepth: Int?
        public var runtimeSeconds: Double?
        public var repetitions: Int?
        /// Bound of one disk's run, after which it is ended.
        public var boundSeconds: Double

        public init(profile: String, rw: String? = nil, bs: String? = nil, iodepth: Int? = nil, runtimeSeconds: Double? = nil,
                    repetitions: Int? = nil, boundSeconds: Double) {
            self.profile = profile
            self.rw = rw
            self.bs = bs
            self.iodepth = iodepth
            self.runtimeSeconds = runtimeSeconds
            self.repetitions = repetitions
            self.boundSeconds = boundSeconds
        }
    }

    /// A disk of the boot: its slot (the order of QEMU's -device), model and serial.
    public struct Disk: Codable, Sendable, Equatable {
        public var slot: Int
        public var model: String
        public var serial: String
        /// The host throttles this disk once the reference record arrived: the run waits for
        /// the limits on the control port and records the one it got.
        public var throttled: Bool
        /// lab.disk, lab.slot and, throttled, lab.throttle.
        public var tags: [String: String]

        public init(slot: Int, model: String, serial: String, throttled: Bool = false, tags: [String: String]) {
            self.slot = slot
            self.model = model
            self.serial = serial
            self.throttled = throttled
            self.tags = tags
        }
    }

    /// One run of one disk.
    public struct Step: Codable, Sendable, Equatable {
        public var slot: Int
        /// lab.phase, lab.pass, lab.ioscheduler as the plan sets them.
        public var tags: [String: String]
        public var ioscheduler: String?
        /// Instead of the block plan's repetitions (the throttle reference runs 5).
        public var repetitions: Int?
        public var rampSeconds: Double?

        public init(slot: Int, tags: [String: String] = [:], ioscheduler: String? = nil, repetitions: Int? = nil, rampSeconds: Double? = nil) {
            self.slot = slot
            self.tags = tags
            self.ioscheduler = ioscheduler
            self.repetitions = repetitions
            self.rampSeconds = rampSeconds
        }
    }

    /// The NICs and one `vbench run --device net --iface auto` through all of them.
    public struct NetworkPlan: Codable, Sendable, Equatable {
        public var peer: String
        public var nics: [Nic]
        public var runtimeSeconds: Double
        public var repetitions: Int
        public var boundSeconds: Double
        /// lab.nics.
        public var tags: [String: String]

        public init(peer: String, nics: [Nic], runtimeSeconds: Double, repetitions: Int, boundSeconds: Double, tags: [String: String]) {
            self.peer = peer
            self.nics = nics
            self.runtimeSeconds = runtimeSeconds
            self.repetitions = repetitions
            self.boundSeconds = boundSeconds
            self.tags = tags
        }
    }

    /// A NIC found by `mac`, given `address`/24, with a route to the peer through `gateway`.
    public struct Nic: Codable, Sendable, Equatable {
        public var model: String
        public var mac: String
        public var address: String
        public var gateway: String
        /// The route's metric (NICs in order: 1, 2, …).
        public var metric: Int

        public init(model: String, mac: String, address: String, gateway: String, metric: Int) {
            self.model = model
            self.mac = mac
            self.address = address
            self.gateway = gateway
            self.metric = metric
        }
    }

    /// One send of the transport benchmark: `files` of the job to `to`, timed.
    public struct BenchSend: Codable, Sendable, Equatable {
        public var transport: String
        /// small or large.
        public var size: String
        public var to: String
        public var files: [String]

        public init(transport: String, size: String, to: String, files: [String]) {
            self.transport = transport
            self.size = size
            self.to = to
            self.files = files
        }
    }

    /// Reads a job file, naming what is wrong with it.
    public static func decode(_ data: Data) throws -> LabJob { try JSONDecoder().decode(LabJob.self, from: data) }

    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try e.encode(self)
    }
}

/// What a lab guest tells the host, over the same uplink as its records (wire frame type
/// `event`): each step's outcome as values, not console text.
public struct LabEvent: Codable, Sendable, Equatable {
    /// The collector acknowledges an event by this id, as a record by its run id.
    public var id: UUID
    /// The guest's uptime when it happened.
    public var uptimeSeconds: Double
    public var kind: Kind

    public init(id: UUID = UUID(), uptimeSeconds: Double, kind: Kind) {
        self.id = id
        self.uptimeSeconds = uptimeSeconds
        self.kind = kind
    }

    public enum Kind: Codable, Sendable, Equatable {
        /// A disk's run ended: `device` is nil when no disk had the serial (exit 127).
        case diskRun(slot: Int, model: String, device: String?, exitStatus: Int)
        /// A disk's run outlived SIGKILL: the device never completed its I/O (the process
        /// waits in uninterruptible sleep). The agent leaves it behind and skips the disk's later
        /// passes.
        case diskStalled(slot: Int, model: String, device: String)
        /// A NIC found by its MAC (interface and driver), or not (nil).
        case nic(model: String, interface: String?, driver: String?)
        /// The network run through every NIC found (exit 127: none).
        case netRun(exitStatus: Int)
        /// Records sent after a step; `report` is what send said last.
        case send(after: String, exitStatus: Int, report: String)
        /// The throttle limits read from the control port, by slot.
        case throttles(iops: [Int: Int])
        case transportCheck(exitStatus: Int, report: String)
        case transportBench(transport: String, size: String, exitStatus: Int, records: Int, bytes: Int, seconds: Double, report: String)
        case vsockLoopback(exitStatus: Int, report: String)
        /// The job is over: the first failed send's status, else 0.
        case done(sendStatus: Int)
    }

    /// One line for the console and the lab's progress.
    public var text: String {
        switch kind {
        case let .diskRun(slot, model, device, status):
            device.map { "run \(model) on \($0) exit \(status) slot \(slot)" } ?? "run \(model) exit \(status) slot \(slot) (no disk with its serial)"
        case let .diskStalled(slot, model, device):
            "run \(model) on \(device) stalled slot \(slot): it outlived SIGKILL (I/O the device never completed); later passes skipped"
        case let .nic(model, interface, driver):
            interface.map { "nic \(model) \($0) \(driver ?? "-")" } ?? "nic \(model) missing (no interface with its MAC)"
        case let .netRun(status): "run net exit \(status)"
        case let .send(after, status, report): "send \(after) exit \(status): \(report)"
        case let .throttles(iops): "throttles " + iops.sorted { $0.key < $1.key }.map { "d\($0.key)=\($0.value)" }.joined(separator: " ")
        case let .transportCheck(status, report): "transport check exit \(status): \(report)"
        case let .transportBench(t, size, status, records, bytes, seconds, report):
            "transport bench \(t) \(size) exit \(status): \(records) records \(bytes) bytes in \(seconds) s: \(report)"
        case let .vsockLoopback(status, report): "vsock send exit \(status); \(report)"
        case let .done(status): "send exit \(status)"
        }
    }
}
