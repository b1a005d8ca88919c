import VBenchSystem

/// The namespaces of this process (`/proc/self/ns/*`) and of PID 1 (`/proc/1/ns/*`), as their
/// links read: `pid:[4026531836]`.
///
/// The kernel gives the namespaces it starts with fixed inode numbers (include/linux/proc_ns.h,
/// since 3.8 and 4.6; include/uapi/linux/nsfs.h `init_ns_ino`, which adds net and mnt in 6.18).
/// A process in the initial PID namespace is in no container that has its own, which is every
/// Docker, Podman, LXC and nspawn container unless told to share the host's. Namespaces made
/// later get numbers from 0xF0000000 up, so a number says "initial" or "not initial" for the
/// types with a fixed one; net and mnt numbers say nothing on kernels before 6.18.
///
/// Reading PID 1's links needs ptrace access to PID 1 (root, usually). In a recorded tree the
/// links are symlinks whose targets are that text (dangling, as in /proc); an unreadable one is
/// a `NAME.unreadable` file holding the reason.
struct NamespaceLinks: Sendable {
    /// The namespace types read, in the order findings name them.
    static let types = ["pid", "user", "cgroup", "mnt", "net", "uts", "ipc"]

    /// The initial namespaces' inode numbers.
    static let initialInodes: [String: UInt64] = [
        "ipc": 0xEFFF_FFFF, "uts": 0xEFFF_FFFE, "user": 0xEFFF_FFFD, "pid": 0xEFFF_FFFC,
        "cgroup": 0xEFFF_FFFB, "time": 0xEFFF_FFFA, "net": 0xEFFF_FFF9, "mnt": 0xEFFF_FFF8,
    ]

    /// Each type's link as read (or why not).
    var links: [String: FileRead<String>] = [:]

    /// Reads `/proc/PID/ns/*`; `process` is `self` or `1`.
    init(_ fs: RootedFileSystem, process: String) {
        // Resolve /proc/self first, so a recording keeps the link and the folder it names.
        let folder = fs.resolve("/proc/\(process)/ns") ?? "/proc/\(process)/ns"
        for type in Self.types { links[type] = fs.readLinkResult(folder + "/" + type) }
    }

    init(links: [String: FileRead<String>]) { self.links = links }

    /// The inode number of a link such as `pid:[4026531836]`, or nil when it does not read so.
    static func inode(_ link: String, type: String) -> UInt64? {
        guard link.hasPrefix(type + ":["), link.hasSuffix("]") else { return nil }
        return UInt64(link.dropFirst(type.count + 2).dropLast())
    }

    /// Whether the namespace of `type` is the kernel's initial one: true or false for types with a
    /// fixed initial number; nil when unread, malformed, or (net, mnt) not the 6.18 constant.
    func isInitial(_ type: String) -> Bool? {
        guard let link = links[type]?.value, let number = Self.inode(link, type: type),
              let initial = Self.initialInodes[type] else { return nil }
        if number == initial { return true }
        return type == "net" || type == "mnt" ? nil : false
    }
}
