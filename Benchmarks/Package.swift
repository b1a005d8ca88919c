// swift-tools-version: 6.1
// Benchmarks that need code of their own; they depend on the root package by path, so they
// never slow its build. Run from the repository root: `swift run -c release --package-path Benchmarks ingest-bench`.
import PackageDescription

let package = Package(
    name: "vbench-benchmarks",
    dependencies: [
        .package(name: "vbench", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "ingest-bench",
            dependencies: [
                .product(name: "VBenchCore", package: "vbench"),
                .product(name: "VBenchIngest", package: "vbench"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "frame-fuzz",
            dependencies: [
                .product(name: "VBenchCore", package: "vbench"),
                .product(name: "VBenchIngest", package: "vbench"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "vhost-fuzz",
            dependencies: [
                .product(name: "VBenchVhostUser", package: "vbench"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
