import NIOCore
import NIOPosix
import Synchronization
import VBenchCore
import VBenchStoreAPI

/// Group commit: records that arrive while a transaction is being written wait and are written
/// together in the next one, so many concurrent guests share one fsync. Each record's promise is
/// fulfilled only after the transaction holding it has committed; the ack follows that.
final class GroupCommitter: Sendable {
    typealias Item = (record: RunRecord, receipt: Receipt, promise: EventLoopPromise<StoreOutcome>)
    private let state = Mutex<(pending: [Item], writing: Bool)>(([], false))
    private let store: any RunStore
    private let pool: NIOThreadPool
    /// Most records in one transaction.
    let maxBatch: Int

    init(store: any RunStore, pool: NIOThreadPool, maxBatch: Int = 512) {
        self.store = store
        self.pool = pool
        self.maxBatch = maxBatch
    }

    func submit(_ record: RunRecord, receipt: Receipt, promise: EventLoopPromise<StoreOutcome>) {
        let startWriter = state.withLock { s -> Bool in
            s.pending.append((record, receipt, promise))
            if s.writing { return false }
            s.writing = true
            return true
        }
        if startWriter {
            pool.submit { [self] state in
                guard case .active = state else { failAll(NIOThreadPoolError.ThreadPoolInactive()); return }
                drain()
            }
        }
    }

    /// Writes batches until nothing is pending.
    private func drain() {
        while true {
            let batch = state.withLock { s -> [Item]? in
                if s.pending.isEmpty { s.writing = false; return nil }
                let b = Array(s.pending.prefix(maxBatch))
                s.pending.removeFirst(b.count)
                return b
            }
            guard let batch else { return }
            do {
                let outcomes = try store.store(batch: batch.map { ($0.record, $0.receipt) })
                for (item, outcome) in zip(batch, outcomes) { item.promise.succeed(outcome) }
            } catch let unavailable as StoreUnavailable {
                // The store has retried already; every record of the batch goes back to its sender.
                for item in batch { item.promise.fail(unavailable) }
            } catch {
                // One bad record must not fail its neighbours: retry each alone.
                var unavailable: StoreUnavailable?
                for item in batch {
                    if let unavailable { item.promise.fail(unavailable); continue }
                    do { item.promise.succeed(try store.store(item.record, receipt: item.receipt)) } catch {
                        unavailable = error as? StoreUnavailable
                        item.promise.fail(error)
                    }
                }
            }
        }
    }

    private func failAll(_ error: any Error) {
        let items = state.withLock { s -> [Item] in defer { s.pending.removeAll(); s.writing = false }; return s.pending }
        for item in items { item.promise.fail(error) }
    }
}
