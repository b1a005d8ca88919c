import Foundation

/// A folder for one test, removed with everything in it when the value goes away.
/// `/var/tmp` by default (disk-backed, so O_DIRECT works); `/tmp` where a short path matters
/// (Unix socket paths are limited to 107 bytes).
public final class ScratchFolder {
    public let path: String

    public init(under parent: String = "/var/tmp") throws {
        path = "\(parent)/vbench-test-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `text` and a newline to `relative` (a path starting with `/`), making folders.
    public func write(_ relative: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data((text + "\n").utf8).write(to: url)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
