import VBenchCore
import VBenchSystem

/// What several audit checks read, read once: kernel modules, CPU flags, processes, the
/// distribution, virtio and PCI devices.
struct AuditFacts: Sendable {
    let fs: RootedFileSystem
    let hypervisor: Hypervisor
    let onlineCpus: Int
    let kernelRelease: String?
    let distribution: String?
    let family: DistributionFamily
    /// Module names in /proc/modules (underscored); nil when the file is absent (no modules).
    let loadedModules: Set<String>?
    /// Names under /sys/module (loaded modules and built-in ones with parameters).
    let sysModules: Set<String>
    /// `modules.builtin` and `modules.dep` of the running kernel, as module names.
    let builtinModules: Set<String>?
    let availableModules: Set<String>?
    /// Flags of the first CPU in /proc/cpuinfo.
    let cpuFlags: Set<String>
    /// `comm` of every process (/proc/N/comm), or nil when /proc lists no process.
    let processes: Set<String>?
    /// Every virtio device: sysfs name, virtio device id, bound driver, feature bits.
    let virtioDevices: [VirtioDevice]
    /// Every PCI function: address, `vvvv:dddd`, class, bound driver.
    let pciDevices: [PCIDevice]

    struct VirtioDevice: Sendable {
        var name: String
        var id: Int
        var driver: String?
        /// The `features` file: one `0`/`1` character per feature bit, bit 0 first.
        var features: String?
        func hasFeature(_ bit: Int) -> Bool? {
            guard let features, bit < features.count else { return nil }
            return features[features.index(features.startIndex, offsetBy: bit)] == "1"
        }
    }

    struct PCIDevice: Sendable {
        var address: String
        var id: String
        var classCode: String?
        var driver: String?
    }

    init(fs: RootedFileSystem, hypervisor: Hypervisor, onlineCpus: Int) {
        self.fs = fs
        self.hypervisor = hypervisor
        self.onlineCpus = onlineCpus
        let release = fs.readString("/proc/sys/kernel/osrelease")?.trimmingCharacters()
        kernelRelease = release
        let osRelease = Self.osRelease(fs)
        distribution = osRelease["ID"]
        family = DistributionFamily.of(id: osRelease["ID"], idLike: osRelease["ID_LIKE"])
        loadedModules = fs.readString("/proc/modules").map { text in
            Set(text.split(separator: "\n").compactMap { $0.split(separator: " ").first.map { String($0).replacingDashes() } })
        }
        sysModules = Set(fs.list("/sys/module").map { $0.replacingDashes() })
        if let release {
            // A fixture keeps only the lines of the drivers the audit asks about.
            builtinModules = fs.readLargeString("/lib/modules/\(release)/modules.builtin", limit: 16 << 20, recording: Self.auditedLines)
                .map(Self.moduleNames)
            availableModules = fs.readLargeString("/lib/modules/\(release)/modules.dep", limit: 16 << 20, recording: Self.auditedLines)
                .map(Self.moduleNames)
        } else {
            builtinModules = nil
            availableModules = nil
        }
        let cpuinfo = fs.readString("/proc/cpuinfo") ?? ""
        let flagsLine = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") || $0.hasPrefix("Features") }
        cpuFlags = Set((flagsLine?.split(separator: ":", maxSplits: 1).last ?? "").split(separator: " ").map(String.init))
        // Every process's name, but a recording keeps only PID 1 and the agents' processes.
        let pids = fs.list("/proc", record: false).filter { $0.allSatisfy(\.isNumber) }
        let watched = Set(GuestAgent.all.flatMap(\.processes))
        processes = pids.isEmpty ? nil : Set(pids.compactMap { pid in
            guard let comm = fs.readString("/proc/\(pid)/comm", record: false)?.trimmingCharacters() else { return nil }
            if pid == "1" || watched.contains(comm) { fs.recorder?.recordText("/proc/\(pid)/comm", comm + "\n") }
            return comm
        })
        virtioDevices = fs.list("/sys/bus/virtio/devices").map { name in
            let base = "/sys/bus/virtio/devices/\(name)"
            return VirtioDevice(name: name, id: Int(fs.readInt("\(base)/device") ?? -1),
                                driver: fs.readLink("\(base)/driver").map(lastComponent),
                                features: fs.readString("\(base)/features")?.trimmingCharacters())
        }
        pciDevices = fs.list("/sys/bus/pci/devices").compactMap { address in
            let base = "/sys/bus/pci/devices/\(address)"
            guard let vendor = fs.readString("\(base)/vendor"), let device = fs.readString("\(base)/device") else { return nil }
            return PCIDevice(address: address, id: "\(DeviceInventory.hex4(vendor)):\(DeviceInventory.hex4(device))",
                             classCode: fs.readString("\(base)/class")?.trimmingCharacters().lowercased(),
                             driver: fs.readLink("\(base)/driver").map(lastComponent))
        }
    }

