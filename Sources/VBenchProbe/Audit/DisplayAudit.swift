import VBenchCore
import VBenchSystem

/// The display device and its driver: a paravirtual GPU (virtio-gpu, QXL, VMware SVGA,
/// VirtualBox, Hyper-V synthetic video) against an emulated one (Bochs/std VGA, Cirrus) or a
/// firmware framebuffer. SPICE, VNC and RDP consoles run on it.
struct DisplayAudit {
    let facts: AuditFacts

    /// One display adapter as found.
    struct Adapter: Equatable {
        var name: String
        var id: String?
        var driver: String?
        var evidence: String
    }

    /// Display drivers and what they are.
    static func kind(driver: String?, id: String?) -> (paravirtual: Bool?, label: String) {
        switch driver?.replacingDashes() {
        case "virtio_gpu"?: (true, "virtio-gpu")
        case "qxl"?: (true, "QXL (SPICE)")
        case "vmwgfx"?: (true, "VMware SVGA II (vmwgfx)")
        case "vboxvideo"?: (true, "VirtualBox video (vboxvideo)")
        case "hyperv_drm"?, "hyperv_fb"?: (true, "Hyper-V synthetic video")
        case "bochs_drm"?, "bochs"?: (false, "emulated standard VGA (bochs-drm)")
        case "cirrus"?, "cirrus_qemu"?: (false, "emulated Cirrus CLGD 5446 (cirrus)")
        case "simpledrm"?, "simple_framebuffer"?, "efifb"?, "vesafb"?, "vga16fb"?: (false, "firmware framebuffer (\(driver ?? ""))")
        case nil:
            switch id {
            case "1234:1111"?: (false, "standard VGA with no driver")
            case "1013:00b8"?: (false, "Cirrus VGA with no driver")
            case "1b36:0100"?: (false, "QXL with no driver")
            case "1af4:1050"?: (false, "virtio-gpu with no driver")
            case "15ad:0405"?: (false, "VMware SVGA with no driver")
            case "80ee:beef"?: (false, "VirtualBox VGA with no driver")
            default: (false, "plain VGA with no driver")
            }
        case let d?: (nil, d)
        }
    }

    /// Display adapters: PCI display-class functions (class 0x03xxxx), then DRM cards and
    /// framebuffers that are not PCI (simpledrm, efifb, Hyper-V's VMBus video).
    func adapters() -> [Adapter] {
        let fs = facts.fs
        var out: [Adapter] = facts.pciDevices.filter { $0.classCode?.hasPrefix("0x03") == true }.map { p in
            // virtio-pci binds the PCI function; the GPU driver binds the virtioN device below it.
            var driver = p.driver
            var evidence = "/sys/bus/pci/devices/\(p.address): class \(p.classCode ?? "?"), \(p.id), driver \(p.driver ?? "none")"
            if p.driver == "virtio-pci", let child = fs.list("/sys/bus/pci/devices/\(p.address)").first(where: { $0.hasPrefix("virtio") }) {
                driver = fs.readLink("/sys/bus/pci/devices/\(p.address)/\(child)/driver").map(lastComponent)
                evidence += ", \(child) driver \(driver ?? "none")"
            }
            return Adapter(name: p.address, id: p.id, driver: driver, evidence: evidence)
        }
        for card in fs.list("/sys/class/drm") where card.hasPrefix("card") && !card.contains("-") {
            guard let device = fs.resolve("/sys/class/drm/\(card)/device"),
                  !out.contains(where: { device.hasSuffix("/" + $0.name) }) else { continue }
            let driver = fs.readLink("/sys/class/drm/\(card)/device/driver").map(lastComponent)
            out.append(Adapter(name: card, id: nil, driver: driver, evidence: "/sys/class/drm/\(card)/device/driver: \(driver ?? "none")"))
        }
        if out.isEmpty {
            // Framebuffers are fb0, fb1, …; `fbcon` (the console's class device) is not one.
            for fb in fs.list("/sys/class/graphics") where fb.hasPrefix("fb") && fb.count > 2 && fb.dropFirst(2).allSatisfy(\.isNumber) {
                let name = fs.readString("/sys/class/graphics/\(fb)/name")?.trimmingCharacters()
                let driver: String? = switch name {
                case "EFI VGA"?: "efifb"
                case "simple"?, "simplefb"?: "simple_framebuffer"
                case "VESA VGA"?: "vesafb"
                case "hyperv_fb"?: "hyperv_fb"
                case let n?: n.hasSuffix("drmfb") ? String(n.dropLast(5)) : n
                case nil: nil
                }
                out.append(Adapter(name: fb, id: nil, driver: driver, evidence: "/sys/class/graphics/\(fb)/name: \(name ?? "unreadable")"))
            }
        }
        return out
    }

