import FoundationEssentials
import VBenchCore
import VBenchGuestCLI
import VBenchPostgres
import VBenchStore
import VBenchStoreAPI
import VBenchUplink
import VBenchUplinkTLS

/// `vbench run`'s store: the SQLite file or PostgreSQL URL of `--store` (the guest binary has none).
struct StoreForRuns: LocalRecordStore {
    func add(_ record: RunRecord, to location: String) throws {
        let store = try RunStores.open(try StoreLocation(location), create: true)
        defer { store.close() }
        let env = record.environment
        _ = try store.store(record, receipt: Receipt(peer: "local", receivedAt: Date(), collectorHost: env.hostname, collectorKernel: env.kernelRelease))
    }

    func records(tagged key: String, _ value: String, in location: String) throws -> [RunRecord] {
        let store = try RunStores.open(try StoreLocation(location), create: false)
        defer { store.close() }
        return try store.records(RunQuery(tags: [key: value]))
    }
}

/// TLS for senders, by NIOSSL (the guest binary has none).
struct TLSForSenders: SenderTLSLoader {
    func load(trustedCA: String?, certificate: String?, privateKey: String?) throws -> any SenderTLS {
        try NIOSSLSenderTLS(trustedCA: trustedCA, certificate: certificate, privateKey: privateKey)
    }
}
