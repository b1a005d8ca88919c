import Foundation
import Testing
import VBenchCore
import VBenchTestSupport

/// `vbench report` and `vbench capacity` end to end on a records file.
@Suite struct ReportCLITests {
    static func recordsFile(_ dir: ScratchFolder) throws -> String {
        let lat: [UInt64] = (1...100).map { UInt64($0) * 20_000 }
        let path = dir.path + "/records.json"
        try CompareCLITests.write([
            Synthetic.record(iops: Synthetic.around(80_000, 3), role: .native, latencyNs: lat.map { $0 / 4 }),
            Synthetic.record(iops: Synthetic.around(25_000, 3), latencyNs: lat),
            Synthetic.record(iops: Synthetic.around(4_000, 3), driver: "ata_piix", latencyNs: lat.map { $0 * 6 }),
        ], to: path)
        return path
    }

    @Test func everyFormatFromARecordsFile() throws {
        let dir = try ScratchFolder()
        let file = try Self.recordsFile(dir)
        let text = try Binary.run(["report", "--from", file])
        #expect(text.status == 0 && text.stdout.contains("randread-4k-qd32 IOPS: virtio_blk 31 %, ata_piix 5 % of native"), "\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("Advice:"), "the probe's advice for the emulated disk")
        let html = dir.path + "/report.html"
        let h = try Binary.run(["report", "--from", file, "--format", "html", "--output", html])
        #expect(h.status == 0 && h.stdout.isEmpty && h.stderr.contains("written to"))
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("data-kind=\"ratio-bars\"") && page.contains("data-kind=\"latency-curves\""))
        let json = try Binary.run(["report", "--from", file, "--format", "json"])
        #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["schemaVersion"] as? Int == 1)
        let csv = try Binary.run(["report", "--from", file, "--format", "csv"])
        #expect(csv.stdout.hasPrefix("FAMILY,WORKLOAD,DEVICE,CLASS,METRIC,VALUE"))
        // Filters apply to files too; nothing selected is an error, a bad format a usage error.
        let none = try Binary.run(["report", "--from", file, "--kernel", "9.9"])
        #expect(none.status == 1 && none.stderr.contains("no runs match"))
        #expect(try Binary.run(["report", "--from", file, "--format", "pdf"]).status == 64)
    }

    /// A costly configuration in the records' audits is shown the same from a records file and
    /// from a store the file was imported into; records without audits show none.
    @Test func reportsShowTheAuditFromAFileAndFromAStore() throws {
        let dir = try ScratchFolder()
        var costly = Synthetic.record(iops: Synthetic.around(25_000, 3))
        costly.environment.audit = GuestAudit(distribution: "debian", family: .debian, findings: [
            AuditFinding(check: "scheduler", subject: "vda", severity: .warning, summary: "vda (virtio_blk) uses mq-deadline",
                         evidence: [], affects: ["blk:vda"]),
        ])
        let plain = Synthetic.record(iops: Synthetic.around(26_000, 3))
        let file = dir.path + "/records.json"
        try CompareCLITests.write([costly, plain, Synthetic.record(iops: Synthetic.around(80_000, 3), role: .native)], to: file)
        let store = dir.path + "/vbench.sqlite"
        #expect(try Binary.run(["import", "--store", store, file]).status == 0)
        for format in ["text", "markdown", "csv"] {
            let fromFile = try Binary.run(["report", "--from", file, "--format", format])
            let fromStore = try Binary.run(["report", "--store", store, "--format", format])
            #expect(fromFile.status == 0 && fromStore.status == 0, "\(fromFile.stderr)\(fromStore.stderr)")
            #expect(fromFile.stdout.contains("scheduler vda — 1 of 2 runs"), "\(format): \(fromFile.stdout)")
            // The first line (text) or lines (Markdown) name the selection.
            #expect(fromFile.stdout.split(separator: "\n").dropFirst(3) == fromStore.stdout.split(separator: "\n").dropFirst(3), "\(format)")
        }
        let html = try Binary.run(["report", "--from", file, "--format", "html"])
        #expect(html.stdout.contains("<div class=\"costly\" role=\"note\">") && html.stdout.contains("scheduler vda — 1 of 2 runs"))
        let none = try Binary.run(["report", "--from", file, "--role", "native"])
        #expect(none.status == 0 && !none.stdout.contains("⚠"), "\(none.stdout)")
    }

    @Test func capacityAnswersWithItsBindingResource() throws {
        let dir = try ScratchFolder()
        let file = try Self.recordsFile(dir)
        let r = try Binary.run(["capacity", "--from", file, "--need", "blk.randread.iops=5000", "--host-cores", "2", "--p99-max", "5ms"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("blk.randread.iops=5000 on virtio_blk: 10 guests; cpu binds first"), "\(r.stdout)")
        #expect(r.stdout.contains("blk.randread.iops=5000 on ata_piix: 0 guests; guest binds first"))
        #expect(r.stdout.contains("Model and assumptions:"))
        let json = try Binary.run(["capacity", "--from", file, "--need", "blk.randread.iops=5000", "--host-cores", "2", "--format", "json"])
        #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["answers"] != nil)
        for (args, message) in [(["--need", "blk.randread.iops"], "expected family.workload.metric=VALUE"),
                                (["--need", "blk.randread.iops=1", "--p99-max", "fast"], "--p99-max must be a duration"),
                                ([], "--need is required")] {
            let bad = try Binary.run(["capacity", "--from", file] + args)
            #expect(bad.status == 64 && bad.stderr.contains(message), "\(args): \(bad.stderr)")
        }
        let nothing = try Binary.run(["capacity", "--from", file, "--need", "net.stream.bps=1e9"])
        #expect(nothing.status == 1 && nothing.stderr.contains("no net workload"))
    }

    /// Without --host-cores the host's cores are the native run's CPUs, where it recorded them:
    /// an imported fio or iperf3 result says 0, and then this machine's count stands in.
    @Test func hostCoresComeFromANativeRunThatRecordedThem() throws {
        let dir = try ScratchFolder()
        let lat: [UInt64] = (1...100).map { UInt64($0) * 20_000 }
        for (cpus, expected) in [(16, 16), (0, ProcessInfo.processInfo.activeProcessorCount)] {
            var native = Synthetic.record(iops: Synthetic.around(80_000, 3), role: .native, latencyNs: lat)
            native.environment.onlineCpus = cpus
            let path = dir.path + "/cpus-\(cpus).json"
            try CompareCLITests.write([native, Synthetic.record(iops: Synthetic.around(25_000, 3), latencyNs: lat)], to: path)
            let r = try Binary.run(["capacity", "--from", path, "--need", "blk.randread.iops=5000", "--format", "json"])
            let plan = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            let plans = (plan?["plans"] as? [[String: Any]])?.first ?? plan
            #expect((plans?["hostCores"] as? Int) == expected, "native onlineCpus \(cpus): \(r.stdout) \(r.stderr)")
        }
    }
}

