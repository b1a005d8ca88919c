import FoundationEssentials
import Testing
@testable import VBenchCore

@Suite struct RecordTests {
    static func sampleRecord() -> RunRecord {
        var h = LatencyHistogram()
        for v: UInt64 in [50_000, 60_000, 70_000, 1_000_000] { h.record(v) }
        let job = JobResult(index: 0, readOps: 4, writeOps: 0, readBytes: 16384, writeBytes: 0,
                            cpuUserNs: 1000, cpuSystemNs: 3000, submitCalls: 4, reapCalls: 4)
        let rep = RepetitionResult(index: 0, elapsedNs: 1_000_000_000, jobs: [job], latency: h, readLatency: h, writeLatency: nil)
        let spec = BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 1, runtimeNs: 1_000_000_000)
        return RunRecord(
            runId: UUID(), startTime: Date(timeIntervalSince1970: 1_800_000_000), endTime: Date(timeIntervalSince1970: 1_800_000_010),
            role: .guest, tool: ToolInfo(),
            environment: Environment(hostname: "h", kernelRelease: "6.1.0", cpuModel: "cpu", onlineCpus: 2,
                                     memoryBytes: 1 << 30, numaNodes: 1, hypervisor: HypervisorInfo(vendor: .kvm)),
            device: DeviceInfo(kind: "block", name: "vda", driver: "virtio_blk", controllerDriver: "virtio-pci",
                               driverChain: ["virtio_blk", "virtio-pci"], deviceClass: .paravirtual, pciId: "1af4:1001"),
            family: "blk", target: TargetInfo(path: "/tmp/x", kind: .file, sizeBytes: 1 << 20, direct: true, filesystem: "ext4"),
            workloads: [WorkloadResult(spec: spec, repetitions: [rep])])
    }

    @Test func roundTripsThroughJSON() throws {
        let r = Self.sampleRecord()
        let back = try RunRecord.decode(try r.jsonData())
        #expect(back == r)
    }

    @Test func jsonCarriesUnitsInFieldNames() throws {
        // Version 1, as an uplink still writes it for an older collector.
        let text = String(decoding: try Self.sampleRecord().jsonData(schemaVersion: 1), as: UTF8.self)
        for key in ["\"schemaVersion\" : 1", "\"elapsedNs\"", "\"blockSizeBytes\"", "\"bwBytesPerSec\"",
                    "\"latP99Ns\"", "\"p99.99\"", "\"class\" : \"paravirtual\"", "\"pciId\" : \"1af4:1001\"", "\"cov\"", "\"median\""] {
            #expect(text.contains(key), "missing \(key)")
        }
    }

    @Test func workloadSpecsCarryTheirKind() throws {
        // Block specs written before `kind` existed still read as block specs.
        let encoder = JSONEncoder()
        let block = BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 8)
        let legacy = try encoder.encode(block)
        #expect(!String(decoding: legacy, as: UTF8.self).contains("\"kind\""))
        #expect(try JSONDecoder().decode(WorkloadSpec.self, from: legacy) == .block(block))
        let tagged = String(decoding: try encoder.encode(WorkloadSpec.block(block)), as: UTF8.self)
        #expect(tagged.contains("\"kind\":\"blk\"") && tagged.contains("\"ioDepth\":8"))

        let net = NetWorkloadSpec(test: .rr, messageSizeBytes: 1, responseSizeBytes: 1, peer: "10.0.2.2:5201")
        #expect(net.name == "rr-1b")
        #expect(NetWorkloadSpec(test: .stream, direction: .receive, streams: 4, messageSizeBytes: 131072).name == "stream-recv-p4-128k")
        let netJSON = try encoder.encode(WorkloadSpec.net(net))
        #expect(String(decoding: netJSON, as: UTF8.self).contains("\"kind\":\"net\""))
        #expect(try JSONDecoder().decode(WorkloadSpec.self, from: netJSON) == .net(net))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(WorkloadSpec.self, from: Data(#"{"kind":"gpu","name":"x"}"#.utf8))
        }
    }

    @Test func unsoundRecordsAreRefusedWithTheReason() throws {
        func refused(_ change: (inout RunRecord) -> Void, _ reason: String) throws {
            var r = Self.sampleRecord()
            change(&r)
            do {
                _ = try RunRecord.decode(try r.jsonData())
                Issue.record("accepted a record with: \(reason)")
            } catch {
                #expect("\(error)".contains(reason), "\(error)")
            }
        }
        try refused({ $0.family = "gpu" }, "family 'gpu' is not one of blk, net, mem")
        try refused({ $0.workloads = [] }, "holds no workloads")
        try refused({ $0.family = "net" }, "is a blk workload in a net record")
        try refused({ $0.workloads[0].repetitions = [] }, "has no repetitions")
        try refused({ $0.workloads[0].repetitions[0].index = 3 }, "repetition 0 says index 3")
        try refused({ $0.workloads[0].repetitions[0].metrics["iops"] = -1 }, "metric iops is -1.0")
        try refused({ $0.endTime = $0.startTime.addingTimeInterval(-1) }, "endTime is before startTime")
        try refused({ r in for i in 0..<300 { r.tags["k\(i)"] = "v" } }, "too many or too long tags")
        #expect(Self.sampleRecord().problem() == nil)
    }

    @Test func newerSchemaIsRefusedByName() {
        let json = Data(#"{"schemaVersion": 3}"#.utf8)
        #expect(throws: RecordError.unsupportedSchemaVersion(3)) { try RunRecord.decode(json) }
        #expect(throws: (any Error).self) { try RunRecord.decode(Data("{}".utf8)) }
    }

    @Test func repetitionDerivesMetrics() throws {
        let rep = Self.sampleRecord().workloads[0].repetitions[0]
        #expect(rep.metrics["iops"] == 4)
        #expect(rep.metrics["bwBytesPerSec"] == 16384)
        #expect(rep.metrics["cpuNsPerIo"] == 1000)
        #expect(rep.metrics["latP50Ns"] == Double(rep.latencyNs?.percentiles["p50"] ?? 0))
    }

    @Test func everyMetricARepetitionWritesIsInTheCatalog() {
        let known = Set(Metric.block.map(\.key))
        let rep = Self.sampleRecord().workloads[0].repetitions[0]
        #expect(Set(rep.metrics.keys).isSubset(of: known))
        let mixed = RepetitionResult(index: 0, elapsedNs: 1, jobs: [JobResult(index: 0, readOps: 1, writeOps: 1, readBytes: 1, writeBytes: 1,
                                     cpuUserNs: 1, cpuSystemNs: 1, submitCalls: 1, reapCalls: 1)], latency: nil, readLatency: nil, writeLatency: nil)
        #expect(Set(mixed.metrics.keys).isSubset(of: known))
        #expect(Metric.iops.polarity == .higherIsBetter && Metric.latP99.polarity == .lowerIsBetter)
    }

    @Test func byteCountsParseAndPrint() {
        #expect(ByteCount.parse("4k") == 4096)
        #expect(ByteCount.parse("1MiB") == 1 << 20)
        #expect(ByteCount.parse("16m") == 16 << 20)
        #expect(ByteCount.parse("512") == 512)
        #expect(ByteCount.parse("2G") == 2 << 30)
        #expect(ByteCount.parse("4x") == nil)
        #expect(ByteCount.parse("") == nil)
        #expect(ByteCount.shortName(4096) == "4k")
        #expect(ByteCount.shortName(1 << 20) == "1m")
        #expect(ByteCount.shortName(1536) == "1536")
    }

    @Test func standardProfileIsTheDocumentedSet() {
        let names = BlockProfile.standard.workloads().map(\.name)
        #expect(names == ["seqread-1m-qd32", "seqwrite-1m-qd32", "randread-4k-qd1", "randread-4k-qd32",
                          "randwrite-4k-qd1", "randwrite-4k-qd32", "randrw70-4k-qd16"])
    }
}
