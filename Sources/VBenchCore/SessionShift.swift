/// How far a whole session of runs (one `vbench run --runs N`, one `runs.group`) moves on this
/// machine beyond what its runs predict, learned from earlier sessions of the same machine,
/// device and workload.
///
/// Neighbouring sessions are compared, not every session with the mean of all: a machine's level
/// wanders (a neighbour's load, the host's state), and the mean square successive difference
/// (von Neumann, Kent, Bellinson & Hart 1941, "The mean square successive difference", Ann Math
/// Stat 12:153–162) measures the shift from one session to the next without the slow wander.
/// For time-ordered session means mᵢ with their runs' variances of the mean vᵢ,
/// E[(mᵢ₊₁ − mᵢ)²] = 2σ² + vᵢ + vᵢ₊₁, so σ² = mean((mᵢ₊₁ − mᵢ)² − vᵢ − vᵢ₊₁) / 2.
/// A comparison of one session against another (a kernel upgrade with one session a side) has
/// 2σ² more variance than its runs show; `compare` adds it to the test when history exists.
public struct SessionShift: Sendable, Equatable, Codable {
    /// Sessions and neighbouring pairs the estimate comes from.
    public var sessions: Int
    public var pairs: Int
    /// σ relative to the level (≈ the coefficient of variation of a session's level), 0 when
    /// neighbouring sessions differ no more than their runs predict.
    public var relativeSD: Double

    public init(sessions: Int, pairs: Int, relativeSD: Double) {
        self.sessions = sessions
        self.pairs = pairs
        self.relativeSD = relativeSD
    }

    /// `sessions`: each session's run means (its runs' values of one metric), in time order.
    /// Sessions with fewer than two runs are skipped (their own spread is unknown). nil without
    /// at least two neighbouring usable sessions.
    public static func estimate(_ sessions: [[Double]]) -> SessionShift? {
        let usable = sessions.filter { $0.count >= 2 && $0.allSatisfy(\.isFinite) }
        guard usable.count >= 2 else { return nil }
        let level = Significance.mean(usable.map(Significance.mean))
        guard level != 0 else { return nil }
        // Relative scale: each run mean over the overall level.
        let scaled = usable.map { $0.map { $0 / level } }
        let means = scaled.map(Significance.mean)
        let varianceOfMean = scaled.map { Significance.variance($0) / Double($0.count) }
        var sum = 0.0
        for i in 1..<scaled.count {
            let d = means[i] - means[i - 1]
            sum += d * d - varianceOfMean[i] - varianceOfMean[i - 1]
        }
        let pairs = scaled.count - 1
        return SessionShift(sessions: scaled.count, pairs: pairs, relativeSD: max(0, sum / Double(2 * pairs)).squareRoot())
    }
}