    /// One finding per adapter in `found` (from `adapters()`), or one for a headless guest.
    func findings(_ found: [Adapter]) -> [AuditFinding] {
        guard !found.isEmpty else {
            return [AuditFinding(check: "display", subject: "none", severity: .info,
                                 summary: "no display device: a headless guest (serial console only); nothing to fix for benchmarking",
                                 evidence: ["/sys/bus/pci/devices: no display-class function", "/sys/class/drm: \(facts.fs.exists("/sys/class/drm") ? "no card" : "absent")",
                                            "/sys/class/graphics: \(facts.fs.exists("/sys/class/graphics") ? "no framebuffer" : "absent")"])]
        }
        return found.map { a in
            let (paravirtual, label) = Self.kind(driver: a.driver, id: a.id)
            if paravirtual == true {
                return AuditFinding(check: "display", subject: a.driver ?? a.name, severity: .ok,
                                    summary: "\(a.name): \(label), a paravirtual display", evidence: [a.evidence])
            }
            if paravirtual == nil {
                return AuditFinding(check: "display", subject: a.driver ?? a.name, severity: .info,
                                    summary: "\(a.name): display driver \(label), not one vbench knows", evidence: [a.evidence])
            }
            return AuditFinding(check: "display", subject: a.driver ?? a.name, severity: .warning,
                                summary: "\(a.name): \(label); every screen update of a SPICE, VNC or RDP console is emulated",
                                evidence: [a.evidence], fix: fix(for: a))
        }
    }

    func fix(for a: Adapter) -> AuditFix {
        // A paravirtual device present without its driver needs the driver, not another device.
        let driverMissing: String? = switch a.id {
        case "1b36:0100"?: "qxl"
        case "1af4:1050"?: "virtio_gpu"
        case "15ad:0405"?: "vmwgfx"
        case "80ee:beef"?: "vboxvideo"
        default: nil
        }
        if let driverMissing { return AuditFix(guest: "modprobe \(driverMissing) (CONFIG_DRM_\(driverMissing.uppercased()) in the kernel)") }
        switch facts.hypervisor {
        case .vmware:
            return AuditFix(guest: "vmwgfx is in the kernel: modprobe vmwgfx", host: "VM settings > Display: enable 3D acceleration (SVGA II, svga.present = \"TRUE\")")
        case .virtualbox:
            return AuditFix(guest: "vmwgfx is in the kernel", host: "VBoxManage modifyvm VM --graphicscontroller vmsvga")
        case .hyperV:
            return AuditFix(guest: "modprobe hyperv_drm (CONFIG_DRM_HYPERV)", host: "a Generation 2 VM gets the synthetic video device")
        default:
            return AuditFix(guest: "virtio_gpu is in the kernel (CONFIG_DRM_VIRTIO_GPU)",
                            libvirt: "<video><model type='virtio'/></video> (or <model type='qxl'/> for SPICE)",
                            host: "-device virtio-gpu-pci (or -vga virtio; -vga qxl for SPICE)")
        }
    }
}
