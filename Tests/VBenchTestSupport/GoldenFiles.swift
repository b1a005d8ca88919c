import Foundation
import Testing

/// Golden files in a `Golden/` folder next to a test source: `check` compares a text with its
/// file; `VBENCH_UPDATE_GOLDEN=1` rewrites the file first.
public struct GoldenFiles: Sendable {
    public let folder: URL

    /// The `Golden/` folder beside `filePath` (pass `#filePath`).
    public init(beside filePath: String) {
        folder = URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    }

    public func check(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = folder.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["VBENCH_UPDATE_GOLDEN"] == "1" {
            try Data(text.utf8).write(to: url)
        }
        let golden = try String(contentsOf: url, encoding: .utf8)
        #expect(text == golden, "differs from Golden/\(name); rerun with VBENCH_UPDATE_GOLDEN=1 if intended", sourceLocation: sourceLocation)
    }
}
