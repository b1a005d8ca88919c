/// Whether the probe ran inside a container, and what said so either way.
///
/// A container shares the kernel of the machine it runs on, but its cgroups limit CPU, memory and
/// I/O, so every number measured in one depends on limits the hypervisor verdict does not show.
public struct ContainerInfo: Codable, Sendable, Equatable {
    /// The verdict after weighing all the evidence.
    public var kind: ContainerKind
    /// Every finding, for a container and against one, and what could not be read, e.g.
    /// `for docker: /.dockerenv present (an image built with Docker keeps it too)`.
    public var evidence: [String]

    public init(kind: ContainerKind, evidence: [String] = []) {
        self.kind = kind
        self.evidence = evidence
    }
}

/// The container managers vbench tells apart; the names are those of systemd's `container=`
/// interface (systemd-detect-virt --container).
public enum ContainerKind: String, Codable, Sendable, CaseIterable {
    /// Not in a container: the evidence against outweighs the evidence for.
    case none
    case docker
    case podman
    case lxc
    case lxcLibvirt = "lxc-libvirt"
    case systemdNspawn = "systemd-nspawn"
    case rkt
    case openvz
    /// Windows Subsystem for Linux.
    case wsl
    case proot
    case pouch
    /// A container whose manager is not one of the above (`container=crio`, `oci`, a Kubernetes pod).
    case other = "container-other"
    /// The evidence is too weak or contradicts itself.
    case unknown

    /// The name shown to people.
    public var displayName: String {
        switch self {
        case .none: "no container"
        case .docker: "Docker"
        case .podman: "Podman"
        case .lxc: "LXC"
        case .lxcLibvirt: "libvirt LXC"
        case .systemdNspawn: "systemd-nspawn"
        case .rkt: "rkt"
        case .openvz: "OpenVZ"
        case .wsl: "WSL"
        case .proot: "PRoot"
        case .pouch: "PouchContainer"
        case .other: "a container (manager not named)"
        case .unknown: "unknown"
        }
    }

    /// The kind for a value of systemd's `container=` variable; unknown names are `other`.
    public init(containerVariable value: String) {
        switch value.lowercased() {
        case "docker": self = .docker
        case "podman": self = .podman
        case "lxc": self = .lxc
        case "lxc-libvirt": self = .lxcLibvirt
        case "systemd-nspawn": self = .systemdNspawn
        case "rkt": self = .rkt
        case "wsl": self = .wsl
        case "proot": self = .proot
        case "pouch": self = .pouch
        case "openvz": self = .openvz
        default: self = .other
        }
    }
}
