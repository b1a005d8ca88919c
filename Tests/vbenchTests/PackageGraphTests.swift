import Foundation
import Testing

/// The package graph as docs/architecture.md draws it, checked without building anything: the
/// targets each target declares (from `swift package dump-package`, followed transitively) and
/// the modules each source file imports. Guest-side targets make up the guest binary users copy
/// into every VM, so none of them may reach full Foundation, a database, PostgreSQL or TLS.
@Suite struct PackageGraphTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The targets of the guest binary.
    static let guestSide: Set<String> = ["VBenchCore", "CZlib", "VBenchSystem", "CLibAIO", "CLibNUMA", "CVBenchShims", "VBenchProbe",
                                         "VBenchBlock", "VBenchNet", "VBenchMemory", "VBenchWire", "VBenchUplink", "VBenchReport",
                                         "VBenchGuestCLI", "vbench-guest"]
    /// What no guest-side target may depend on or import: host-side targets and the libraries
    /// that made the binary 80 MB (ICU through full Foundation, SQLite, PostgreSQL, BoringSSL).
    static let hostOnly: Set<String> = ["Foundation", "FoundationNetworking", "FoundationXML", "FoundationInternationalization",
                                        "GRDB", "PostgresNIO", "NIOSSL", "NIOHTTP1", "Logging",
                                        "VBenchStore", "VBenchStoreAPI", "VBenchPostgres", "VBenchCollector", "VBenchUplinkTLS", "VBenchLab", "VBenchVhostUser", "vbench"]
    /// Rules of single targets, beyond the guest side's.
    static let forbidden: [String: Set<String>] = [
        "VBenchCore": ["NIOCore", "NIOPosix", "VBenchSystem", "SystemPackage"],
        "VBenchBlock": ["VBenchNet", "VBenchMemory", "NIOCore", "NIOPosix"],
        "VBenchNet": ["VBenchBlock", "VBenchMemory", "NIOCore", "NIOPosix"],
        "VBenchMemory": ["VBenchBlock", "VBenchNet", "NIOCore", "NIOPosix"],
        "VBenchReport": ["VBenchSystem", "NIOCore", "NIOPosix"],
        "VBenchUplink": ["VBenchCollector"],
        "VBenchLab": ["NIOCore", "NIOPosix"],
        // The collector stores through the RunStore protocol; the database is the caller's choice.
        "VBenchCollector": ["VBenchStore", "VBenchPostgres", "GRDB", "PostgresNIO"],
        "VBenchStoreAPI": ["GRDB", "PostgresNIO", "NIOCore", "NIOPosix"],
    ]

    struct Target {
        var name: String
        var path: String
        /// Declared dependencies: target names and product names.
        var dependencies: [String]
    }

    static func targets() throws -> [String: Target] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A scratch folder of its own: the default one (.build) is locked by the `swift test` running this.
        let scratch = NSTemporaryDirectory() + "vbench-graph-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        p.arguments = ["timeout", "120", "swift", "package", "--package-path", repo, "--scratch-path", scratch, "dump-package"]
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = (env["PATH"] ?? "/usr/bin:/bin") + ":/opt/swift/usr/bin"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "swift package dump-package exited \(p.terminationStatus)")
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let list = try #require(json["targets"] as? [[String: Any]])
        var result: [String: Target] = [:]
        for t in list {
            let name = try #require(t["name"] as? String)
            let type = t["type"] as? String ?? ""
            let path = (t["path"] as? String) ?? (type == "test" ? "Tests/\(name)" : "Sources/\(name)")
            let deps = (t["dependencies"] as? [[String: Any]] ?? []).compactMap { d -> String? in
                if let n = d["byName"] as? [Any] { return n.first as? String }
                if let n = d["target"] as? [Any] { return n.first as? String }
                if let n = d["product"] as? [Any] { return n.first as? String }
                return nil
            }
            result[name] = Target(name: name, path: path, dependencies: deps)
        }
        return result
    }

    /// Every module a target's sources import (`import X`, `@testable import X`, `import struct X.Y`).
    static func imports(of target: Target) throws -> [String: [String]] {
        var found: [String: [String]] = [:]
        let root = repo + "/" + target.path
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [:] }
        while let rel = walker.nextObject() as? String {
            guard rel.hasSuffix(".swift") else { continue }
            let text = try String(contentsOfFile: root + "/" + rel, encoding: .utf8)
            for line in text.split(separator: "\n") {
                var words = line.split(separator: " ").map(String.init)
                while let w = words.first, w.hasPrefix("@") || w == "public" || w == "internal" || w == "package" { words.removeFirst() }
                guard words.first == "import", words.count >= 2 else { continue }
                let kinds: Set<String> = ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"]
                let module = String((kinds.contains(words[1]) && words.count >= 3 ? words[2] : words[1]).split(separator: ".")[0])
                found[module, default: []].append("\(target.path)/\(rel)")
            }
        }
        return found
    }

    /// Every target and product a target reaches through declared dependencies.
    static func closure(of name: String, in targets: [String: Target]) -> Set<String> {
        var seen: Set<String> = []
        var stack = targets[name]?.dependencies ?? []
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            stack += targets[next]?.dependencies ?? []
        }
        return seen
    }

    @Test func guestSideTargetsReachNothingOfTheHost() throws {
        let targets = try Self.targets()
        // The list above names real targets (a renamed target must not slip out of the check).
        #expect(Self.guestSide.subtracting(targets.keys).isEmpty, "unknown guest-side targets: \(Self.guestSide.subtracting(targets.keys).sorted())")
        var violations: [String] = []
        for name in Self.guestSide.sorted() {
            guard let target = targets[name] else { continue }
            let reached = Self.closure(of: name, in: targets)
            for bad in reached.intersection(Self.hostOnly).sorted() {
                violations.append("\(name) depends on \(bad) (declared or through its dependencies)")
            }
            for (module, files) in try Self.imports(of: target) where Self.hostOnly.contains(module) {
                violations.append("\(name) imports \(module) in \(files.sorted().joined(separator: ", "))")
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func eachTargetKeepsItsOwnRules() throws {
        let targets = try Self.targets()
        var violations: [String] = []
        for (name, banned) in Self.forbidden.sorted(by: { $0.key < $1.key }) {
            let target = try #require(targets[name], "no target \(name)")
            for bad in Set(target.dependencies).intersection(banned).sorted() { violations.append("\(name) declares \(bad)") }
            for (module, files) in try Self.imports(of: target) where banned.contains(module) {
                violations.append("\(name) imports \(module) in \(files.sorted().joined(separator: ", "))")
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    /// The check itself can fail: the full vbench reaches what the guest binary must not.
    @Test func theCheckSeesTheHostSide() throws {
        let targets = try Self.targets()
        let full = Self.closure(of: "vbench", in: targets)
        #expect(full.isSuperset(of: ["GRDB", "PostgresNIO", "NIOSSL", "VBenchStore", "VBenchCollector"]), "\(full.sorted())")
        #expect(try Self.imports(of: #require(targets["VBenchLab"]))["Foundation"] != nil, "the lab (host side) imports Foundation")
    }
}
