import Foundation
import Testing
@testable import VBenchCore

/// Record schema version 2 against version 1: same values, smaller JSON, both read.
@Suite struct SchemaV2Tests {
    /// The committed lab runs (version 1 records, written by real QEMU guests).
    static func labRecordFiles() -> [URL] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let lab = root.appendingPathComponent("results/lab")
        let runs = (try? FileManager.default.contentsOfDirectory(atPath: lab.path)) ?? []
        return runs.sorted().map { lab.appendingPathComponent($0).appendingPathComponent("records.json") }
            .filter { FileManager.default.fileExists(atPath: $0.path) }
    }

    static func labRecords() throws -> [(file: String, v1: Data, record: RunRecord)] {
        var out: [(String, Data, RunRecord)] = []
        for url in labRecordFiles() {
            let items = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [Any]
            for item in items {
                let data = try JSONSerialization.data(withJSONObject: item)
                out.append((url.deletingLastPathComponent().lastPathComponent, data, try RunRecord.decode(data)))
            }
        }
        return out
    }

    @Test func labRecordsReadAsVersion1AndRoundTripAsVersion2() throws {
        let records = try Self.labRecords()
        #expect(records.count >= 30)
        var largestQuick = 0
        for (file, v1, record) in records {
            let v2 = try record.jsonData(pretty: false)
            let back = try RunRecord.decode(v2)
            #expect(back == record, "\(file) run \(record.runId)")
            // Every percentile is what version 1 wrote.
            for (w, workload) in record.workloads.enumerated() {
                for (r, rep) in workload.repetitions.enumerated() {
                    #expect(back.workloads[w].repetitions[r].latencyNs?.percentiles == rep.latencyNs?.percentiles)
                    #expect(back.workloads[w].repetitions[r].readLatencyNs?.percentiles == rep.readLatencyNs?.percentiles)
                }
                #expect(back.workloads[w].summary == workload.summary)
                #expect(back.workloads[w].latencyNs == workload.latencyNs)
            }
            // Version 1 written again is what the lab wrote (same values; the uplink sends it to old collectors).
            let again = try RunRecord.decode(try record.jsonData(pretty: false, schemaVersion: 1))
            #expect(again == record)
            // (Lab runs since 2026-12-06 wrote version 2 themselves: nothing to shrink.)
            if RunRecord.declaredSchemaVersion(String(decoding: v1, as: UTF8.self)) == 1 {
                #expect(v2.count * 5 < v1.count, "\(file): v2 \(v2.count) B against v1 \(v1.count) B")
            }
            if record.workloads.allSatisfy({ $0.repetitions.count <= 2 }) { largestQuick = max(largestQuick, v2.count) }
        }
        print("lab records: \(records.count); largest quick-profile record as v2: \(largestQuick) bytes")
        #expect(largestQuick > 0 && largestQuick <= 40_000)
    }

    @Test func version2LeavesOutWhatItCanRecompute() throws {
        let record = RecordTests.sampleRecord()
        let text = String(decoding: try record.jsonData(), as: UTF8.self)
        #expect(text.contains("\"schemaVersion\" : 2"))
        #expect(!text.contains("\"summary\""))
        #expect(!text.contains("\"percentiles\""))
        #expect(text.contains("\"readLatencyNs\" : \"latencyNs\""))
        let v1 = String(decoding: try record.jsonData(schemaVersion: 1), as: UTF8.self)
        #expect(v1.contains("\"schemaVersion\" : 1") && v1.contains("\"summary\"") && v1.contains("\"p99.99\""))
    }

    @Test func mixedRepetitionsKeepReadAndWriteAndRecomputeTheWhole() throws {
        var read = LatencyHistogram(), write = LatencyHistogram()
        for v: UInt64 in [10_000, 11_000, 90_000] { read.record(v) }
        for v: UInt64 in [20_000, 500_000] { write.record(v) }
        var all = read
        try all.merge(write)
        let job = JobResult(index: 0, readOps: 3, writeOps: 2, readBytes: 3 * 4096, writeBytes: 2 * 4096,
                            cpuUserNs: 1, cpuSystemNs: 1, submitCalls: 5, reapCalls: 5)
        var record = RecordTests.sampleRecord()
        let spec = BlockWorkloadSpec(pattern: .randrw, blockSizeBytes: 4096, ioDepth: 1, readPercent: 60, runtimeNs: 1_000_000_000)
        record.workloads = [WorkloadResult(spec: spec, repetitions: [
            RepetitionResult(index: 0, elapsedNs: 1_000_000_000, jobs: [job], latency: all, readLatency: read, writeLatency: write),
        ])]
        let data = try record.jsonData(pretty: false)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let rep = (((object["workloads"] as! [[String: Any]])[0]["repetitions"]) as! [[String: Any]])[0]
        #expect(rep["latencyNs"] == nil)
        #expect(rep["readLatencyNs"] is String && rep["writeLatencyNs"] is String)
        #expect(try RunRecord.decode(data) == record)
    }

    @Test func aCorruptHistogramIsNamed() throws {
        let data = try RecordTests.sampleRecord().jsonData(pretty: false)
        var text = String(decoding: data, as: UTF8.self)
        let start = try #require(text.range(of: "\"latencyNs\":\"")).upperBound
        text.replaceSubrange(start..<text.index(start, offsetBy: 4), with: "AAAA")
        #expect(throws: RecordError.self) { try RunRecord.decode(Data(text.utf8)) }
        do { _ = try RunRecord.decode(Data(text.utf8)) } catch { #expect("\(error)".contains("compact histogram")) }
    }

    @Test func arrayElementsAreFoundWithoutParsing() throws {
        let tricky = #"[ {"a":"x],\"{[","b":[1,{"c":"]"}]} ,{"d":"\\"} ,[1,2],"s,]",3 ]"#
        let data = Data(tricky.utf8)
        let ranges = try #require(RunRecord.arrayElements(data))
        let parts = ranges.map { String(decoding: data.subdata(in: $0), as: UTF8.self) }
        #expect(parts == [#"{"a":"x],\"{[","b":[1,{"c":"]"}]}"#, #"{"d":"\\"}"#, "[1,2]", #""s,]""#, "3"])
        for part in parts { #expect((try? JSONSerialization.jsonObject(with: Data(part.utf8), options: .fragmentsAllowed)) != nil, "\(part)") }
        #expect(RunRecord.arrayElements(Data("[]".utf8)) == [])
        #expect(RunRecord.arrayElements(Data(#"{"a":1}"#.utf8)) == nil)
        #expect(RunRecord.arrayElements(Data("[1,2".utf8)) == nil)
        #expect(RunRecord.arrayElements(Data("[1]x".utf8)) == nil)
        // The lab's records.json: every element a record.
        let url = try #require(Self.labRecordFiles().first)
        let file = try Data(contentsOf: url)
        let elements = try #require(RunRecord.arrayElements(file))
        let whole = try JSONSerialization.jsonObject(with: file) as! [Any]
        #expect(elements.count == whole.count)
        for r in elements { _ = try RunRecord.decode(file.subdata(in: r)) }
    }

    @Test func anUnknownVersionIsRefused() throws {
        var text = String(decoding: try RecordTests.sampleRecord().jsonData(pretty: false), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"schemaVersion\":2", with: "\"schemaVersion\":3")
        #expect(throws: RecordError.unsupportedSchemaVersion(3)) { try RunRecord.decode(Data(text.utf8)) }
    }
}
