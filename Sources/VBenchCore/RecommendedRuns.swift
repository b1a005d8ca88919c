/// How many runs a side a comparison needs, per family, as the native calibration measured it
/// (Benchmarks/calibrate-native.sh; the figures and the file are in the README): the default of
/// `vbench run --runs`.
public enum RecommendedRuns {
    public static let blk = 10
    public static let mem = 10
    public static let net = 10

    /// For `--device blk|net|mem|all` (all: the largest, one run measures every family).
    public static func forDevice(_ device: String) -> Int {
        switch device {
        case "blk": blk
        case "mem": mem
        case "net": net
        default: max(blk, mem, net)
        }
    }
}
