import VBenchSystem

/// Why a block run could not start or finish. Every case names the thing and the fix.
public enum BlockError: Error, CustomStringConvertible, Sendable {
    case directIONotSupported(path: String, filesystem: String)
    case parentMissing(path: String)
    case targetTooSmall(path: String, sizeBytes: UInt64, blockSizeBytes: Int)
    case blockSizeBelowSector(path: String, blockSizeBytes: Int, sectorBytes: Int)
    case existingFileWrite(path: String)
    case deviceWriteNeedsFlag(path: String)
    case deviceInUse(path: String, reasons: [String])
    case notABlockTarget(path: String)
    case noSpace(path: String, neededBytes: UInt64)
    case system(SystemError)
    case jobFailed(workload: String, job: Int, failure: JobFailure)
    case verifyFailed(path: String, mismatch: VerifyPattern.Mismatch)

    public var description: String {
        switch self {
        case let .directIONotSupported(path, fs):
            "the \(fs) filesystem holding \(path) refuses O_DIRECT; put the target on a disk-backed filesystem, or pass --buffered to measure through the page cache"
        case let .parentMissing(path):
            "the directory for \(path) does not exist; create it or name a target in an existing directory"
        case let .targetTooSmall(path, size, bs):
            "\(path) holds \(size) bytes, less than one \(bs)-byte block; use a larger target or a smaller --bs"
        case let .blockSizeBelowSector(path, bs, sector):
            "\(path) has \(sector)-byte logical sectors, and O_DIRECT needs block sizes that are multiples of them; got --bs \(bs): pass --bs \(sector) or larger"
        case let .existingFileWrite(path):
            "\(path) exists and the workload writes to it, which would overwrite its contents; name a new path (vbench creates and removes it) or pass --allow-destructive"
        case let .deviceWriteNeedsFlag(path):
            "writing to block device \(path) destroys its data; pass --allow-destructive if that is intended, or use a file target"
        case let .deviceInUse(path, reasons):
            "refusing to write to \(path): \(reasons.joined(separator: "; ")); choose an unused disk or a file target"
        case let .notABlockTarget(path):
            "\(path) is neither a regular file, a directory nor a block device; name a file path or a disk such as /dev/vdb"
        case let .noSpace(path, needed):
            "not enough space for \(path): it needs \(needed) bytes; free space or pass a smaller --size"
        case let .system(e):
            "\(e)"
        case let .jobFailed(workload, job, failure):
            "workload \(workload), job \(job): \(failure)"
        case let .verifyFailed(path, mismatch):
            "verify failed on \(path) \(mismatch)"
        }
    }
}
