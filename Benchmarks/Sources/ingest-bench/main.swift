// ingest-bench: how fast `vbench collect` stores records durably.
// N concurrent senders, each sending its records one per connection (connect, hello, record,
// wait for the ack: what a guest does after a run), against a collector in this process with a
// fresh SQLite store (WAL, synchronous=FULL: every ack follows an fsync'd commit).
// Prints records/s and ack latency percentiles per transport, as Markdown.
//
// Usage: swift run -c release --package-path Benchmarks ingest-bench [--senders 256] [--records 20]
//            [--transport unix|tcp|both] [--dir /var/tmp] [--size small|typical] [--batch 1] [--breakdown 1]
import FoundationEssentials
import Glibc
import NIOPosix
import VBenchCollector
import VBenchCore
import VBenchWire
import VBenchStore
import VBenchStoreAPI
import VBenchUplink

nonisolated(unsafe) var senders = 256, perSender = 20, transport = "both", dir = "/var/tmp", size = "typical", batch = 1
/// External collectors (`--to unix:PATH,unix:PATH…`): senders are spread over them round robin
/// and nothing is started here (fleet-load.sh runs real `vbench collect` processes).
nonisolated(unsafe) var external: [Endpoint] = []
let usage = """
    usage: ingest-bench [--senders N] [--records N per sender] [--transport unix|tcp|both] [--dir DIR]
                        [--size small|typical] [--batch records per connection] [--breakdown 1]
                        [--to ENDPOINT,ENDPOINT… (send to running collectors instead of one started here)]
    """
func usageError(_ message: String) -> Never {
    let text = Array("ingest-bench: \(message)\n\(usage)\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(64)
}
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    if a == "-h" || a == "--help" { print(usage); exit(0) }
    guard let v = args.popFirst() else { usageError("\(a) needs a value") }
    switch a {
    case "--senders": senders = Int(v) ?? senders
    case "--records": perSender = Int(v) ?? perSender
    case "--transport": transport = v
    case "--dir": dir = v
    case "--size": size = v
    case "--batch": batch = max(1, Int(v) ?? 1)
    case "--breakdown": _ = v  // "--breakdown 1": also time JSON and the store without sockets
    case "--to":
        do { external = try v.split(separator: ",").map { try Endpoint(String($0)) } } catch { usageError("--to: \(error)") }
    default: usageError("unknown option \(a)")
    }
}

// 2 file descriptors per connection in this process (both ends) plus SQLite's.
var limit = rlimit()
getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
limit.rlim_cur = limit.rlim_max
setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)

func record(_ i: Int) -> RunRecord {
    size == "small" ? smallRecord(i) : typicalRecord(i)
}

/// A record with one workload of one repetition and no histograms: what the collector's own overhead costs.
func smallRecord(_ i: Int) -> RunRecord {
    RunRecord(runId: UUID(), startTime: Date(), endTime: Date(), role: .guest, tool: ToolInfo(),
              environment: Environment(hostname: "guest\(i % 64)", kernelRelease: "6.1.0-56-amd64", cpuModel: "QEMU Virtual CPU",
                                       onlineCpus: 1, memoryBytes: 512 << 20, numaNodes: 1, hypervisor: HypervisorInfo(vendor: .qemuTcg)),
              device: DeviceInfo(kind: "block", name: "vda", driver: "virtio_blk", controllerDriver: "virtio-pci", deviceClass: .paravirtual),
              family: "blk", target: nil, workloads: [WorkloadResult(spec: BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 1),
                                       repetitions: [RepetitionResult(index: 0, elapsedNs: 1_000_000_000, jobs: [], latency: nil,
                                                                      readLatency: nil, writeLatency: nil)])])
}

/// One workload, one repetition, latency histograms of 360 buckets: a real record's shape.
func typicalRecord(_ i: Int) -> RunRecord {
    var h = LatencyHistogram()
    for v in stride(from: 40_000 as UInt64, to: 400_000, by: 997) { h.record(v) }
    let rep = RepetitionResult(index: 0, elapsedNs: 1_000_000_000,
                               jobs: [JobResult(index: 0, readOps: 20000, writeOps: 0, readBytes: 20000 * 4096, writeBytes: 0,
                                                cpuUserNs: 1, cpuSystemNs: 1, submitCalls: 1, reapCalls: 1)],
                               latency: h, readLatency: h, writeLatency: nil)
    return RunRecord(
        runId: UUID(), startTime: Date(), endTime: Date(), role: .guest, tool: ToolInfo(),
        environment: Environment(hostname: "guest\(i % 64)", kernelRelease: "6.1.0-56-amd64", cpuModel: "QEMU Virtual CPU",
                                 onlineCpus: 1, memoryBytes: 512 << 20, numaNodes: 1, hypervisor: HypervisorInfo(vendor: .qemuTcg)),
        device: DeviceInfo(kind: "block", name: "vda", driver: "virtio_blk", controllerDriver: "virtio-pci", deviceClass: .paravirtual),
        family: "blk", target: nil,
        workloads: [WorkloadResult(spec: BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 16,
                                                           runtimeNs: 1_000_000_000), repetitions: [rep])])
}

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

final class Results: @unchecked Sendable {
    let lock = NSLockLike()
    var latency = LatencyHistogram()
    var failures = 0
}

/// A tiny mutex without Foundation's NSLock.
final class NSLockLike: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    func locked<T>(_ body: () -> T) -> T { pthread_mutex_lock(&m); defer { pthread_mutex_unlock(&m) }; return body() }
}

