import FoundationEssentials

public enum ISO8601Stamp {
    /// `20261127T130405Z`, for file names.
    public static func compact(_ date: Date) -> String {
        let s = date.formatted(.iso8601)
        return String(s.filter { $0 != "-" && $0 != ":" })
    }
}