    /// How a kernel driver is present: bound to a device, loaded, built in, available as a
    /// module, or not in this kernel (nil: could not tell).
    enum ModuleState: String, Sendable {
        case loaded = "loaded"
        case builtIn = "built in"
        case available = "available as a module, not loaded"
        case missing = "not in this kernel"
    }

    func moduleState(_ module: String) -> (state: ModuleState?, evidence: String) {
        let name = module.replacingDashes()
        if loadedModules?.contains(name) == true { return (.loaded, "/proc/modules: \(name)") }
        if let builtin = builtinModules, builtin.contains(name) {
            return (.builtIn, "/lib/modules/\(kernelRelease ?? "?")/modules.builtin: \(name).ko")
        }
        if sysModules.contains(name) {
            // A loaded module has /sys/module/NAME/initstate; a built-in one does not.
            let loaded = fs.exists("/sys/module/\(name)/initstate")
            return (loaded ? .loaded : .builtIn, "/sys/module/\(name)" + (loaded ? "/initstate" : " (no initstate: built in)"))
        }
        if let available = availableModules, available.contains(name) {
            return (.available, "/lib/modules/\(kernelRelease ?? "?")/modules.dep: \(name).ko")
        }
        if builtinModules != nil && availableModules != nil {
            return (.missing, "\(name) is in neither modules.builtin nor modules.dep of \(kernelRelease ?? "?")")
        }
        if loadedModules == nil {
            // No /proc/modules (CONFIG_MODULES=n) and no /lib/modules: what is not under
            // /sys/module or bound under /sys/bus is not in this kernel.
            return (.missing, "/proc/modules absent (no module support) and no /sys/module/\(name)")
        }
        return (nil, "\(name) not in /proc/modules or /sys/module; /lib/modules/\(kernelRelease ?? "?") unreadable")
    }

    /// The lines of a module list that name a driver the audit asks about.
    static func auditedLines(_ text: String) -> String {
        let wanted = Set(ExpectedDriver.all.map(\.module))
        return text.split(separator: "\n").filter { moduleNames(String($0)).contains(where: wanted.contains) }
            .joined(separator: "\n") + "\n"
    }

    static func moduleNames(_ text: String) -> Set<String> {
        // "kernel/drivers/block/virtio_blk.ko: kernel/..." or "kernel/drivers/char/hw_random/virtio-rng.ko.xz"
        var out = Set<String>()
        for line in text.split(separator: "\n") {
            let path = line.split(separator: ":", maxSplits: 1).first ?? line
            guard let file = path.split(separator: "/").last, let dot = file.firstIndex(of: ".") else { continue }
            out.insert(String(file[..<dot]).replacingDashes())
        }
        return out
    }

    static func osRelease(_ fs: RootedFileSystem) -> [String: String] {
        let text = fs.readString("/etc/os-release") ?? fs.readString("/usr/lib/os-release") ?? ""
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            var value = String(parts[1])
            if value.count >= 2, let f = value.first, f == "\"" || f == "'", value.last == f { value = String(value.dropFirst().dropLast()) }
            out[String(parts[0])] = value
        }
        return out
    }
}

extension String {
    func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}
