/// Which progress updates deserve a line of their own when they go to a log file instead of a
/// terminal's live line. The lab's progress text changes every second (elapsed seconds, records
/// stored); what it says changes far less often (booting, which disk or NIC the guest measures,
/// sending). A line is due when what it says changes, at most one per `minimumGapNs`, and one
/// every `heartbeatNs` while nothing changes, so a log shows both the steps and that the run lives.
/// Pure: the caller passes the time (monotonic nanoseconds).
public struct ProgressThrottle: Sendable, Equatable {
    /// The shortest gap between two lines, whatever changed.
    public var minimumGapNs: UInt64
    /// The longest gap between two lines while updates keep coming.
    public var heartbeatNs: UInt64
    private var lastLineNs: UInt64?
    private var lastTopic: String?

    /// 15 s between lines at the least, 30 s at the most: about twenty lines for a five-minute boot.
    public init(minimumGapNs: UInt64 = 15_000_000_000, heartbeatNs: UInt64 = 30_000_000_000) {
        self.minimumGapNs = minimumGapNs
        self.heartbeatNs = max(heartbeatNs, minimumGapNs)
    }

    /// Whether `text`, offered at `nowNs`, gets a line; remembers it when it does. An update held
    /// back by the gap is not queued: the next update (the lab offers one a second) carries the
    /// newer text, and its change is still due.
    public mutating func admit(_ text: String, nowNs: UInt64) -> Bool {
        let topic = Self.topic(text)
        if let last = lastLineNs {
            let gap = nowNs >= last ? nowNs - last : 0
            guard gap >= (topic == lastTopic ? heartbeatNs : minimumGapNs) else { return false }
        }
        lastLineNs = nowNs
        lastTopic = topic
        return true
    }

    /// What a progress text says, its counters aside: every run of digits becomes `#`
    /// (`boot 0: 41 s, 2 records stored; run ide on /dev/sda` → `boot #: # s, # records stored; run ide on /dev/sda`).
    public static func topic(_ text: String) -> String {
        var out = ""
        var inDigits = false
        for c in text {
            if c.isASCII && c.isNumber {
                if !inDigits { out.append("#") }
                inDigits = true
            } else {
                out.append(c)
                inDigits = false
            }
        }
        return out
    }
}
