import FoundationEssentials
import Testing
import VBenchTestSupport
import VBenchCore
@testable import VBenchProbe
import VBenchSystem

/// The probe on the machine running the tests (read-only).
@Suite struct LiveProbeTests {
    @Test func liveProbeFindsTheDiskHoldingTheTestFiles() throws {
        let fs = RootedFileSystem()
        let probe = SystemProbe(fs: fs)
        let env = probe.environment()
        #expect(env.onlineCpus >= 1)
        #expect(env.memoryBytes > 0)
        #expect(!env.kernelRelease.isEmpty)
        let status = try #require(try FileStatus.of("/var/tmp"))
        let inventory = DeviceInventory(fs: fs, hypervisor: env.hypervisor.vendor)
        let disk = inventory.disk(holding: status.containingDevice.major, status.containingDevice.minor)
        // A disk-backed /var/tmp has a disk with a driver; an overlay or tmpfs has none.
        if let disk {
            #expect(!disk.driverChain.isEmpty || disk.deviceClass == .virtual)
        }
    }

    @Test func autoNeverPicksTheRootDisk() throws {
        let fs = RootedFileSystem()
        let reader = DeviceUsageReader(fs: fs)
        let env = SystemProbe(fs: fs).environment()
        let disks = DeviceInventory(fs: fs, hypervisor: env.hypervisor.vendor).disks()
        let root = try #require(reader.rootDeviceNumber())
        for (disk, refusal) in reader.autoTargets(disks) {
            let number = reader.deviceNumber(of: disk.name).map { "\($0.0):\($0.1)" }
            let partitions = fs.list("/sys/block/\(disk.name)").compactMap { fs.readString("/sys/block/\(disk.name)/\($0)/dev") }
            if number == root || partitions.contains(root) {
                #expect(refusal == "holds the root filesystem", "\(disk.name) holds / but was offered")
            }
        }
    }

    @Test func recordingTheLiveSystemReproducesItsReport() throws {
        let dir = try ScratchFolder()
        let live = SystemProbe(fs: RootedFileSystem(root: "/", recorder: TreeRecorder(destination: dir.path))).report()
        let replay = SystemProbe(fs: RootedFileSystem(root: dir.path)).report()
        #expect(replay.disks == live.disks)
        #expect(replay.nics == live.nics)
        #expect(replay.paravirtualDrivers == live.paravirtualDrivers)
        #expect(replay.environment.hypervisor == live.environment.hypervisor)
        #expect(replay.environment.container == live.environment.container)
        #expect(replay.environment.cpuModel == live.environment.cpuModel)
        #expect(replay.environment.kernelRelease == live.environment.kernelRelease)
    }

    @Test func liveContainerVerdictShowsItsEvidence() throws {
        let container = try #require(SystemProbe(fs: RootedFileSystem()).environment().container)
        #expect(!container.evidence.isEmpty)
        #expect(container.evidence.contains { $0.contains("PID namespace") || $0.contains("/proc/self/ns/pid") })
    }
}
