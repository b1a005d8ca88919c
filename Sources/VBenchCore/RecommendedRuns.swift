/// How many runs a side a comparison needs, per family, as the native calibration measured it
/// (Benchmarks/calibrate-native.sh, Benchmarks/results-native-calibration-2026-12-01.md; the
/// figures are in the README): the default of `vbench run --runs`.
///
/// - mem 5: a history of 14 sessions against 2 met every goal from 4 runs a session; 5 is the
///   fewest runs a side with which one session a side can give a verdict at all (2/C(10, 5) < 0.01).
/// - blk 10, net 10: 10 % detection with one session a side was still rising at 10 runs
///   (blk 90 %, net 93 %); the run-to-run spread alone would ask 11 (blk) and 14 (net), and
///   beyond that the shift of a whole session, not the number of runs, limits what is seen.
public enum RecommendedRuns {
    public static let blk = 10
    public static let mem = 5
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
