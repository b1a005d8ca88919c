// swift-tools-version: 6.1
// vbench — virtualization I/O benchmarking suite (Linux only).
import PackageDescription

let package = Package(
    name: "vbench",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vbench", targets: ["vbench"]),
        .executable(name: "vbench-guest", targets: ["vbench-guest"]),
        .library(name: "VBenchCore", targets: ["VBenchCore"]),
        // For Benchmarks/: the guest-to-host path.
        .library(name: "VBenchIngest", targets: ["VBenchWire", "VBenchStore", "VBenchStoreAPI", "VBenchCollector", "VBenchUplink", "VBenchUplinkTLS"]),
        // For Benchmarks/: the vhost-user-vsock device (its fuzzer).
        .library(name: "VBenchVhostUser", targets: ["VBenchVhostUser"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The model and the statistics: no I/O, no clocks. zlib deflates compact histograms
        // (pure computation; the one C library the model uses).
        .target(name: "VBenchCore", dependencies: ["CZlib"]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Module maps for the C libraries (libaio ships no .pc file).
        .systemLibrary(name: "CLibAIO", path: "Sources/CLibAIO"),
        .systemLibrary(name: "CLibNUMA", path: "Sources/CLibNUMA", pkgConfig: "numa",
                       providers: [.apt(["libnuma-dev"])]),
        // Inline C that Swift cannot express (CPUID, libaio's inline preparers, O_DIRECT).
        // liburing (Debian liburing-dev) is wrapped here in plain C: its own copy of
        // <linux/io_uring.h> clashes with the kernel's, which swift-system's CSystem imports.
        .target(name: "CVBenchShims", linkerSettings: [.linkedLibrary("uring")]),
        // The only target that calls C for I/O.
        .target(
            name: "VBenchSystem",
            dependencies: [
                "CLibAIO", "CLibNUMA", "CVBenchShims",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(name: "VBenchProbe", dependencies: ["VBenchCore", "VBenchSystem"]),
        .target(name: "VBenchReport", dependencies: ["VBenchCore"]),
        .target(name: "VBenchBlock", dependencies: ["VBenchCore", "VBenchSystem"]),
        // TCP stream and request/response tests, and the peer that serves them.
        .target(name: "VBenchNet", dependencies: ["VBenchCore", "VBenchSystem"]),
        // STREAM kernels, pointer chase, first touch.
        .target(name: "VBenchMemory", dependencies: ["VBenchCore", "VBenchSystem"]),
        // Durable results: SQLite in WAL mode with numbered migrations.
        // The store's API: the RunStore protocol, receipts, queries, outcomes, locations and the
        // read SQL both backends share. What the collector and readers depend on; no database library.
        .target(name: "VBenchStoreAPI", dependencies: ["VBenchCore"]),
        .target(name: "VBenchStore", dependencies: ["VBenchCore", "VBenchStoreAPI", .product(name: "GRDB", package: "GRDB.swift")]),
        // The fleet store: PostgreSQL behind the same RunStore protocol, and the one place that
        // opens a store from its location (a SQLite path or a postgres:// URL).
        .target(
            name: "VBenchPostgres",
            dependencies: ["VBenchCore", "VBenchStore", "VBenchStoreAPI", .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // Versioned frames and messages between guest and host; no sockets here.
        .target(
            name: "VBenchWire",
            dependencies: ["VBenchCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // The guest-side commands (probe, run, send, serve): both executables are built from
        // these definitions. Guest-side targets only: no store, no PostgreSQL, no TLS, no full
        // Foundation (PackageGraphTests checks it).
        .target(
            name: "VBenchGuestCLI",
            dependencies: [
                "VBenchCore", "VBenchSystem", "VBenchProbe", "VBenchBlock", "VBenchNet", "VBenchMemory", "VBenchWire", "VBenchUplink", "VBenchReport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // What users copy into VMs and the lab packs: static, small (scripts/guest-binary).
        .executableTarget(
            name: "vbench-guest",
            dependencies: ["VBenchGuestCLI", "VBenchCore", "VBenchSystem", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "vbench",
            dependencies: [
                "VBenchGuestCLI",
                "VBenchCore", "VBenchSystem", "VBenchProbe", "VBenchBlock", "VBenchStore", "VBenchStoreAPI", "VBenchPostgres", "VBenchCollector", "VBenchUplink", "VBenchUplinkTLS", "VBenchWire",
                "VBenchLab", "VBenchMemory", "VBenchNet", "VBenchReport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A vhost-user-vsock device backend: QEMU's guests reach the collector over AF_VSOCK on
        // hosts without /dev/vhost-vsock. Guest memory and virtqueues; no NIO.
        .target(name: "VBenchVhostUser", dependencies: ["VBenchSystem", "CVBenchShims"]),
        // Host side: listens on vsock / unix / tcp (TLS and tokens beyond loopback) / vhost-user-vsock and hands records to a RunStore.
        .target(
            name: "VBenchCollector",
            dependencies: ["VBenchCore", "VBenchWire", "VBenchStoreAPI", "VBenchSystem", "VBenchVhostUser",
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")]
        ),
        // Guest side: sends records (over TLS with tls://), spools what was not acknowledged.
        .target(
            name: "VBenchUplink",
            dependencies: ["VBenchCore", "VBenchWire", "VBenchSystem",
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // TLS for senders (NIOSSL): the full vbench only; the guest binary leaves it out.
        .target(
            name: "VBenchUplinkTLS",
            dependencies: ["VBenchUplink", "VBenchWire", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")]
        ),
        // The lab: guest appliance, QEMU boots with a device matrix, KVM/TCG choice, collection.
        .target(
            name: "VBenchLab",
            dependencies: ["VBenchCore", "VBenchSystem", "VBenchProbe", "VBenchReport", "VBenchStore", "VBenchStoreAPI", "VBenchCollector", "VBenchWire"]
        ),
        // Helpers shared by the test targets (scratch folders).
        .target(name: "VBenchTestSupport", dependencies: ["VBenchCore"], path: "Tests/VBenchTestSupport"),
        .testTarget(name: "VBenchCoreTests", dependencies: ["VBenchCore", "VBenchTestSupport"]),
        .testTarget(
            name: "VBenchCollectorTests",
            dependencies: ["VBenchTestSupport", "VBenchCollector", "VBenchUplink", "VBenchUplinkTLS", "VBenchStore", "VBenchStoreAPI", "VBenchWire", "VBenchCore", "VBenchSystem",
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(name: "VBenchSystemTests", dependencies: ["VBenchSystem", "VBenchTestSupport"]),
        .testTarget(name: "VBenchVhostUserTests", dependencies: ["VBenchVhostUser", "VBenchSystem", "CVBenchShims", "VBenchCollector", "VBenchStore", "VBenchStoreAPI",
                                                          "VBenchCore", "VBenchWire", "VBenchTestSupport", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(
            name: "VBenchStoreTests",
            dependencies: ["VBenchTestSupport", "VBenchStore", "VBenchStoreAPI", "VBenchPostgres", "VBenchCore", "VBenchCollector", "VBenchUplink", "VBenchReport",
                           "VBenchWire", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "VBenchWireTests",
            dependencies: [
                "VBenchWire", "VBenchCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "VBenchProbeTests",
            dependencies: ["VBenchTestSupport", "VBenchProbe", "VBenchCore", "VBenchSystem"]
        ),
        .testTarget(name: "VBenchNetTests", dependencies: ["VBenchNet", "VBenchCore", "VBenchSystem"]),
        .testTarget(name: "VBenchMemoryTests", dependencies: ["VBenchMemory", "VBenchCore", "VBenchSystem", "VBenchProbe", "VBenchTestSupport"]),
        .testTarget(name: "VBenchLabTests", dependencies: ["VBenchTestSupport", "VBenchLab", "VBenchSystem", "VBenchCore", "VBenchStore", "VBenchStoreAPI", "VBenchGuestCLI", "VBenchWire", "VBenchCollector"]),
        .testTarget(name: "VBenchBlockTests", dependencies: ["VBenchTestSupport", "VBenchBlock", "VBenchCore", "VBenchSystem", "VBenchProbe",
                                                       .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "VBenchReportTests", dependencies: ["VBenchReport", "VBenchCore", "VBenchTestSupport"], exclude: ["Golden"]),
        .testTarget(
            name: "vbenchTests",
            dependencies: ["VBenchTestSupport", "vbench", "VBenchGuestCLI", "VBenchCore", "VBenchStore", "VBenchStoreAPI", "VBenchUplink", "VBenchCollector", "VBenchWire", "VBenchLab",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            exclude: ["Golden"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
