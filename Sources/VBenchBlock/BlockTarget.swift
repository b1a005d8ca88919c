import VBenchCore
import VBenchSystem
import SystemPackage

/// A file or block device ready for the engine.
public struct PreparedTarget: Sendable {
    public var path: String
    public var kind: TargetInfo.Kind
    /// Bytes the workloads address (a multiple of every block size in use).
    public var sizeBytes: UInt64
    /// vbench created this file; it removes it afterwards unless `--keep`.
    public var created: Bool
    /// Every 512-byte unit holds the verify pattern, so reads can be checked.
    public var holdsVerifyPattern: Bool
    public var direct: Bool
    public var filesystem: String?
    /// `st_dev` of a file target or `st_rdev` of a device: finds the disk underneath.
    public var deviceNumber: (major: UInt32, minor: UInt32)

    /// What a record says about the target.
    public var info: TargetInfo {
        TargetInfo(path: path, kind: kind, sizeBytes: sizeBytes, direct: direct, filesystem: filesystem)
    }
}

/// What the run asks of its target.
public struct TargetRequest: Sendable {
    public var path: String
    /// Size of a file vbench creates; for existing targets, at most this much is used (nil = all).
    public var sizeBytes: UInt64?
    public var writes: Bool
    public var allowDestructive: Bool
    public var direct: Bool
    /// Largest block size of the workloads: the target size is rounded down to it.
    public var largestBlockBytes: Int
    /// Smallest block size of the workloads: a device's logical sector must divide it.
    public var smallestBlockBytes: Int
    /// Name of a file created inside a directory target.
    public var fileNameInDirectory: String

    public init(path: String, sizeBytes: UInt64?, writes: Bool, allowDestructive: Bool, direct: Bool,
                largestBlockBytes: Int, smallestBlockBytes: Int? = nil, fileNameInDirectory: String) {
        self.path = path
        self.sizeBytes = sizeBytes
        self.writes = writes
        self.allowDestructive = allowDestructive
        self.direct = direct
        self.largestBlockBytes = largestBlockBytes
        self.smallestBlockBytes = smallestBlockBytes ?? largestBlockBytes
        self.fileNameInDirectory = fileNameInDirectory
    }
}

/// Creates, checks and lays out targets; removes what it created.
public enum BlockTargetPreparer {
    /// The default size of a file vbench creates.
    public static let defaultFileBytes: UInt64 = 1 << 30

    /// Prepares `request.path`. For a block device, `usage` (from the probe) says what holds it.
    public static func prepare(_ request: TargetRequest, usage: (FileStatus) -> DeviceUsage,
                               progress: (String) -> Void = { _ in }) throws(BlockError) -> PreparedTarget {
        var path = request.path
        var status: FileStatus?
        do { status = try FileStatus.of(path) } catch { throw .system(error) }
        if let s = status, s.kind == .directory {
            path = (path.hasSuffix("/") ? path : path + "/") + request.fileNameInDirectory
            do { status = try FileStatus.of(path) } catch { throw .system(error) }
        }
        guard let status else {
            return try createFile(path: path, request: request, progress: progress)
        }
        switch status.kind {
        case .regular:
            if request.writes && !request.allowDestructive { throw .existingFileWrite(path: path) }
            try checkDirect(path: path, direct: request.direct, writable: request.writes)
            let size = usableSize(status.sizeBytes, request)
            guard size > 0 else { throw .targetTooSmall(path: path, sizeBytes: status.sizeBytes, blockSizeBytes: request.largestBlockBytes) }
            return PreparedTarget(path: path, kind: .file, sizeBytes: size, created: false, holdsVerifyPattern: false,
                                  direct: request.direct, filesystem: FileSystemType.name(of: path),
                                  deviceNumber: status.containingDevice)
        case .blockDevice:
            return try prepareDevice(path: path, status: status, request: request, usage: usage(status))
        case .directory, .other:
            throw .notABlockTarget(path: path)
        }
    }

    /// Removes a target vbench created.
    public static func cleanUp(_ target: PreparedTarget) throws(BlockError) {
        guard target.created else { return }
        do { try removeFile(target.path) } catch { throw .system(error) }
    }

    static func usableSize(_ available: UInt64, _ request: TargetRequest) -> UInt64 {
        let wanted = min(available, request.sizeBytes ?? available)
        let bs = UInt64(request.largestBlockBytes)
        return wanted / bs * bs
    }

    private static func checkDirect(path: String, direct: Bool, writable: Bool) throws(BlockError) {
        guard direct else { return }
        do {
            _ = try BenchmarkFile(path: path, writable: writable, direct: true)
        } catch {
            if error.errno == .invalidArgument {
                throw .directIONotSupported(path: path, filesystem: FileSystemType.name(of: path) ?? "unknown")
            }
            throw .system(error)
        }
    }

