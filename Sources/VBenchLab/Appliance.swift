import Foundation

/// Where the lab keeps downloaded kernels, appliances, backing disks and boot logs.
public struct LabCache: Sendable {
    public var root: String

    /// `$VBENCH_LAB_CACHE`, else /var/tmp/vbench-lab-cache (kept across reboots, never in git).
    public static func standard() -> LabCache {
        LabCache(root: ProcessInfo.processInfo.environment["VBENCH_LAB_CACHE"] ?? "/var/tmp/vbench-lab-cache")
    }

    public init(root: String) { self.root = root }

    public func path(_ component: String) -> String { "\(root)/\(component)" }

    func makeDirectory(_ component: String) throws -> String {
        let p = path(component)
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
}

/// A Debian kernel unpacked into the cache (never installed on this machine).
public struct GuestKernel: Sendable {
    /// The default guest kernel: Debian bookworm's generic amd64 flavour (it has every driver
    /// of the matrix as a module; the -cloud flavour lacks e1000).
    public static let defaultVersion = "6.1.0-56-amd64"

    public var version: String
    public var root: String
    public var image: String { "\(root)/boot/vmlinuz-\(version)" }
    public var modules: String { "\(root)/lib/modules/\(version)" }

    /// Unpacks `linux-image-VERSION` into the cache, downloading it with `apt-get download`
    /// first when no .deb of it is cached. Says what it does through `log`.
    public static func prepare(version: String, cache: LabCache, log: (String) -> Void) throws -> GuestKernel {
        guard version.range(of: #"^[0-9][0-9A-Za-z.+~-]*$"#, options: .regularExpression) != nil else {
            throw LabError("--kernel \(version): not a kernel version (e.g. \(defaultVersion))")
        }
        let root = cache.path("kernel-\(version)")
        let kernel = GuestKernel(version: version, root: root)
        let fm = FileManager.default
        if fm.fileExists(atPath: kernel.image) && fm.fileExists(atPath: "\(kernel.modules)/modules.dep") {
            return kernel
        }
        let debs = try cache.makeDirectory("debs")
        let prefix = "linux-image-\(version)_"
        var deb = (try? fm.contentsOfDirectory(atPath: debs))?.first { $0.hasPrefix(prefix) && $0.hasSuffix(".deb") }
        if deb == nil {
            // An older cache layout kept the .deb at the top.
            if let old = (try? fm.contentsOfDirectory(atPath: cache.root))?.first(where: { $0.hasPrefix(prefix) && $0.hasSuffix(".deb") }) {
                try fm.copyItem(atPath: cache.path(old), toPath: "\(debs)/\(old)")
                deb = old
            }
        }
        if deb == nil {
            log("downloading linux-image-\(version) with apt-get download into \(debs) (not installed)")
            let o = try Subprocess.run("apt-get", ["download", "linux-image-\(version)"], timeout: 600, currentDirectory: debs)
            guard o.status == 0 && !o.timedOut else {
                throw LabError("""
                    apt-get download linux-image-\(version) failed: \(o.stderr.split(separator: "\n").last ?? "")
                    Run `apt-get update` first, or pick an available version: apt-cache search '^linux-image-6.1.0-[0-9]+-amd64$'
                    """)
            }
            deb = (try? fm.contentsOfDirectory(atPath: debs))?.first { $0.hasPrefix(prefix) && $0.hasSuffix(".deb") }
        }
        guard let debName = deb else { throw LabError("apt-get download left no \(prefix)*.deb in \(debs)") }
        log("unpacking \(debName) into \(root)")
        let partial = root + ".partial"
        try? fm.removeItem(atPath: partial)
        try Subprocess.check("dpkg-deb", ["-x", "\(debs)/\(debName)", partial], timeout: 300, what: "unpacking the kernel package")
        let staged = GuestKernel(version: version, root: partial)
        guard fm.fileExists(atPath: staged.image) else { throw LabError("\(debName) holds no /boot/vmlinuz-\(version)") }
        if !fm.fileExists(atPath: "\(staged.modules)/modules.dep") || ((try? fm.attributesOfItem(atPath: "\(staged.modules)/modules.dep"))?[.size] as? Int ?? 0) == 0 {
            // Debian's package ships no modules.dep (the postinst makes it); busybox can.
            try Subprocess.check(Appliance.busybox, ["depmod", "-b", partial, version], timeout: 300, what: "depmod for \(version)")
        }
        try? fm.removeItem(atPath: root)
        try fm.moveItem(atPath: partial, toPath: root)
        return kernel
    }
}

/// The guest appliance: a gzip initramfs with busybox, a static vbench, the matrix's kernel
/// modules and an init that runs the job the lab appends, sends the records and powers off.
/// Cached by the SHA-256 of everything that goes into it.
public struct Appliance: Sendable {
    public var kernel: GuestKernel
    public var initrd: String
    public var hash: String
    public var bytes: Int
    public var moduleCount: Int

