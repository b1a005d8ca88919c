import Foundation
import Testing
import VBenchTestSupport

/// The short version of Benchmarks/results-scale.sh: 5,000 realistic runs loaded into SQLite
/// and PostgreSQL; the store's report (read through SQL) must equal the report computed from
/// the same records, and `runs list` must show every run. It asserts correctness, not time.
/// Part of the serialized lab suite: its minutes of import and queries on both cores would
/// otherwise run beside the lab guests and skew what they measure under TCG.
extension LabTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The release build scripts/test makes for the lab guests (a debug build would take an hour here).
    static let binary = root.appendingPathComponent(".build-static/release/vbench").path

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: LabTests.binary), "needs the release vbench scripts/test builds (.build-static)"))
    func fiveThousandRunsAnswerWhatTheirRecordsSay() throws {
        let dir = try ScratchFolder()
        let backends = PostgresTestServer.testsRun ? "sqlite,postgres" : "sqlite"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["-s", "KILL", "2400", LabTests.root.appendingPathComponent("Benchmarks/results-scale.sh").path,
                       "--sizes", "5000", "--backends", backends, "--vbench", LabTests.binary, "--check", "--out", dir.path + "/scale.md"]
        p.currentDirectoryURL = LabTests.root
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(stderr.suffix(3000))")
        for backend in backends.split(separator: ",") {
            #expect(stderr.contains("results-scale: \(backend): 5000 runs; the store's report (SQL summary rows) = the report computed from the records"),
                    "\(stderr.suffix(3000))")
        }
        let table = (try? String(contentsOfFile: dir.path + "/scale.md", encoding: .utf8)) ?? ""
        print(table)
        #expect(table.contains("| 5000 |"))
    }
}
