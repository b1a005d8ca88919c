import ArgumentParser
import FoundationEssentials
import VBenchCore
import VBenchSystem
import VBenchUplink

extension OutputOptions {
    /// Writes the record under out/runs/, prints `table` or the JSON, adds the record to the
    /// store and sends it when asked.
    func emit(_ record: RunRecord, table: String) -> ExitCode {
        let data: Data
        do { data = try record.jsonData() } catch { return fail("could not encode the record: \(error)", code: VBenchExit.error) }
        let dir = out + "/runs"
        let stamp = ISO8601Stamp.compact(record.startTime)
        let file = "\(dir)/\(stamp)-\(record.family)-\(record.device.name.replacingSlashes())-\(record.runId.uuidString.prefix(8).lowercased()).json"
        do {
            try AtomicFile.makeDirectories(dir)
            try AtomicFile.write(Array(data), to: file)
        } catch {
            return fail("could not store the record in \(dir): \(error); pass --out DIR with a writable folder", code: VBenchExit.error)
        }
        if json {
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(table)
        }
        flushStandardOutput()
        note("record: \(file)")
        if let store = GuestCLI.store {
            do { try store.add(record, to: storePath) } catch {
                return fail("the record is in \(file) but could not be added to the store: \(error)", code: VBenchExit.error)
            }
        }
        if let send = send {
            let uplink: Uplink
            do { uplink = try sender.uplink(to: send) } catch {
                return fail("the record is in \(file) but cannot be sent: \(error)", code: VBenchExit.usage)
            }
            let delivery = Delivery(uplink: uplink, spool: Spool(directory: out + "/spool"))
            do {
                let outcome = try delivery.deliver([record])
                if let failure = outcome.failure {
                    note("\(outcome.spooled) record(s) wait in \(out)/spool (\(failure)); `vbench send --to \(send)` resends them")
                } else {
                    note("sent to \(send): \(outcome.stored) stored, \(outcome.duplicates) already there")
                }
            } catch {
                return fail("the record is in \(file), but \(error)", code: VBenchExit.error)
            }
        }
        return VBenchExit.ok
    }
}
