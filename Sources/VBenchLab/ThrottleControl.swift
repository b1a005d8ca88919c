import Foundation
import VBenchCore
import VBenchStore
import VBenchStoreAPI
import VBenchSystem

/// The host side of a throttled boot: waits for the reference disk's record to reach the
/// store, limits each throttled disk to its fraction of that disk's median IOPS through QMP,
/// checks the limit took, and tells the guest on the control port (`d1=22500 d2=17500`, or
/// `failed …` so the guest does not wait for nothing). Driven from the boot's once-a-second tick.
final class ThrottleControl {
    enum State { case waitingForGuest, waitingForReference, done, failed }

    let throttle: LabMatrix.Throttle
    let workload: String
    let listener: TCPSocket
    let qmpPath: String
    let runTags: [String: String]
    private(set) var state = State.waitingForGuest
    private var control: TCPSocket?
    /// Disk index → the IOPS limit set.
    private(set) var applied: [Int: Int] = [:]
    private(set) var referenceIOPS: Double?
    private(set) var failure: String?

    init(throttle: LabMatrix.Throttle, workload: String, controlPath: String, qmpPath: String, runTags: [String: String]) throws {
        self.throttle = throttle
        self.workload = workload
        self.qmpPath = qmpPath
        self.runTags = runTags
        try? FileManager.default.removeItem(atPath: controlPath)
        listener = try TCPSocket.listenUnix(path: controlPath)
    }

    /// One step; `log` gets what happened.
    func tick(store: any RunStore, log: (String) -> Void) {
        switch state {
        case .waitingForGuest:
            // QEMU connects to the control socket as soon as it starts.
            if let c = try? listener.accept(timeoutMs: 0) {
                control = c
                state = .waitingForReference
            }
        case .waitingForReference:
            var query = RunQuery(tags: runTags)
            query.tags["lab.slot"] = "\(throttle.reference)"
            guard let summary = try? store.runs(query).first, let record = try? store.record(summary.runId) else { return }
            // The median of the reference's repetitions: one slow repetition does not move the limits.
            guard let iops = record.workloads.first(where: { $0.name == workload })?.summary[Metric.iops.key]?.median, iops >= 1 else {
                fail("the reference disk \(throttle.reference) has no \(workload) IOPS in its record", log: log)
                return
            }
            referenceIOPS = iops
            do {
                let qmp = try QMPClient(path: qmpPath)
                defer { qmp.close() }
                for (index, fraction) in throttle.limited {
                    let limit = max(1, Int((iops * fraction).rounded()))
                    try qmp.setIOPSLimit(device: "d\(index)", iops: limit)
                    guard let now = try qmp.iopsLimit(device: "d\(index)"), now == limit else {
                        throw LabError("QEMU did not keep the limit of d\(index) (query-block)")
                    }
                    applied[index] = limit
                }
            } catch {
                fail("setting the throttles: \(error)", log: log)
                return
            }
            let line = throttle.limited.map { "d\($0.index)=\(applied[$0.index]!)" }.joined(separator: " ")
            send(line + "\n")
            log("throttles from disk \(throttle.reference)'s \(formatFixed(iops, digits: 0)) IOPS (\(workload)): \(line)")
            state = .done
        case .done, .failed:
            return
        }
    }

    private func fail(_ why: String, log: (String) -> Void) {
        failure = why
        state = .failed
        send("failed\n")
        log("throttle: \(why)")
    }

    private func send(_ text: String) {
        guard let c = control else { return }
        _ = Array(text.utf8).withUnsafeBytes { c.sendAll($0.baseAddress!, $0.count) }
    }

    func close() {
        control?.close()
        listener.close()
    }
}