    /// Debian's busybox-static.
    public static let busybox = "/bin/busybox"

    /// Drivers of every device model, the virtio console for the uplink and the vsock stack,
    /// and what the guest audit's seeds attach: the display drivers (QXL, virtio-gpu, Bochs
    /// std VGA, Cirrus), the balloon and the RNG. Only devices present load them.
    public static let modules = [
        "virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_scsi", "sd_mod",
        "ata_piix", "ahci", "nvme", "vmw_pvscsi", "e1000", "e1000e", "vmxnet3", "8139cp",
        "vsock_loopback", "vmw_vsock_virtio_transport",
        "qxl", "virtio_gpu", "bochs", "cirrus", "virtio_balloon", "virtio_rng",
        // The spool crash test's disk (`vbench lab crash`): ext4 and the checksum it asks for.
        "ext4", "crc32c_generic",
    ]

    /// Bump when the layout or the init changes in a way the hash of the inputs cannot see.
    static let formatVersion = "4"

    /// Builds the appliance (or returns the cached one) for `kernel` with the static vbench at `binary`.
    public static func build(kernel: GuestKernel, binary: String, cache: LabCache, log: (String) -> Void) throws -> Appliance {
        let fm = FileManager.default
        guard fm.isExecutableFile(atPath: busybox), try ELF.isStatic(busybox) else {
            throw LabError("\(busybox) is missing or not static: apt-get install busybox-static")
        }
        guard fm.isExecutableFile(atPath: binary) else { throw LabError("no vbench binary at \(binary)") }
        guard try ELF.isStatic(binary) else {
            throw LabError("\(binary) is dynamically linked; the guest needs a static vbench: swift build -c release --scratch-path .build-static -Xswiftc -static-executable")
        }
        // Modules and their dependencies, from modules.dep.
        let dep = try String(contentsOfFile: "\(kernel.modules)/modules.dep", encoding: .utf8)
        var depends: [String: [String]] = [:]
        for line in dep.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard let file = parts.first else { continue }
            depends[String(file)] = parts.count > 1 ? parts[1].split(separator: " ").map(String.init) : []
        }
        var files = Set<String>()
        for m in modules {
            guard let file = depends.keys.first(where: { moduleName(of: $0) == m }) else {
                throw LabError("kernel \(kernel.version) has no module \(m) (built in or missing); the lab needs it as a module or built in")
            }
            files.insert(file)
            for d in depends[file] ?? [] { files.insert(d) }
        }
        let hashInputs = [binary, busybox] + files.sorted().map { "\(kernel.modules)/\($0)" }
        let inputHash = try sha256(files: hashInputs, text: [formatVersion, kernel.version, initScript, files.sorted().joined(separator: ",")])
        let short = String(inputHash.prefix(16))
        let initrd = cache.path("appliance-\(short).cpio.gz")
        if fm.fileExists(atPath: initrd), let size = (try? fm.attributesOfItem(atPath: initrd))?[.size] as? Int, size > 0 {
            return Appliance(kernel: kernel, initrd: initrd, hash: short, bytes: size, moduleCount: files.count)
        }
        log("building the guest appliance \(short) (\(files.count) modules for kernel \(kernel.version))")
        let stage = cache.path("stage-\(short)")
        try? fm.removeItem(atPath: stage)
        for dir in ["bin", "sbin", "dev", "proc", "sys", "tmp", "out", "lib/modules/\(kernel.version)"] {
            try fm.createDirectory(atPath: "\(stage)/\(dir)", withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: busybox, toPath: "\(stage)/bin/busybox")
        let applets = try Subprocess.check(busybox, ["--list"], timeout: 30, what: "busybox --list").stdout.split(separator: "\n")
        for applet in applets where applet != "busybox" {
            try? fm.createSymbolicLink(atPath: "\(stage)/bin/\(applet)", withDestinationPath: "busybox")
        }
        for applet in ["modprobe", "insmod", "depmod", "poweroff"] {
            try? fm.createSymbolicLink(atPath: "\(stage)/sbin/\(applet)", withDestinationPath: "../bin/busybox")
        }
        try fm.copyItem(atPath: binary, toPath: "\(stage)/vbench")
        if let strip = Subprocess.find("strip") { _ = try? Subprocess.run(strip, ["\(stage)/vbench"], timeout: 120) }
        for file in files {
            let source = "\(kernel.modules)/\(file)"
            // busybox modprobe loads plain .ko files: decompress .ko.xz / .ko.zst / .ko.gz here.
            var target = "\(stage)/lib/modules/\(kernel.version)/\(file)"
            try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if let (ext, tool) = [(".xz", "xz"), (".zst", "zstd"), (".gz", "gzip")].first(where: { file.hasSuffix($0.0) }) {
                target.removeLast(ext.count)
                try Subprocess.check("sh", ["-c", "\(tool) -dc \"$1\" > \"$2\"", "sh", source, target], timeout: 120,
                                     what: "decompressing \(file) (install \(tool))")
            } else {
                try fm.copyItem(atPath: source, toPath: target)
            }
        }
        for extra in ["modules.order", "modules.builtin", "modules.builtin.modinfo"] where fm.fileExists(atPath: "\(kernel.modules)/\(extra)") {
            try fm.copyItem(atPath: "\(kernel.modules)/\(extra)", toPath: "\(stage)/lib/modules/\(kernel.version)/\(extra)")
        }
        // Staged names drop compression suffixes; modules.order must name them the same way.
        try Subprocess.check(busybox, ["depmod", "-b", stage, kernel.version], timeout: 120, what: "depmod of the staged modules")
        try initScript.write(toFile: "\(stage)/init", atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(stage)/init")
        let partial = initrd + ".partial"
        try Subprocess.check("bash", ["-c", "set -o pipefail; cd \"$1\" && find . | sort | cpio -o -H newc --quiet | gzip -6 > \"$2\"", "sh", stage, partial],
                             timeout: 300, what: "packing the initramfs (needs cpio and gzip)")
        try? fm.removeItem(atPath: initrd)
        try fm.moveItem(atPath: partial, toPath: initrd)
        try? fm.removeItem(atPath: stage)
        let size = (try fm.attributesOfItem(atPath: initrd))[.size] as? Int ?? 0
        log("appliance \(initrd): \(size) bytes")
        pruneAppliances(in: cache, keeping: 4)
        return Appliance(kernel: kernel, initrd: initrd, hash: short, bytes: size, moduleCount: files.count)
    }

    /// Removes all but the `keeping` newest appliances from the cache (each binary build makes
    /// a new one of about 30 MB; kernels and debs stay).
    static func pruneAppliances(in cache: LabCache, keeping: Int) {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: cache.root)) ?? []).filter { $0.hasPrefix("appliance-") && $0.hasSuffix(".cpio.gz") }
        let dated = names.map { ($0, ((try? fm.attributesOfItem(atPath: cache.path($0)))?[.modificationDate] as? Date) ?? .distantPast) }
        for (name, _) in dated.sorted(by: { $0.1 > $1.1 }).dropFirst(keeping) { try? fm.removeItem(atPath: cache.path(name)) }
    }

    /// True when the file is an ELF executable without a dynamic loader (a static binary).
    public static func isStaticExecutable(_ path: String) throws -> Bool { try ELF.isStatic(path) }

    /// `kernel/drivers/block/virtio_blk.ko.xz` → `virtio_blk`; dashes count as underscores.
    static func moduleName(of file: String) -> String {
        var name = String(file.split(separator: "/").last ?? "")
        for ext in [".xz", ".zst", ".gz"] where name.hasSuffix(ext) { name.removeLast(ext.count) }
        if name.hasSuffix(".ko") { name.removeLast(3) }
        return name.replacingOccurrences(of: "-", with: "_")
    }

    /// SHA-256 (coreutils sha256sum) over files and texts, as one hex digest.
    static func sha256(files: [String], text: [String]) throws -> String {
        let o = try Subprocess.check("sha256sum", files, timeout: 300, what: "hashing the appliance inputs")
        let combined = o.stdout.split(separator: "\n").map { String($0.prefix(64)) }.joined(separator: "\n") + "\n" + text.joined(separator: "\n")
        let tmp = NSTemporaryDirectory() + "vbench-hash-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        try combined.write(toFile: tmp, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        return String(try Subprocess.check("sha256sum", [tmp], timeout: 60, what: "hashing").stdout.prefix(64))
    }

    /// The guest's /init: mount, load the drivers of the devices present, name the virtio
    /// ports, run the job the lab appended (/job/job.json, through `vbench lab agent`), power
    /// off. Markers on the console (`VBENCH-LAB: …`) tell the host where the guest is.
    public static let initScript = #"""
        #!/bin/sh
        # vbench lab guest init (generated by vbench lab image).
        export PATH=/bin:/sbin
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev
        mount -t tmpfs -o size=64m tmpfs /tmp
        say() { echo "VBENCH-LAB: $* at $(cut -d' ' -f1 /proc/uptime) s"; }
        say "init"
        # Coldplug as udev would: the module for every device's modalias, until nothing new loads
        # (virtio and SCSI devices appear only after their bus drivers).
        last=""
        for pass in 1 2 3 4 5; do
            for alias in $(cat /sys/bus/*/devices/*/modalias 2>/dev/null | sort -u); do
                modprobe -q "$alias" 2>/dev/null
            done
            now=$(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')
            [ "$now" = "$last" ] && break
            last=$now
            sleep 0.3
        done
        mkdir -p /dev/virtio-ports
        for p in /sys/class/virtio-ports/*; do
            [ -f "$p/name" ] && ln -sf "../${p##*/}" "/dev/virtio-ports/$(cat "$p/name")"
        done
        say "modules $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
        say "block $(ls /sys/block | tr '\n' ' ')"
        say "ready"
        if [ -f /job/job.json ]; then
            /vbench lab agent --job /job/job.json
            say "job exit $?"
        fi
        sync
        say "poweroff"
        poweroff -f
        """#
}

/// Reads just enough of an ELF file to tell a static executable from a dynamic one.
enum ELF {
    /// True when the file has no PT_INTERP program header (no dynamic loader).
    static func isStatic(_ path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw LabError("cannot read \(path)") }
        defer { try? handle.close() }
        let header = handle.readData(ofLength: 64)
        guard header.count == 64, header.prefix(4) == Data([0x7f, 0x45, 0x4c, 0x46]), header[4] == 2 else {
            throw LabError("\(path) is not a 64-bit ELF executable")
        }
        func u16(_ d: Data, _ o: Int) -> Int { Int(d[d.startIndex + o]) | Int(d[d.startIndex + o + 1]) << 8 }
        func u64(_ d: Data, _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(d[d.startIndex + o + $1]) << (8 * UInt64($1)) } }
        let phoff = u64(header, 32), phentsize = u16(header, 54), phnum = u16(header, 56)
        try handle.seek(toOffset: phoff)
        let table = handle.readData(ofLength: phentsize * phnum)
        for i in 0..<phnum where table.count >= (i + 1) * phentsize {
            let type = UInt32(truncatingIfNeeded: u64(table, i * phentsize) & 0xffff_ffff)
            if type == 3 { return false }  // PT_INTERP
        }
        return true
    }
}
