import Foundation
import VBenchSystem

/// The network of one lab boot: a network namespace the lab creates, holding one tap device
/// per guest NIC, the peer's address on the namespace's loopback, and `vbench serve`. QEMU
/// runs inside the namespace (`ip netns exec`), so the guest reaches nothing but the peer;
/// the collector's Unix socket still works across it (sockets are files).
///
/// Addresses: the peer is 10.77.0.1; NIC i is 10.77.(i+1).2/24 in the guest and its tap
/// 10.77.(i+1).1/24. The guest routes 10.77.0.1/32 over every NIC (metric i+1), so
/// `vbench run --device net --iface auto` tests each NIC, bound to it. A namespace has its
/// own routes and addresses: nothing here touches this machine's network.
public final class LabNetwork {
    public static let peerAddress = "10.77.0.1"
    public static let servePort = 5201
    /// Namespaces of this lab are named `vbench-lab-PID-N`: a dead PID's namespaces are stale.
    static let prefix = "vbench-lab-"

    public let name: String
    public let nics: [NicModel]
    private var serve: BackgroundProcess?
    private var removed = false

    public static func tapName(_ i: Int) -> String { "vbtap\(i)" }
    public static func hostAddress(_ i: Int) -> String { "10.77.\(i + 1).1" }
    public static func guestAddress(_ i: Int) -> String { "10.77.\(i + 1).2" }
    public static func mac(_ i: Int) -> String { "52:54:00:77:\(String(format2: i + 1)):02" }

    /// What the lab's NIC rows need here, or a message naming what is missing.
    public static func checkPrerequisites() throws {
        var missing: [String] = []
        if getuid() != 0 { missing.append("root (network namespaces and tap devices need CAP_NET_ADMIN)") }
        if Subprocess.find("ip") == nil { missing.append("iproute2 (ip)") }
        if !FileManager.default.fileExists(atPath: "/dev/net/tun") { missing.append("/dev/net/tun (the tun module)") }
        guard missing.isEmpty else {
            throw LabError("a matrix with NICs needs \(missing.joined(separator: ", ")); run as root with apt-get install -y iproute2, or use --matrix blk")
        }
    }

    /// Creates the namespace and a tap per NIC. `tag` keeps names of one process apart;
    /// `queues` > 1 makes multi-queue taps (for `virtio-net-pci,mq=on`).
    public init(nics: [NicModel], tag: Int, queues: Int = 1, log: (String) -> Void) throws {
        try Self.checkPrerequisites()
        Self.removeStale(log: log)
        self.nics = nics
        self.name = "\(Self.prefix)\(getpid())-\(tag)"
        try Subprocess.check("ip", ["netns", "add", name], timeout: 30, what: "creating network namespace \(name)")
        do {
            try inside(["ip", "link", "set", "lo", "up"])
            try inside(["ip", "addr", "add", "\(Self.peerAddress)/32", "dev", "lo"])
            for i in nics.indices {
                let tap = Self.tapName(i)
                try inside(["ip", "tuntap", "add", "dev", tap, "mode", "tap"] + (queues > 1 ? ["multi_queue"] : []))
                try inside(["ip", "addr", "add", "\(Self.hostAddress(i))/24", "dev", tap])
                try inside(["ip", "link", "set", tap, "up"])
            }
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    /// Runs a command inside the namespace and requires success.
    func inside(_ command: [String]) throws {
        try Subprocess.check("ip", ["netns", "exec", name] + command, timeout: 30, what: "in namespace \(name)")
    }

    /// The command prefix that runs a program inside the namespace (`ip netns exec` execs the
    /// program itself: the PID Subprocess bounds is QEMU's).
    public var execPrefix: [String] { ["netns", "exec", name] }

    /// QEMU arguments of NIC `i`: its model on the namespace's tap `vbtapI`, with the lab's MAC.
    /// With `queues` > 1 (virtio-net only): that many queue pairs, `mq=on` and an MSI-X vector
    /// per queue plus config and control (2N+2, as libvirt sets them).
    public static func qemuArguments(_ model: NicModel, index i: Int, queues: Int = 1) -> [String] {
        let multi = queues > 1 ? ",queues=\(queues)" : ""
        let device = queues > 1 ? ",mq=on,vectors=\(2 * queues + 2)" : ""
        return ["-netdev", "tap,id=n\(i),ifname=\(tapName(i)),script=no,downscript=no\(multi)",
                "-device", "\(model.qemuDevice),netdev=n\(i),mac=\(mac(i))\(device)"]
    }

    /// Starts `vbench serve` (this machine's binary) on 0.0.0.0:5201 inside the namespace and
    /// waits until it listens.
    public func startServe(binary: String, folder: String, idleTimeout: Double) throws {
        let s = try BackgroundProcess("ip", execPrefix + [binary, "serve", "--listen", "0.0.0.0:\(Self.servePort)",
                                                             "--idle-timeout", "\(Int(idleTimeout))"],
                                      stdoutPath: "\(folder)/serve.out", stderrPath: "\(folder)/serve.err")
        serve = s
        guard s.waitForOutput("serving network tests", timeout: 20) else {
            s.stop(grace: 1)
            let err = (try? String(contentsOfFile: s.stderrPath, encoding: .utf8)) ?? ""
            throw LabError("vbench serve did not start in namespace \(name): \(err.split(separator: "\n").suffix(3).joined(separator: " | "))")
        }
    }

    /// What serve said when it stopped (`stopped: N tests served, …`).
    public private(set) var serveReport: String?

    /// Stops serve and deletes the namespace (its tap devices go with it).
    public func remove() {
        if let s = serve {
            s.stop(grace: 5)
            serveReport = ((try? String(contentsOfFile: s.stderrPath, encoding: .utf8)) ?? "")
                .split(separator: "\n").last { $0.contains("stopped:") }.map(String.init)
            serve = nil
        }
        guard !removed else { return }
        removed = true
        _ = try? Subprocess.run("ip", ["netns", "del", name], timeout: 30)
    }

    /// Deletes namespaces this lab left behind when its process died (named with a PID that
    /// no longer runs). Never touches any other namespace.
    static func removeStale(log: (String) -> Void) {
        guard let o = try? Subprocess.run("ip", ["netns", "list"], timeout: 30), o.status == 0 else { return }
        for line in o.stdout.split(separator: "\n") {
            let ns = String(line.split(separator: " ").first ?? "")
            guard ns.hasPrefix(prefix), let pid = Int32(ns.dropFirst(prefix.count).split(separator: "-").first ?? ""),
                  pid != getpid(), kill(pid, 0) != 0 && errno == ESRCH else { continue }
            if (try? Subprocess.run("ip", ["netns", "del", ns], timeout: 30))?.status == 0 {
                log("removed network namespace \(ns) left by an earlier lab run (process \(pid) is gone)")
            }
        }
    }
}
