import Foundation
import VBenchBlock
import VBenchCore
import VBenchProbe
import VBenchSystem
@_exported import VBenchTestSupport

/// Runs a command to completion with a timeout; returns its exit status and output.
@discardableResult
func sh(_ arguments: [String], timeout: Double = 60) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["timeout", "\(Int(timeout))"] + arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func usageReader(_ status: FileStatus) -> DeviceUsage {
    DeviceUsageReader(fs: RootedFileSystem()).usage(major: status.deviceNumber.major, minor: status.deviceNumber.minor)
}

func prepare(_ path: String, size: UInt64? = 8 << 20, writes: Bool = true, allowDestructive: Bool = false,
             direct: Bool = true, bs: Int = 4096) throws(BlockError) -> PreparedTarget {
    try BlockTargetPreparer.prepare(
        TargetRequest(path: path, sizeBytes: size, writes: writes, allowDestructive: allowDestructive, direct: direct,
                      largestBlockBytes: bs, fileNameInDirectory: "vbench-test.dat"),
        usage: usageReader)
}