    private static func createFile(path: String, request: TargetRequest,
                                   progress: (String) -> Void) throws(BlockError) -> PreparedTarget {
        let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        guard (try? FileStatus.of(parent.isEmpty ? "/" : parent))??.kind == .directory else {
            throw .parentMissing(path: path)
        }
        let bs = UInt64(request.largestBlockBytes)
        let size = max(bs, (request.sizeBytes ?? defaultFileBytes) / bs * bs)
        let file: BenchmarkFile
        do {
            file = try BenchmarkFile(path: path, writable: true, direct: request.direct, create: true)
        } catch {
            if error.errno == .invalidArgument {
                // O_DIRECT refused at open. Some filesystems (ramfs) create the file before they
                // refuse; O_EXCL proves it did not exist before, so it is ours to remove.
                try? removeFile(path)
                throw .directIONotSupported(path: path, filesystem: FileSystemType.name(of: parent.isEmpty ? "/" : parent) ?? "unknown")
            }
            throw .system(error)
        }
        // From here on, any failure removes the half-made file.
        do {
            do { try file.allocate(sizeBytes: size) } catch {
                if error.errno == .noSpace { throw BlockError.noSpace(path: path, neededBytes: size) }
                throw BlockError.system(error)
            }
            try layOut(file, sizeBytes: size, progress: progress)
        } catch {
            try? removeFile(path)
            if let e = error as? BlockError { throw e }
            throw .system(SystemError("lay out", path, errno: .ioError))
        }
        let fs = FileSystemType.name(of: path)
        let device = (try? FileStatus.of(path))??.containingDevice ?? (0, 0)
        return PreparedTarget(path: path, kind: .file, sizeBytes: size, created: true, holdsVerifyPattern: true,
                              direct: request.direct, filesystem: fs, deviceNumber: device)
    }

    /// Writes the verify pattern over the whole file, as fio lays out its files, so reads hit
    /// real blocks (not unwritten extents the filesystem answers with zeros) and can be verified.
    private static func layOut(_ file: borrowing BenchmarkFile, sizeBytes: UInt64,
                               progress: (String) -> Void) throws(BlockError) {
        let chunk = 1 << 20
        let buffer: AlignedBuffer
        do { buffer = try AlignedBuffer(count: chunk) } catch { throw .system(error) }
        var offset: UInt64 = 0
        var lastReport: UInt64 = 0
        while offset < sizeBytes {
            let n = Int(min(UInt64(chunk), sizeBytes - offset))
            VerifyPattern.fill(buffer.base, count: n, offset: offset, generation: 0)
            do { try file.write(buffer.base, count: n, at: offset) } catch {
                if error.errno == .noSpace { throw .noSpace(path: file.path, neededBytes: sizeBytes) }
                throw .system(error)
            }
            offset += UInt64(n)
            if offset - lastReport >= 64 << 20 || offset == sizeBytes {
                lastReport = offset
                progress("laying out \(file.path): \(offset >> 20)/\(sizeBytes >> 20) MiB")
            }
        }
        do { try file.synchronize() } catch { throw .system(error) }
    }

    private static func prepareDevice(path: String, status: FileStatus, request: TargetRequest,
                                      usage: DeviceUsage) throws(BlockError) -> PreparedTarget {
        let deviceBytes: UInt64
        let sector: Int
        var signatures: [String] = []
        do {
            let file = try BenchmarkFile(path: path, writable: false, direct: request.direct)
            deviceBytes = try file.blockDeviceSize()
            sector = try file.logicalSectorSize()
            if request.writes {
                let buffer = try AlignedBuffer(count: DeviceSignature.probeBytes)
                let n = try file.read(into: buffer.base, count: buffer.count, at: 0)
                signatures = DeviceSignature.detect(UnsafeRawBufferPointer(start: buffer.base, count: n))
            }
        } catch {
            if error.errno == .invalidArgument { throw .directIONotSupported(path: path, filesystem: "block device") }
            throw .system(error)
        }
        // O_DIRECT needs every transfer to be a multiple of the logical sector (4 KiB on 4Kn disks).
        if request.direct, sector > 0, request.smallestBlockBytes % sector != 0 {
            throw .blockSizeBelowSector(path: path, blockSizeBytes: request.smallestBlockBytes, sectorBytes: sector)
        }
        if request.writes {
            guard request.allowDestructive else { throw .deviceWriteNeedsFlag(path: path) }
            var reasons: [String] = []
            if !usage.mountPoints.isEmpty { reasons.append("it is mounted on \(usage.mountPoints.joined(separator: ", "))") }
            if usage.swap { reasons.append("it is in use as swap") }
            if !usage.holders.isEmpty { reasons.append("it is held by \(usage.holders.joined(separator: ", "))") }
            if !usage.partitions.isEmpty { reasons.append("it has partitions \(usage.partitions.joined(separator: ", "))") }
            for s in signatures { reasons.append("it carries a \(s) signature (wipefs shows it)") }
            if !reasons.isEmpty { throw .deviceInUse(path: path, reasons: reasons) }
        }
        let size = usableSize(deviceBytes, request)
        guard size > 0 else { throw .targetTooSmall(path: path, sizeBytes: deviceBytes, blockSizeBytes: request.largestBlockBytes) }
        return PreparedTarget(path: path, kind: .blockDevice, sizeBytes: size, created: false, holdsVerifyPattern: false,
                              direct: request.direct, filesystem: nil, deviceNumber: status.deviceNumber)
    }
}
