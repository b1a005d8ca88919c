// frame-fuzz: a seeded mutation fuzzer for the collector's input path (frame decoder, then the
// message decoder). It starts from valid frames of every type, mutates them (bit flips, byte
// changes, inserts, deletions, truncation, header field edits, splices) and feeds each input
// through exactly what the collector runs. A crash ends the process: finishing is the result.
//
// Usage: swift run -c release --package-path Benchmarks frame-fuzz [--inputs 1000000] [--seed 1]
import FoundationEssentials
import Glibc
import NIOCore
import VBenchCore
import VBenchWire

var inputs = 1_000_000
var seed: UInt64 = 1
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst(), let v = args.popFirst() {
    switch a {
    case "--inputs": inputs = Int(v) ?? inputs
    case "--seed": seed = UInt64(v) ?? seed
    default: print("unknown option \(a)"); exit(64)
    }
}

struct Rng {
    var s: UInt64
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}

func bytes(_ m: WireMessage) -> [UInt8] {
    var b = ByteBuffer()
    (try? m.frame())?.write(to: &b)
    return Array(b.readableBytesView)
}

let record = RunRecord(
    runId: UUID(), startTime: Date(timeIntervalSince1970: 1_800_000_000), endTime: Date(timeIntervalSince1970: 1_800_000_001),
    role: .guest, tool: ToolInfo(),
    environment: Environment(hostname: "g", kernelRelease: "6.1.0", cpuModel: "c", onlineCpus: 1, memoryBytes: 1 << 29,
                             numaNodes: 1, hypervisor: HypervisorInfo(vendor: .kvm)),
    device: DeviceInfo(kind: "block", name: "vda", driver: "virtio_blk", deviceClass: .paravirtual),
    family: "blk", target: nil, workloads: [WorkloadResult(spec: BlockWorkloadSpec(pattern: .randread, blockSizeBytes: 4096, ioDepth: 1),
                                       repetitions: [RepetitionResult(index: 0, elapsedNs: 1_000_000_000, jobs: [], latency: nil,
                                                                      readLatency: nil, writeLatency: nil)])])
let seeds: [[UInt8]] = [
    bytes(.hello(Hello(role: "uplink"))),
    bytes(.ack(Ack(runId: UUID(), status: .stored))),
    bytes(.error(WireFailure(code: "protocol", message: "x"))),
    bytes(.record(record)),
    bytes(.hello(Hello(role: "uplink"))) + bytes(.record(record)),
]

var rng = Rng(s: seed)
var frames = 0, messages = 0, wireErrors = 0, messageErrors = 0
let start = ContinuousClock.now
for n in 0..<inputs {
    var input = seeds[rng.below(seeds.count)]
    for _ in 0...rng.below(4) {
        switch rng.below(9) {
        case 0: if !input.isEmpty { input[rng.below(input.count)] ^= UInt8(1 << rng.below(8)) }
        case 1: if !input.isEmpty { input[rng.below(input.count)] = UInt8(truncatingIfNeeded: rng.next()) }
        case 2: input.insert(UInt8(truncatingIfNeeded: rng.next()), at: rng.below(input.count + 1))
        case 3: if !input.isEmpty { input.remove(at: rng.below(input.count)) }
        case 4: input = Array(input.prefix(rng.below(input.count + 1)))
        case 5: if input.count >= 12 { let v = UInt32(truncatingIfNeeded: rng.next() % 100_000); for i in 0..<4 { input[8 + i] = UInt8((v >> (8 * UInt32(i))) & 0xff) } }
        case 6: if input.count >= 8 { input[4 + rng.below(4)] = UInt8(rng.below(6)) }
        case 7: input += seeds[rng.below(seeds.count)]
        default: if input.count > 20 { let i = 16 + rng.below(input.count - 16); input[i] = [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "\""), 0, 0xff][rng.below(5)] }
        }
    }
    var buffer = ByteBuffer(bytes: input)
    do {
        while let frame = try WireFrameDecoder.parse(&buffer, maxPayloadBytes: 1 << 20) {
            frames += 1
            do { _ = try WireMessage(frame: frame); messages += 1 } catch { messageErrors += 1 }
        }
    } catch {
        wireErrors += 1
    }
    if n > 0 && n % 200_000 == 0 { print("\(n) inputs…") }
}
let elapsed = ContinuousClock.now - start
print("frame-fuzz: \(inputs) inputs (seed \(seed)) in \(elapsed): \(frames) frames decoded, \(messages) messages valid, \(wireErrors) framing errors, \(messageErrors) message errors, 0 crashes")
