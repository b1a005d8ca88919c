// vhost-fuzz: a seeded, deterministic fuzzer for the vhost-user-vsock device (VBenchVhostUser):
//   codec — vhost-user messages (random and mutated headers, payloads, memory tables over real
//           memory files, ring addresses, kicks with and without descriptors) decoded as the
//           backend decodes its socket and handed to VhostUserVsockDevice.handle;
//   rings — split virtqueues over guest memory whose every region has PROT_NONE guard pages
//           around it, walked by the device's Virtqueue and checked against a reference walker;
//   vsock — virtio-vsock packets through the VsockMuxer, with the local side of each stream
//           played by the fuzzer and credit, data and bounds checked after every input;
//   socket — the codec's messages to a real VhostUserVsockBackend over its Unix socket, with
//           descriptors passed as QEMU passes them (SCM_RIGHTS), checked for leaks.
// A crash (SIGSEGV on a guard page, SIGBUS, a Swift trap) ends the process with the signal; a
// broken invariant exits 1; a minute without progress is a hang (SIGALRM). Finishing is the
// result: "0 crashes" is printed only then.
//
// Usage: vhost-fuzz [--inputs 1000000] [--seed 1] [--part codec|rings|vsock|socket] [--episode N] [--trace] [--guards-only]
//   --part/--episode replay one part, or one episode of it (what a crash report names);
//   --trace prints what the codec part does; --guards-only runs the rings part without its
//   reference walker (the guard pages alone).
import Glibc

var inputs = 1_000_000
var seed: UInt64 = 1
var onlyPart: String?
var onlyEpisode: UInt64?
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    if a == "--trace" { tracing = true; continue }
    if a == "--guards-only" { guardsOnly = true; continue }
    guard let v = args.popFirst() else { print("vhost-fuzz: \(a) needs a value"); exit(64) }
    switch a {
    case "--inputs": guard let n = Int(v), n > 0 else { print("vhost-fuzz: --inputs \(v)?"); exit(64) }; inputs = n
    case "--seed": guard let s = UInt64(v) else { print("vhost-fuzz: --seed \(v)?"); exit(64) }; seed = s
    case "--part": guard ["codec", "rings", "vsock", "socket"].contains(v) else { print("vhost-fuzz: --part codec, rings, vsock or socket"); exit(64) }; onlyPart = v
    case "--episode": guard let e = UInt64(v) else { print("vhost-fuzz: --episode \(v)?"); exit(64) }; onlyEpisode = e
    default: print("vhost-fuzz: unknown option \(a) (--inputs N, --seed S, --part P, --episode E)"); exit(64)
    }
}
installCrashHandlers()
// Writes to a stream whose other end is gone must fail with EPIPE, not kill the fuzzer.
signal(SIGPIPE, SIG_IGN)

let baseline = openDescriptorCount()
let codec = CodecFuzzer(baselineDescriptors: baseline)
let rings = RingFuzzer()
let vsock = VsockFuzzer(baselineDescriptors: baseline)
let socket = SocketFuzzer()

/// Inputs per episode: state (a device, a queue, a muxer) lives for one episode.
let episodeLength = ["codec": 64, "rings": 48, "vsock": 96, "socket": 64]
let parts = onlyPart.map { [$0] } ?? ["codec", "rings", "vsock", "socket"]
let cpu = cpuModel()
print("vhost-fuzz: \(inputs) inputs, seed \(seed), parts \(parts.joined(separator: ", ")); CPU \(cpu), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) online")

let clock = ContinuousClock()
let start = clock.now
var timings: [String: Duration] = [:]
for (k, part) in parts.enumerated() {
    // The inputs split evenly; the first parts take the remainder.
    let share = inputs / parts.count + (k < inputs % parts.count ? 1 : 0)
    let length = episodeLength[part]!
    let episodes = (share + length - 1) / length
    if part == "socket" { socket.start() }
    let partStart = clock.now
    var done = 0
    var nextReport = 200_000
    let range: [UInt64] = onlyEpisode.map { [$0] } ?? Array(0..<UInt64(episodes))
    for e in range {
        let n = onlyEpisode != nil ? length : min(length, share - done)
        switch part {
        case "codec": codec.episode(e, seed: seed, inputs: n)
        case "rings": rings.episode(e, seed: seed, inputs: n)
        case "vsock": vsock.episode(e, seed: seed, inputs: n)
        default: socket.episode(e, seed: seed, inputs: n)
        }
        done += n
        if done >= nextReport {
            print("  \(part): \(done) inputs…")
            fflush(nil)
            nextReport += 200_000
        }
    }
    timings[part] = clock.now - partStart
    if part == "socket" { socket.stop() }
}
alarm(0)
rings.quarantine.drain()
let elapsed = clock.now - start
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let all = [codec.stats, rings.stats, vsock.stats, socket.stats].filter { parts.contains($0.name) }
let total = all.reduce(0) { $0 + $1.inputs }

func fmt(_ d: Double, _ places: Int = 1) -> String {
    var p = 1.0
    for _ in 0..<places { p *= 10 }
    let r = (d * p).rounded() / p
    return places == 0 ? String(Int(r)) : String(r)
}
func secs(_ d: Duration?) -> Double { d.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0 }

print("")
print("part    inputs      accepted    rejected    seconds  inputs/s")
for s in all {
    let t = secs(timings[s.name])
    let pad = { (x: String, w: Int) in x + String(repeating: " ", count: max(0, w - x.count)) }
    print(pad(s.name, 8) + pad(String(s.inputs), 12) + pad(String(s.accepted), 12) + pad(String(s.rejected), 12)
          + pad(fmt(t, 2), 9) + fmt(Double(s.inputs) / max(t, 1e-9), 0))
    print("        " + s.notes.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
}
print("")
print("vhost-fuzz: \(total) inputs (seed \(seed)) in \(fmt(seconds, 2)) s wall, \(fmt(Double(total) / max(seconds, 1e-9), 0)) inputs/s; CPU \(cpu); 0 crashes, 0 invariant failures")