/// Sends every record from `senders` threads, sender s to `targets[s % count]`; returns the
/// acked ack-latency histogram, failures and seconds.
func send(_ records: [RunRecord], to targets: [Endpoint]) -> (LatencyHistogram, Int, Double) {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    defer { try? group.syncShutdownGracefully() }
    let results = Results()
    let start = now()
    var threads: [pthread_t] = []
    final class Job: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    for s in 0..<senders {
        let mine = Array(records[(s * perSender)..<((s + 1) * perSender)])
        let target = targets[s % targets.count]
        let job = Job {
            let uplink = Uplink(endpoint: target, timeout: .seconds(120))
            var local = LatencyHistogram()
            var failed = 0
            var i = 0
            while i < mine.count {
                let chunk = Array(mine[i..<min(i + batch, mine.count)])
                i += chunk.count
                let t0 = now()
                let acks = (try? uplink.send(chunk, on: group)) ?? [:]
                let t1 = now()
                for r in chunk { if acks[r.runId] != nil { local.record(t1 - t0) } else { failed += 1 } }
            }
            results.lock.locked { try? results.latency.merge(local); results.failures += failed }
        }
        var t = pthread_t()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 256 * 1024)
        pthread_create(&t, &attr, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(job).toOpaque())
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
    return (results.latency, results.failures, Double(now() - start) / 1e9)
}

func run(_ name: String, endpoint: (String) -> Endpoint) throws -> String {
    let work = "\(dir)/vbench-ingest-\(UUID().uuidString.prefix(8))"
    mkdir(work, 0o755)
    defer { _ = try? FileManager.default.removeItem(atPath: work) }
    let store = try SQLiteRunStore(path: work + "/ingest.sqlite")
    let ep = endpoint(work)
    var config = Collector.Configuration(endpoints: [ep], collectorHost: "bench", collectorKernel: "", vsockAllowed: false)
    config.maxConnections = senders * 4  // closed connections are counted until their close is processed
    let collector = Collector(configuration: config, store: store)
    let bound = try Endpoint(try collector.start()[0])
    defer { collector.stop() }
    let records = (0..<(senders * perSender)).map(record)
    let (h, failures, seconds) = send(records, to: [bound])
    let stored = try store.runs(RunQuery(limit: 1_000_000)).count
    func ms(_ p: Double) -> String { String(Double(h.value(atPercentile: p) ?? 0) / 1e6) }
    let rate = Double(stored) / seconds
    return "| \(name) | \(senders) | \(records.count) | \(stored) | \(failures) | \(Int(rate)) | \(ms(50)) | \(ms(99)) | \(ms(100)) |"
}

var u = utsname()
uname(&u)
let kernel = withUnsafePointer(to: u.release) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
print("ingest-bench: \(senders) senders × \(perSender) \(size) records (\((try? record(0).jsonData(pretty: false).count) ?? 0) bytes on the wire), \(batch) record(s) per connection; kernel \(kernel), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs; store in \(dir)")
print("")
print("| transport | senders | sent | stored | failed | records/s | ack p50 ms | ack p99 ms | ack max ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
if !external.isEmpty {
    let records = (0..<(senders * perSender)).map(record)
    let (h, failures, seconds) = send(records, to: external)
    func ms(_ p: Double) -> String { String(Double(h.value(atPercentile: p) ?? 0) / 1e6) }
    let acked = records.count - failures
    print("| \(external.count) external collectors | \(senders) | \(records.count) | \(acked) acked | \(failures) | \(Int(Double(acked) / seconds)) | \(ms(50)) | \(ms(99)) | \(ms(100)) |")
    exit(failures == 0 ? 0 : 1)
}
if transport == "unix" || transport == "both" { print(try run("unix") { .unix(path: $0 + "/c.sock") }) }
if transport == "tcp" || transport == "both" { print(try run("tcp loopback") { _ in .tcp(host: "127.0.0.1", port: 0) }) }

// Where the time goes, without sockets: JSON both ways, and the store alone.
if CommandLine.arguments.contains("--breakdown") {
    let sample = (0..<200).map(record)
    var t = now()
    let blobs = try sample.map { try $0.jsonData() }
    let encodeMs = Double(now() - t) / 1e6 / 200
    t = now()
    for b in blobs { _ = try RunRecord.decode(b) }
    let decodeMs = Double(now() - t) / 1e6 / 200
    let work = "\(dir)/vbench-ingest-breakdown-\(UUID().uuidString.prefix(8))"
    mkdir(work, 0o755)
    defer { _ = try? FileManager.default.removeItem(atPath: work) }
    let store = try SQLiteRunStore(path: work + "/s.sqlite")
    let receipt = Receipt(peer: "bench", receivedAt: Date(), collectorHost: "h", collectorKernel: "k")
    t = now()
    for r in sample[0..<100] { _ = try store.store(r, receipt: receipt) }
    let singleMs = Double(now() - t) / 1e6 / 100
    t = now()
    _ = try store.store(batch: sample[100..<200].map { ($0, receipt) })
    let batchMs = Double(now() - t) / 1e6 / 100
    print("")
    print("per record: JSON encode \(encodeMs) ms, decode \(decodeMs) ms; store alone \(singleMs) ms, in a batch of 100 \(batchMs) ms (\(blobs[0].count) bytes)")
}
