import Glibc

/// Runs `count` OS threads (pthreads) with the same body and waits for all of them.
/// Each benchmark job gets a thread of its own, as fio's `thread` option does.
public enum ThreadGroup {
    private final class Context: @unchecked Sendable {
        let index: Int
        let body: @Sendable (Int) -> Void
        init(index: Int, body: @escaping @Sendable (Int) -> Void) {
            self.index = index
            self.body = body
        }
    }

    /// Starts `count` threads running `body(index)`, calls `whileRunning` about every
    /// `pollIntervalNs` until all have finished, then joins them.
    /// The corresponding C functions are `pthread_create` and `pthread_join`.
    public static func run(
        count: Int,
        pollIntervalNs: UInt64 = 250_000_000,
        whileRunning: () -> Void = {},
        body: @escaping @Sendable (Int) -> Void
    ) throws(SystemError) {
        let finished = FinishedCounter()
        var threads: [pthread_t] = []
        for index in 0..<count {
            let context = Context(index: index) { i in
                body(i)
                finished.increment()
            }
            let unmanaged = Unmanaged.passRetained(context)
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                guard let raw else { return nil }
                let context = Unmanaged<Context>.fromOpaque(raw).takeRetainedValue()
                context.body(context.index)
                return nil
            }, unmanaged.toOpaque())
            guard rc == 0 else {
                unmanaged.release()
                for t in threads { pthread_join(t, nil) }
                throw SystemError("pthread_create", "job \(index)", errno: .init(rawValue: rc))
            }
            threads.append(thread)
        }
        // Check for the end every 10 ms (a short run is not held back), report every poll interval.
        var sinceReport: UInt64 = 0
        while finished.value < count {
            Clock.sleep(nanoseconds: 10_000_000)
            sinceReport += 10_000_000
            if sinceReport >= pollIntervalNs {
                sinceReport = 0
                whileRunning()
            }
        }
        for t in threads { pthread_join(t, nil) }
    }
}

import Synchronization

/// A counter threads bump when they end.
final class FinishedCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .releasing) }
    var value: Int { count.load(ordering: .acquiring) }
}

extension ThreadGroup {
    private final class Detached: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts a thread that runs `body` and is never joined (an accept loop).
    /// The corresponding C functions are `pthread_create` and `pthread_detach`.
    public static func detached(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let unmanaged = Unmanaged.passRetained(Detached(body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<Detached>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, unmanaged.toOpaque())
        guard rc == 0 else {
            unmanaged.release()
            throw SystemError("pthread_create", "detached thread", errno: .init(rawValue: rc))
        }
        pthread_detach(thread)
    }
}
