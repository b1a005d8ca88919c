import Foundation

/// A real PostgreSQL server for the tests: the private cluster `scripts/pg-cluster` makes
/// (initdb into a folder as a non-root user, 127.0.0.1 and a free port only, SCRAM passwords).
///
/// `shared` is the one the store and fleet tests use: the cluster named by `VBENCH_TEST_PG_DIR`
/// (scripts/test starts it), else one this test process starts and stops at exit. When no server
/// can start, `shared` says why; the PostgreSQL cases are then left out and a test shows as
/// skipped with that reason (and fails under `VBENCH_REQUIRE_POSTGRES=1`, as in CI).
public final class PostgresTestServer: Sendable {
    public let directory: String
    /// `postgres://vbench@127.0.0.1:PORT/vbench` (no password: that is `password`).
    public let url: String
    public let password: String
    public let port: Int
    private let owned: Bool

    /// Starts (or finds running) the cluster in `directory`.
    public static func start(in directory: String) throws -> PostgresTestServer {
        let (status, output) = try Self.script(["start", directory])
        guard status == 0 else { throw ServerError(reason: "scripts/pg-cluster start failed (exit \(status)): \(output)") }
        return try PostgresTestServer(directory: directory, owned: true)
    }

    /// The cluster in `directory`, already running (its env file written by scripts/pg-cluster).
    public init(directory: String, owned: Bool = false) throws {
        self.directory = directory
        self.owned = owned
        guard let text = try? String(contentsOfFile: directory + "/env", encoding: .utf8) else {
            throw ServerError(reason: "no \(directory)/env; scripts/pg-cluster start \(directory) makes it")
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { values[String(kv[0])] = String(kv[1]) }
        }
        guard let url = values["VBENCH_TEST_PG_URL"], let password = values["VBENCH_TEST_PG_PASSWORD"],
              let port = url.split(separator: ":").last.flatMap({ Int($0.split(separator: "/")[0]) }) else {
            throw ServerError(reason: "\(directory)/env lacks VBENCH_TEST_PG_URL or VBENCH_TEST_PG_PASSWORD")
        }
        self.url = url
        self.password = password
        self.port = port
    }

    /// The shared server, or why there is none.
    public static let shared: Result<PostgresTestServer, ServerError> = {
        if let dir = ProcessInfo.processInfo.environment["VBENCH_TEST_PG_DIR"], !dir.isEmpty {
            do {
                let server = try PostgresTestServer(directory: dir)
                let (status, output) = try script(["status", dir])
                guard status == 0 else { throw ServerError(reason: "the cluster in \(dir) is not running: \(output)") }
                return .success(server)
            } catch let error as ServerError { return .failure(error) } catch { return .failure(ServerError(reason: "\(error)")) }
        }
        let dir = "/tmp/vbench-pg-\(getpid())"
        do {
            let server = try start(in: dir)
            ownedDirectory = dir
            atexit {
                guard let dir = PostgresTestServer.ownedDirectory else { return }
                _ = try? PostgresTestServer.script(["stop", dir, "immediate"])
                try? FileManager.default.removeItem(atPath: dir)
            }
            return .success(server)
        } catch let error as ServerError {
            try? FileManager.default.removeItem(atPath: dir)
            return .failure(error)
        } catch {
            return .failure(ServerError(reason: "\(error)"))
        }
    }()
    nonisolated(unsafe) static var ownedDirectory: String?

    /// Whether tests that need a server run: one is up, or CI requires one (they then fail).
    public static var testsRun: Bool {
        if case .success = shared { return true }
        return required
    }

    /// Whether tests must fail rather than skip without a server (CI sets it).
    public static var required: Bool { ProcessInfo.processInfo.environment["VBENCH_REQUIRE_POSTGRES"] == "1" }

    /// A new empty database on this server; returns its URL.
    public func makeDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        _ = try psql("CREATE DATABASE \(name)", database: "postgres")
        return "postgres://vbench@127.0.0.1:\(port)/\(name)"
    }

    /// Drops a database made by `makeDatabase` (connections to it are ended first).
    public func dropDatabase(_ url: String) {
        guard let name = url.split(separator: "/").last else { return }
        _ = try? psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", database: "postgres")
    }

    /// Runs SQL with psql; returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(_ sql: String, database: String = "vbench") throws -> String {
        let (status, output) = try Self.run(["timeout", "60", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)",
                                             "-U", "vbench", "-d", database, "-tAc", sql],
                                            environment: ["PGPASSWORD": password])
        guard status == 0 else { throw ServerError(reason: "psql failed (exit \(status)) on \(sql): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a file of SQL with psql (a `pg_dump` fixture), stopping at the first error.
    public func psqlFile(_ path: String, database: String = "vbench") throws {
        let (status, output) = try Self.run(["timeout", "120", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)",
                                             "-U", "vbench", "-d", database, "-f", path],
                                            environment: ["PGPASSWORD": password])
        guard status == 0 else { throw ServerError(reason: "psql failed (exit \(status)) on \(path): \(output)") }
    }

    /// `pg_ctl restart`, `immediate` being a crash (no checkpoint; recovery from the WAL).
    public func restart(immediate: Bool) throws {
        let (status, output) = try Self.script(["restart", directory, immediate ? "immediate" : "fast"])
        guard status == 0 else { throw ServerError(reason: "restart failed: \(output)") }
    }

    /// Stops the server as a crash would (`immediate`), keeping its data.
    public func halt() throws {
        let (status, output) = try Self.script(["stop", directory, "immediate"])
        guard status == 0 else { throw ServerError(reason: "stop failed: \(output)") }
    }

    /// Starts it again after `halt`.
    public func resume() throws {
        let (status, output) = try Self.script(["start", directory])
        guard status == 0 else { throw ServerError(reason: "start failed: \(output)") }
    }

    /// Stops a cluster this value started and removes its folder.
    public func stop() {
        guard owned else { return }
        _ = try? Self.script(["stop", directory, "immediate"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    public struct ServerError: Error, CustomStringConvertible, Sendable {
        public var reason: String
        public var description: String { reason }
    }

    /// The package's scripts/pg-cluster.
    static let scriptPath: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/pg-cluster").path

    static func script(_ arguments: [String]) throws -> (Int32, String) {
        try run(["timeout", "300", scriptPath] + arguments)
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
        try TestCommand.run(arguments, environment: environment)
    }
}
