import Foundation

/// Golden files in a `Golden/` folder next to a test source. `VBENCH_UPDATE_GOLDEN=1` rewrites a
/// file with the text first. (No `import Testing` here: this target is built by every
/// `swift build`, static release builds included; each test target asserts with `check`.)
public struct GoldenFiles: Sendable {
    public let folder: URL

    /// The `Golden/` folder beside `filePath` (pass `#filePath`).
    public init(beside filePath: String) {
        folder = URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    }

    /// The golden text of `name`, after rewriting it with `text` when asked to.
    public func golden(_ name: String, updatingWith text: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["VBENCH_UPDATE_GOLDEN"] == "1" {
            try Data(text.utf8).write(to: url)
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
