import CVBenchShims
import Glibc
import SystemPackage

/// What a path names, as `stat` tells it.
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case regular, blockDevice, directory, other }
    public var kind: Kind
    public var sizeBytes: UInt64
    /// Major and minor of the device holding the file (`st_dev`).
    public var containingDevice: (major: UInt32, minor: UInt32)
    /// Major and minor of a block device node (`st_rdev`).
    public var deviceNumber: (major: UInt32, minor: UInt32)

    public static func == (a: FileStatus, b: FileStatus) -> Bool {
        a.kind == b.kind && a.sizeBytes == b.sizeBytes
            && a.containingDevice == b.containingDevice && a.deviceNumber == b.deviceNumber
    }

    /// `stat(path)`; nil when the path does not exist.
    /// The corresponding C function is `stat`.
    public static func of(_ path: String) throws(SystemError) -> FileStatus? {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT { return nil }
            throw SystemError("stat", path, errno: Errno(rawValue: errno))
        }
        let kind: Kind = switch st.st_mode & S_IFMT {
        case S_IFREG: .regular
        case S_IFBLK: .blockDevice
        case S_IFDIR: .directory
        default: .other
        }
        return FileStatus(kind: kind, sizeBytes: UInt64(st.st_size),
                          containingDevice: split(UInt64(st.st_dev)),
                          deviceNumber: split(UInt64(st.st_rdev)))
    }

    /// glibc's `gnu_dev_major`/`gnu_dev_minor` (macros Swift does not import).
    static func split(_ dev: UInt64) -> (major: UInt32, minor: UInt32) {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }
}

/// The filesystem holding a path (`statfs` f_type), named.
public enum FileSystemType {
    /// `ext4`, `xfs`, `tmpfs`, … or `0x…` for an unknown magic.
    /// The corresponding C function is `statfs`.
    public static func name(of path: String) -> String? {
        let type = vbench_statfs_type(path)
        guard type >= 0 else { return nil }
        let magic = UInt64(type) & 0xffff_ffff
        return names[magic] ?? "0x" + String(magic, radix: 16)
    }

    static let names: [UInt64: String] = [
        0xEF53: "ext4", 0x5846_5342: "xfs", 0x9123_683E: "btrfs", 0x0102_1994: "tmpfs",
        0x794C_7630: "overlay", 0x6969: "nfs", 0x2FC1_2FC1: "zfs", 0x858_458F6: "ramfs",
        0xF2F5_2010: "f2fs", 0x4D44: "vfat", 0x6573_5546: "fuse", 0x6573_5543: "fuseblk",
        0x0102_1997: "9p", 0x5346_4846: "virtiofs",
    ]
}

/// A file descriptor for benchmark I/O, closed when the value goes away.
public struct BenchmarkFile: ~Copyable {
    public let descriptor: Int32
    public let path: String

    /// Opens `path` for reading or reading and writing, with O_DIRECT unless `direct` is false.
    /// The corresponding C function is `open`.
    public init(path: String, writable: Bool, direct: Bool, create: Bool = false) throws(SystemError) {
        var flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC
        if direct { flags |= vbench_o_direct() }
        if create { flags |= O_CREAT | O_EXCL }
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw SystemError("open", path, errno: Errno(rawValue: errno)) }
        self.descriptor = fd
        self.path = path
    }

    deinit { close(descriptor) }

    /// Allocates `size` bytes of disk space. The corresponding C function is `posix_fallocate`.
    public func allocate(sizeBytes: UInt64) throws(SystemError) {
        let rc = posix_fallocate(descriptor, 0, off_t(sizeBytes))
        guard rc == 0 else { throw SystemError("posix_fallocate", path, errno: Errno(rawValue: rc)) }
    }

    /// Writes all of `count` bytes at `offset` (retrying short writes and EINTR).
    /// The corresponding C function is `pwrite`.
    public func write(_ buffer: UnsafeRawPointer, count: Int, at offset: UInt64) throws(SystemError) {
        var done = 0
        while done < count {
            let n = pwrite(descriptor, buffer + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("pwrite", path, errno: Errno(rawValue: errno))
            }
            done += n
        }
    }

    /// Reads up to `count` bytes at `offset`. The corresponding C function is `pread`.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: UInt64) throws(SystemError) -> Int {
        while true {
            let n = pread(descriptor, buffer, count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw SystemError("pread", path, errno: Errno(rawValue: errno))
        }
    }

    /// Flushes written data to the device. The corresponding C function is `fdatasync`.
    public func synchronize() throws(SystemError) {
        guard fdatasync(descriptor) == 0 else { throw SystemError("fdatasync", path, errno: Errno(rawValue: errno)) }
    }

    /// The size of a block device in bytes. The corresponding C call is `ioctl(BLKGETSIZE64)`.
    public func blockDeviceSize() throws(SystemError) -> UInt64 {
        var size: UInt64 = 0
        let rc = vbench_blk_size_bytes(descriptor, &size)
        guard rc == 0 else { throw SystemError("ioctl(BLKGETSIZE64)", path, errno: Errno(rawValue: -rc)) }
        return size
    }

    /// The logical sector size of a block device. The corresponding C call is `ioctl(BLKSSZGET)`.
    public func logicalSectorSize() throws(SystemError) -> Int {
        var size: Int32 = 0
        let rc = vbench_blk_logical_sector_size(descriptor, &size)
        guard rc == 0 else { throw SystemError("ioctl(BLKSSZGET)", path, errno: Errno(rawValue: -rc)) }
        return Int(size)
    }
}

/// Opens a character device (a virtio-serial port) for reading and writing on one descriptor,
/// which the caller then owns. The corresponding C function is `open`.
public func openCharacterDevice(_ path: String) throws(SystemError) -> Int32 {
    let fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY)
    guard fd >= 0 else { throw SystemError("open", path, errno: Errno(rawValue: errno)) }
    return fd
}

/// Removes a file. The corresponding C function is `unlink`.
public func removeFile(_ path: String) throws(SystemError) {
    guard unlink(path) == 0 else { throw SystemError("unlink", path, errno: Errno(rawValue: errno)) }
}

/// This machine's host name. The corresponding C function is `gethostname`.
public func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Whether standard error is a terminal (for progress lines).
public func standardErrorIsTerminal() -> Bool { isatty(2) == 1 }

/// Writes text to standard error without buffering, all of it (short writes and EINTR retried).
public func writeStandardError(_ text: String) {
    var t = text
    t.withUTF8 { buffer in
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(2, base + offset, buffer.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

/// Flushes buffered standard output (so notes on standard error come after it).
public func flushStandardOutput() { fflush(nil) }  // nil flushes every output stream
