import VBenchCore
import VBenchSystem

/// Decides whether the probe runs in a container by weighing every piece of evidence, for and
/// against, instead of trusting one file.
///
/// systemd-detect-virt and virt-what both answer `docker` as soon as `/.dockerenv` exists, but a
/// root file system built with Docker keeps that file when it boots as a VM. Here it counts
/// little; what a container cannot hide counts more: being in the kernel's initial PID namespace
/// (every Docker, Podman, LXC and nspawn container has its own), PID 1's cgroups at the root of
/// the initial cgroup namespace, and what the container manager itself says (`container=` in
/// PID 1's environment, /run/systemd/container, /run/host/container-manager, /run/.containerenv).
///
/// Weights: the manager's own word or a WSL kernel 10; a PID namespace of its own, a cgroup named
/// after a manager or /run/.containerenv 4; the initial PID namespace −6; PID 1's cgroups at the
/// root of the initial cgroup namespace −3. A total of 3 or more is a container (the kind with
/// most weight, or `container-other`), −3 or less is none, anything between is `unknown`.
public enum ContainerDetector {
    /// One finding: its weight (positive for a container, negative against, 0 to note) and the
    /// container kind it names, if any.
    struct Finding: Sendable, Equatable {
        var weight: Int
        var kind: ContainerKind?
        var text: String

        /// The finding in words, with its direction.
        var line: String {
            if weight > 0 { return "for \(kind?.rawValue ?? "a container"): \(text)" }
            if weight < 0 { return "against: \(text)" }
            return text
        }
    }

    /// The verdict for the system below `fs`.
    public static func detect(_ fs: RootedFileSystem) -> ContainerInfo {
        verdict(findings(fs))
    }

    /// Weighs the findings.
    static func verdict(_ findings: [Finding]) -> ContainerInfo {
        let total = findings.reduce(0) { $0 + $1.weight }
        var byKind: [ContainerKind: Int] = [:]
        for f in findings where f.weight > 0 { if let k = f.kind { byKind[k, default: 0] += f.weight } }
        let kind: ContainerKind
        if total >= 3 {
            kind = byKind.max { a, b in a.value != b.value ? a.value < b.value : a.key.rawValue > b.key.rawValue }?.key ?? .other
        } else if total <= -3 {
            kind = .none
        } else {
            kind = .unknown
        }
        // Strongest first, either way; notes (weight 0) last.
        let ordered = findings.enumerated().sorted { a, b in
            abs(a.element.weight) != abs(b.element.weight) ? abs(a.element.weight) > abs(b.element.weight) : a.offset < b.offset
        }
        var evidence = ordered.map(\.element.line)
        evidence.append("weight \(total) (a container at 3 or more, none at -3 or less)")
        return ContainerInfo(kind: kind, evidence: evidence)
    }

    /// Everything the files say.
    static func findings(_ fs: RootedFileSystem) -> [Finding] {
        var out: [Finding] = []
        out += wsl(fs)
        out += managerFiles(fs)
        out += markerFiles(fs)
        let own = NamespaceLinks(fs, process: "self")
        out += namespaces(own, pid1: NamespaceLinks(fs, process: "1"))
        out += cgroups(fs, cgroupNamespaceInitial: own.isInitial("cgroup"))
        out += initProcess(fs)
        return out
    }

    /// WSL's kernel names itself (the check Microsoft gave in WSL issue 423).
    static func wsl(_ fs: RootedFileSystem) -> [Finding] {
        var out: [Finding] = []
        for path in ["/proc/sys/kernel/osrelease", "/proc/version"] {
            if let text = fs.readString(path), text.contains("Microsoft") || text.contains("microsoft") || text.contains("WSL") {
                out.append(Finding(weight: 10, kind: .wsl, text: "\(path) names a WSL kernel (\(text.prefix(60)))"))
                break
            }
        }
        for name in ["WSLInterop", "WSLInterop-late"] where fs.exists("/proc/sys/fs/binfmt_misc/\(name)") {
            out.append(Finding(weight: 4, kind: .wsl, text: "/proc/sys/fs/binfmt_misc/\(name) present (WSL runs Windows programs)"))
            break
        }
        return out
    }

