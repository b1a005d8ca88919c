import FoundationEssentials
import Testing
import VBenchTestSupport
import VBenchCore
@testable import VBenchProbe
import VBenchSystem

/// The container verdict: evidence weighed both ways, on fixtures and on scratch trees.
@Suite struct ContainerTests {
    @Test func everyContainerKindHasAFixture() throws {
        let containers = Set(try Fixtures.names.compactMap { try Fixtures.expected($0).container })
        for kind in [ContainerKind.none, .docker, .podman, .lxc, .systemdNspawn, .wsl, .other] {
            #expect(containers.contains(kind.rawValue), "no fixture for the container kind \(kind.rawValue)")
        }
    }

    @Test func theDevelopmentMachineIsAFirecrackerVMNotADockerContainer() throws {
        let env = Fixtures.report("firecracker-docker-image").environment
        #expect(env.hypervisor.vendor == .firecracker)
        let container = try #require(env.container)
        #expect(container.kind == .none)
        // The evidence both ways.
        #expect(container.evidence.contains { $0.hasPrefix("for docker: /.dockerenv present") })
        #expect(container.evidence.contains { $0.hasPrefix("against: this process is in the initial PID namespace") })
        #expect(container.evidence.contains { $0.hasPrefix("against: PID 1's cgroups are all at / in the initial cgroup namespace") })
        #expect(container.evidence.contains("unreadable: /proc/1/environ (Permission denied)"))
    }

    @Test func aWSLKernelWithoutNamespacesIsStillWSL() throws {
        let tree = try Tree()
        try tree.file("/proc/sys/kernel/osrelease", "4.4.0-19041-Microsoft")
        #expect(ContainerDetector.detect(tree.fs).kind == .wsl)
    }

    @Test func unreadableEnvironIsEvidenceNotAVerdict() throws {
        let tree = try Tree()
        try tree.file("/proc/1/environ.unreadable", "Permission denied")
        try tree.file("/.dockerenv", "")
        let info = ContainerDetector.detect(tree.fs)
        #expect(info.kind == .unknown)  // /.dockerenv alone decides nothing
        #expect(info.evidence.contains("unreadable: /proc/1/environ (Permission denied)"))
    }

    @Test func malformedNamespaceLinksAndCgroupsGiveUnknownWithTheReason() throws {
        let tree = try Tree()
        try tree.link("/proc/self/ns/pid", "not-a-namespace")
        try tree.file("/proc/self/ns/user", "user:[4026531837]")  // a file, not a link
        try tree.file("/proc/1/cgroup", "garbage without colons")
        try tree.bytes("/proc/1/comm", [0xff, 0xfe, 0x00])
        let info = ContainerDetector.detect(tree.fs)
        #expect(info.kind == .unknown)
        #expect(info.evidence.contains("malformed: /proc/self/ns/pid reads not-a-namespace"))
        #expect(info.evidence.contains("malformed: /proc/1/cgroup has no hierarchy:controllers:path line"))
        let links = NamespaceLinks(tree.fs, process: "self")
        #expect(links.links["user"] == .unreadable("Invalid argument"))
        #expect(links.isInitial("user") == nil)
    }

    @Test func unreadableNamespaceLinksAreRecordedReasons() throws {
        let tree = try Tree()
        try tree.file("/proc/self/ns/pid.unreadable", "Permission denied")
        #expect(NamespaceLinks(tree.fs, process: "self").links["pid"] == .unreadable("Permission denied"))
        #expect(NamespaceLinks(tree.fs, process: "self").links["mnt"] == .absent)
        let info = ContainerDetector.detect(tree.fs)
        #expect(info.evidence.contains("unreadable: /proc/self/ns/pid (Permission denied)"))
    }

    @Test func anEmptyTreeIsUnknown() throws {
        let tree = try Tree()
        #expect(SystemProbe(fs: tree.fs).environment().container?.kind == .unknown)
    }
}

@Suite struct ContainerWeighingTests {
    typealias F = ContainerDetector.Finding

    @Test func theStrongestNamedKindWins() {
        let v = ContainerDetector.verdict([
            F(weight: 2, kind: .docker, text: "/.dockerenv"), F(weight: 4, kind: .podman, text: "/run/.containerenv"),
            F(weight: 4, kind: nil, text: "own PID namespace"),
        ])
        #expect(v.kind == .podman)
    }

    @Test func aContainerWithoutANamedManagerIsOther() {
        #expect(ContainerDetector.verdict([F(weight: 4, kind: nil, text: "own PID namespace")]).kind == .other)
    }

    @Test func evidenceBothWaysIsListedStrongestFirst() {
        let v = ContainerDetector.verdict([
            F(weight: 2, kind: .docker, text: "/.dockerenv present"), F(weight: 0, kind: nil, text: "unreadable: x"),
            F(weight: -6, kind: nil, text: "initial PID namespace"),
        ])
        #expect(v.kind == .none)
        #expect(v.evidence == ["against: initial PID namespace", "for docker: /.dockerenv present", "unreadable: x",
                               "weight -4 (a container at 3 or more, none at -3 or less)"])
    }

    @Test func theManagerNamedInTheCgroupPath() {
        #expect(ContainerDetector.manager(inCgroup: "/docker/2c26b46b68ff") == .docker)
        #expect(ContainerDetector.manager(inCgroup: "/system.slice/docker-2c26b46b68ff.scope") == .docker)
        #expect(ContainerDetector.manager(inCgroup: "/machine.slice/libpod-2ed85a65b4d6.scope") == .podman)
        #expect(ContainerDetector.manager(inCgroup: "/lxc.payload.web") == .lxc)
        #expect(ContainerDetector.manager(inCgroup: "/kubepods/besteffort/pod1/abc") == .other)
        #expect(ContainerDetector.manager(inCgroup: "/user.slice/user-1000.slice/session-2.scope") == nil)
        #expect(ContainerDetector.manager(inCgroup: "/process_api/04d48e547e1682858e931a60713a5550") == nil)
    }
}