/// The HTML report in a real browser: Debian's chromium, headless, parses the page (the DOM it
/// serializes has the SVG charts) and paints it (the screenshot has the class colours of the
/// bars). Skipped without chromium or python3 (scripts/deps installs both).
@Suite struct ReportInChromiumTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs a program bounded by SIGKILL after `timeout` s (children of test threads may block SIGTERM).
    static func run(_ exe: String, _ args: [String], timeout: Int = 120) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["-s", "KILL", "\(timeout)", exe] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Counts pixels of each colour (hex RGB) in a PNG: zlib-inflated scanlines, filters undone.
    static let pixelCounter = #"""
    import sys, zlib, struct
    data = open(sys.argv[1], "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
        if kind == b"IHDR": w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT": idat += body
    bpp = {2: 3, 6: 4}[ctype]
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line); prev = line
    want = {tuple(int(x[i:i + 2], 16) for i in (0, 2, 4)): x for x in sys.argv[2:]}
    counts = dict.fromkeys(sys.argv[2:], 0)
    for line in rows:
        for i in range(0, stride, bpp):
            k = want.get((line[i], line[i + 1], line[i + 2]))
            if k: counts[k] += 1
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    """#

    @Test(.enabled(if: chromium != nil && python != nil, "CHROMIUM TEST SKIPPED: needs chromium and python3"))
    func htmlReportRendersWithCharts() throws {
        let dir = try ScratchFolder()
        let file = try ReportCLITests.recordsFile(dir)
        let html = dir.path + "/report.html"
        #expect(try Binary.run(["report", "--from", file, "--format", "html", "--output", html]).status == 0)
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(dir.path)/profile"]
        // The DOM after parsing: SVG elements, not text.
        let (domStatus, dom) = try Self.run(Self.chromium!, flags + ["--dump-dom", "file://\(html)"])
        #expect(domStatus == 0)
        #expect(dom.contains("<svg") && dom.components(separatedBy: "class=\"bar\"").count - 1 == 3, "native, virtio_blk, ata_piix bars")
        #expect(dom.contains("class=\"whisker\"") && dom.components(separatedBy: "class=\"curve\"").count - 1 == 3)
        // The painted page: a screenshot with the bars' colours in it.
        let png = dir.path + "/report.png"
        let (shotStatus, _) = try Self.run(Self.chromium!, flags + ["--window-size=1000,900", "--screenshot=\(png)", "file://\(html)"])
        #expect(shotStatus == 0 && FileManager.default.fileExists(atPath: png))
        let script = dir.path + "/count.py"
        try Self.pixelCounter.write(toFile: script, atomically: true, encoding: .utf8)
        let (countStatus, counts) = try Self.run(Self.python!, [script, png, "15803d", "c2410c", "6b7280"])
        #expect(countStatus == 0, "\(counts)")
        var pixels: [String: Int] = [:]
        for part in counts.split(whereSeparator: \.isWhitespace) {
            let kv = part.split(separator: "=")
            if kv.count == 2 { pixels[String(kv[0])] = Int(kv[1]) }
        }
        // Each bar is hundreds of pixels of its class colour (paravirtual, emulated, native).
        #expect((pixels["15803d"] ?? 0) > 500 && (pixels["c2410c"] ?? 0) > 200 && (pixels["6b7280"] ?? 0) > 500, "\(pixels)")
    }

    /// A memory-only selection, measured here (guest-role and native runs of `--device mem`):
    /// the bandwidth bars of every STREAM kernel against native and the chase latency curve.
    @Test(.enabled(if: chromium != nil, "CHROMIUM TEST SKIPPED: needs chromium"))
    func memoryReportHasBandwidthBarsAndTheChaseCurve() throws {
        let dir = try ScratchFolder()
        for native in [false, true] {
            let r = try Binary.run(["run", "--device", "mem", "--size", "16m", "--runs", "1", "--out", dir.path] + (native ? ["--native"] : []))
            #expect(r.status == 0, "\(r.stderr)")
        }
        let html = dir.path + "/mem.html"
        #expect(try Binary.run(["report", "--store", dir.path + "/vbench.sqlite", "--format", "html", "--output", html]).status == 0)
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(dir.path)/profile"]
        let (status, dom) = try Self.run(Self.chromium!, flags + ["--dump-dom", "file://\(html)"])
        #expect(status == 0)
        #expect(dom.contains("data-kind=\"memory-bandwidth\"") && dom.contains("data-kind=\"chase-latency\""))
        // copy, scale, add, triad: a guest bar and a native bar each.
        #expect(dom.components(separatedBy: "class=\"bar\"").count - 1 >= 8, "\(dom.prefix(2000))")
        #expect(dom.components(separatedBy: "class=\"curve\"").count - 1 == 2)
        #expect(dom.contains("% of native)"))
    }
}