    /// What a container manager writes for the system inside: systemd's `container=` interface.
    static func managerFiles(_ fs: RootedFileSystem) -> [Finding] {
        var out: [Finding] = []
        switch fs.readFile("/proc/1/environ") {
        case .value(let environ):
            let variables = environ.split(separator: "\0").map(String.init)
            if let entry = variables.first(where: { $0.hasPrefix("container=") }) {
                let value = String(entry.dropFirst("container=".count))
                if value.isEmpty {
                    out.append(Finding(weight: -3, kind: nil, text: "container= is empty in PID 1's environment (systemd: no container)"))
                } else if value == "oci" {
                    // Some images hard-code container=oci: a container, but not which manager.
                    out.append(Finding(weight: 10, kind: nil, text: "container=oci in PID 1's environment"))
                } else {
                    out.append(Finding(weight: 10, kind: ContainerKind(containerVariable: value),
                                       text: "container=\(value) in PID 1's environment (set by the container manager)"))
                }
            } else if environ.isEmpty {
                out.append(Finding(weight: 0, kind: nil, text: "/proc/1/environ is empty"))
            } else {
                out.append(Finding(weight: -1, kind: nil, text: "no container= in PID 1's environment (Docker sets none, so this is weak)"))
            }
        case .absent: out.append(Finding(weight: 0, kind: nil, text: "absent: /proc/1/environ"))
        case .unreadable(let why): out.append(Finding(weight: 0, kind: nil, text: "unreadable: /proc/1/environ (\(why))"))
        }
        for path in ["/run/systemd/container", "/run/host/container-manager"] {
            guard let value = fs.readString(path)?.split(separator: "\n").first.map({ String($0).trimmingCharacters() }),
                  !value.isEmpty else { continue }
            out.append(Finding(weight: 10, kind: value == "oci" ? nil : ContainerKind(containerVariable: value),
                               text: "\(path) says \(value)"))
        }
        return out
    }

    /// Files container managers leave in the root file system.
    static func markerFiles(_ fs: RootedFileSystem) -> [Finding] {
        var out: [Finding] = []
        if fs.exists("/run/.containerenv") {
            let engine = fs.readString("/run/.containerenv")?.split(separator: "\n")
                .first { $0.hasPrefix("engine=") }.map { " " + $0 } ?? ""
            out.append(Finding(weight: 4, kind: .podman, text: "/run/.containerenv present\(engine) (Podman writes it in /run at start)"))
        }
        if fs.exists("/.dockerenv") {
            out.append(Finding(weight: 2, kind: .docker, text: "/.dockerenv present (an image built with Docker keeps it too, so it counts little)"))
        }
        if fs.exists("/dev/lxd/sock") {
            out.append(Finding(weight: 2, kind: .lxc, text: "/dev/lxd/sock present (LXD's guest API)"))
        }
        if !fs.list("/proc/vz").isEmpty {
            if fs.list("/proc/bc").isEmpty {
                out.append(Finding(weight: 10, kind: .openvz, text: "/proc/vz without /proc/bc (inside an OpenVZ container)"))
            } else {
                out.append(Finding(weight: -3, kind: nil, text: "/proc/vz and /proc/bc (an OpenVZ host)"))
            }
        }
        return out
    }

    /// This process's namespaces against the kernel's initial ones and PID 1's.
    static func namespaces(_ own: NamespaceLinks, pid1: NamespaceLinks) -> [Finding] {
        var out: [Finding] = []
        let pid = own.links["pid"] ?? .absent
        switch (pid, own.isInitial("pid")) {
        case (.value(let link), true?):
            out.append(Finding(weight: -6, kind: nil, text: "this process is in the initial PID namespace (\(link)), as no container's processes are"))
        case (.value(let link), false?):
            out.append(Finding(weight: 4, kind: nil, text: "this process is in a PID namespace of its own (\(link)), not the initial one"))
        case (.value(let link), nil):
            out.append(Finding(weight: 0, kind: nil, text: "malformed: /proc/self/ns/pid reads \(link)"))
        case (.absent, _): out.append(Finding(weight: 0, kind: nil, text: "absent: /proc/self/ns/pid (a kernel without namespaces?)"))
        case (.unreadable(let why), _): out.append(Finding(weight: 0, kind: nil, text: "unreadable: /proc/self/ns/pid (\(why))"))
        }
        switch own.isInitial("user") {
        case false?:
            out.append(Finding(weight: 2, kind: nil, text: "a user namespace of its own (\(own.links["user"]?.value ?? "")): a rootless or unprivileged container"))
        case true?:
            out.append(Finding(weight: -1, kind: nil, text: "the initial user namespace"))
        case nil: break
        }
        if own.isInitial("mnt") == true {
            out.append(Finding(weight: -2, kind: nil, text: "the initial mount namespace (\(own.links["mnt"]?.value ?? ""))"))
        }
        // PID 1's namespaces: readable only with ptrace access to PID 1.
        var differing: [String] = []
        var unreadable: String?
        for type in ["pid", "mnt"] {
            switch (own.links[type]?.value, pid1.links[type] ?? .absent) {
            case (let mine?, .value(let theirs)): if mine != theirs { differing.append(type) }
            case (_, .unreadable(let why)): unreadable = why
            default: break
            }
        }
        if !differing.isEmpty {
            out.append(Finding(weight: 3, kind: nil, text: "not in PID 1's \(differing.joined(separator: " and ")) namespace (a sandbox inside this system)"))
        } else if let unreadable {
            out.append(Finding(weight: 0, kind: nil, text: "unreadable: /proc/1/ns (\(unreadable))"))
        } else if pid1.links["pid"]?.value != nil {
            out.append(Finding(weight: 0, kind: nil, text: "PID 1 shares this process's PID and mount namespaces"))
        }
        return out
    }

