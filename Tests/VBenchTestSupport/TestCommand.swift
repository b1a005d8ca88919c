import Foundation

/// Runs a command for a test and returns its exit status and output (stdout and stderr).
public enum TestCommand {
    /// Output goes through a file, not a pipe: a server the command starts may keep an inherited
    /// descriptor of a pipe open for its whole life, and reading to the end of the pipe would
    /// then never return.
    public static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> (Int32, String) {
        let outputPath = NSTemporaryDirectory() + "vbench-cmd-\(UUID().uuidString.prefix(8)).out"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        p.standardOutput = output
        p.standardError = output
        let input = stdin == nil ? nil : Pipe()
        p.standardInput = input ?? FileHandle.nullDevice
        try p.run()
        if let input, let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        p.waitUntilExit()
        try? output.close()
        return (p.terminationStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }
}
