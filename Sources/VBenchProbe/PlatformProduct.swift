import VBenchCore

/// A platform built on a hypervisor and named only by its DMI strings (clouds and management
/// products), with the hypervisor underneath it.
///
/// The strings are the ones each product's firmware publishes, checked against systemd's
/// `dmi_vendor_table` (src/basic/virt.c), virt-what's checks and test data (virt-what.in,
/// tests/*/sbin/dmidecode), Nova's `NOVA_VENDOR`/`NOVA_PRODUCT` (nova/version.py) and vdsm's
/// `OSName`; see Tests/Fixtures/README.md.
struct PlatformProduct: Sendable, Equatable {
    /// The platform's name: `Amazon EC2`, `OpenStack Nova`, `Google Compute Engine`, …
    var name: String
    /// The hypervisor the platform runs its guests on (`.none` for a bare-metal instance).
    var hypervisor: Hypervisor
    /// True when the same DMI strings also mark the platform's bare-metal machines and nothing in
    /// them tells the two apart, so only CPUID or the SMBIOS VM bit can confirm a hypervisor.
    var sharedWithBareMetal = false
    /// Why, in words, for the evidence.
    var reason: String

    /// The platform the DMI strings name, or nil.
    static func match(_ dmi: DMITable) -> PlatformProduct? {
        let vendor = dmi.sysVendor ?? ""
        let product = dmi.productName ?? ""
        if vendor == "Amazon EC2" || dmi.biosVendor == "Amazon EC2" {
            // Instance types of bare-metal instances end in `.metal` or `.metal-<size>` (i3.metal, m5.metal-24xl).
            if let range = product.firstRange(of: ".metal"), range.upperBound == product.endIndex || product[range.upperBound] == "-" {
                return PlatformProduct(name: "Amazon EC2", hypervisor: .none, reason: "EC2 bare-metal instance \(product)")
            }
            return PlatformProduct(name: "Amazon EC2", hypervisor: .kvm, reason: "EC2 Nitro (KVM-based) instance \(product)")
        }
        if (dmi.biosVersion ?? "").lowercased().contains(".amazon") {
            // Xen-based EC2 instances: BIOS version such as `4.2.amazon`.
            return PlatformProduct(name: "Amazon EC2", hypervisor: .xen, reason: "Xen-based EC2 (BIOS \(dmi.biosVersion ?? ""))")
        }
        if product == "Google Compute Engine" || (vendor == "Google" && dmi.boardName == "Google Compute Engine") {
            return PlatformProduct(name: "Google Compute Engine", hypervisor: .kvm, reason: "Google Compute Engine runs KVM")
        }
        if vendor.hasPrefix("Alibaba") || product == "Alibaba Cloud ECS" {
            return PlatformProduct(name: "Alibaba Cloud ECS", hypervisor: .kvm, sharedWithBareMetal: true,
                                   reason: "Alibaba Cloud ECS runs KVM; its bare-metal (EBM) instances carry the same strings")
        }
        if product.hasPrefix("OpenStack") || vendor == "OpenStack Foundation" {
            let name = product.hasPrefix("OpenStack") ? product : "OpenStack Nova"
            return PlatformProduct(name: name, hypervisor: .kvm, reason: "Nova's libvirt driver (KVM unless configured otherwise)")
        }
        if vendor == "oVirt" || product.hasPrefix("oVirt") {
            return PlatformProduct(name: "oVirt", hypervisor: .kvm, reason: "oVirt runs KVM")
        }
        if product == "RHEV Hypervisor" {
            return PlatformProduct(name: "RHEV", hypervisor: .kvm, reason: "Red Hat Virtualization runs KVM")
        }
        if vendor == "Nutanix" && product == "AHV" {  // Nutanix hardware (NX-…) says Nutanix too
            return PlatformProduct(name: "Nutanix AHV", hypervisor: .kvm, reason: "Nutanix AHV is KVM-based")
        }
        return nil
    }
}
