import CVBenchShims
import SystemPackage

/// A NIC's queue channels as `ethtool -l` shows them (ETHTOOL_GCHANNELS).
public struct NICChannels: Sendable, Equatable {
    public var maxRx: Int, maxTx: Int, maxCombined: Int
    public var rx: Int, tx: Int, combined: Int

    public init(maxRx: Int, maxTx: Int, maxCombined: Int, rx: Int, tx: Int, combined: Int) {
        self.maxRx = maxRx; self.maxTx = maxTx; self.maxCombined = maxCombined
        self.rx = rx; self.tx = tx; self.combined = combined
    }

    /// Asks the driver of `interface`. The corresponding C call is
    /// `ioctl(fd, SIOCETHTOOL, {ETHTOOL_GCHANNELS})` on an AF_INET datagram socket (no traffic).
    public static func of(_ interface: String) throws(SystemError) -> NICChannels {
        var mr: UInt32 = 0, mt: UInt32 = 0, mc: UInt32 = 0, r: UInt32 = 0, t: UInt32 = 0, c: UInt32 = 0
        let rc = vbench_ethtool_channels(interface, &mr, &mt, &mc, &r, &t, &c)
        guard rc == 0 else { throw SystemError("ioctl(SIOCETHTOOL, ETHTOOL_GCHANNELS)", interface, errno: Errno(rawValue: -rc)) }
        return NICChannels(maxRx: Int(mr), maxTx: Int(mt), maxCombined: Int(mc), rx: Int(r), tx: Int(t), combined: Int(c))
    }

    /// `max_rx max_tx max_combined rx tx combined`, the form a recorded tree keeps.
    public var recordedForm: String { "\(maxRx) \(maxTx) \(maxCombined) \(rx) \(tx) \(combined)" }

    /// Parses `recordedForm`.
    public init?(recordedForm text: String) {
        let v = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        guard v.count == 6 else { return nil }
        self.init(maxRx: v[0], maxTx: v[1], maxCombined: v[2], rx: v[3], tx: v[4], combined: v[5])
    }
}