    /// PID 1's cgroups (`/proc/1/cgroup`): a manager's path, or the root of the hierarchy.
    static func cgroups(_ fs: RootedFileSystem, cgroupNamespaceInitial: Bool?) -> [Finding] {
        var out: [Finding] = []
        switch fs.readFile("/proc/1/cgroup") {
        case .value(let text):
            let paths = text.split(separator: "\n").compactMap { line -> String? in
                let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                return parts.count == 3 ? String(parts[2]) : nil
            }
            if paths.isEmpty {
                out.append(Finding(weight: 0, kind: nil, text: "malformed: /proc/1/cgroup has no hierarchy:controllers:path line"))
            } else if let path = paths.first(where: { manager(inCgroup: $0) != nil }) {
                out.append(Finding(weight: 4, kind: manager(inCgroup: path), text: "PID 1's cgroup is \(path)"))
            } else if paths.allSatisfy({ $0 == "/" || $0 == "/init.scope" }) {
                let at = paths.contains("/init.scope") ? "at / (or systemd's /init.scope)" : "all at /"
                switch cgroupNamespaceInitial {
                case true?:
                    out.append(Finding(weight: -3, kind: nil, text: "PID 1's cgroups are \(at) in the initial cgroup namespace"))
                case false?:
                    out.append(Finding(weight: 0, kind: nil, text: "PID 1's cgroups are \(at) of a cgroup namespace of its own (a container's root looks so)"))
                case nil:
                    out.append(Finding(weight: -1, kind: nil, text: "PID 1's cgroups are \(at) (a private cgroup namespace would show / too)"))
                }
            } else {
                out.append(Finding(weight: 0, kind: nil, text: "PID 1's cgroup is \(paths[0])"))
            }
        case .absent: out.append(Finding(weight: 0, kind: nil, text: "absent: /proc/1/cgroup"))
        case .unreadable(let why): out.append(Finding(weight: 0, kind: nil, text: "unreadable: /proc/1/cgroup (\(why))"))
        }
        // This process's own cgroup may name a manager PID 1's does not (`--pid=host`).
        if !out.contains(where: { $0.weight == 4 }), let text = fs.readString("/proc/self/cgroup") {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                if parts.count == 3, let kind = manager(inCgroup: String(parts[2])) {
                    out.append(Finding(weight: 4, kind: kind, text: "this process's cgroup is \(parts[2])"))
                    break
                }
            }
        }
        return out
    }

    /// The container manager a cgroup path names (Docker's `/docker/ID` or `docker-ID.scope`,
    /// Podman's `libpod-ID`, LXC's `/lxc/NAME` or `lxc.payload.NAME`, Kubernetes' `kubepods`).
    static func manager(inCgroup path: String) -> ContainerKind? {
        let parts = path.split(separator: "/")
        if parts.contains("docker") || parts.contains(where: { $0.hasPrefix("docker-") && $0.hasSuffix(".scope") }) { return .docker }
        if parts.contains(where: { $0.hasPrefix("libpod-") || $0 == "libpod_parent" }) { return .podman }
        if parts.contains("lxc") || parts.contains(where: { $0.hasPrefix("lxc.payload") }) { return .lxc }
        if parts.contains(where: { $0.hasPrefix("kubepods") }) { return .other }
        return nil
    }

    /// Inits that run machines (systemd, SysV init, OpenRC, runit, upstart, BusyBox's init).
    static let inits: Set<String> = ["systemd", "init", "openrc-init", "runit", "runit-init", "upstart"]
    /// Inits made for containers.
    static let containerInits: Set<String> = ["tini", "dumb-init", "catatonit", "docker-init", "pause", "s6-svscan"]
    static let shells: Set<String> = ["sh", "bash", "ash", "dash", "zsh", "ksh", "fish"]

    /// PID 1's name: a machine's init, a container's init or shell, or something else.
    static func initProcess(_ fs: RootedFileSystem) -> [Finding] {
        switch fs.readFile("/proc/1/comm") {
        case .value(let comm):
            if inits.contains(comm) { return [Finding(weight: -1, kind: nil, text: "PID 1 is \(comm), an init (containers can run one too)")] }
            if containerInits.contains(comm) { return [Finding(weight: 2, kind: nil, text: "PID 1 is \(comm), an init made for containers")] }
            if shells.contains(comm) { return [Finding(weight: 1, kind: nil, text: "PID 1 is the shell \(comm)")] }
            return [Finding(weight: 0, kind: nil, text: "PID 1 is \(comm.isEmpty ? "unnamed" : comm) (not a known init, container init or shell)")]
        case .absent: return [Finding(weight: 0, kind: nil, text: "absent: /proc/1/comm")]
        case .unreadable(let why): return [Finding(weight: 0, kind: nil, text: "unreadable: /proc/1/comm (\(why))")]
        }
    }
}
