import Foundation

/// Two JSON documents alike up to floating-point rounding: the same keys, strings, booleans and
/// array lengths, and numbers within `relativeTolerance` (the same sums taken in another order,
/// a variance from moments instead of samples). Returns the path of the first difference, or nil.
public enum ApproximateJSON {
    public static func difference(_ a: Any, _ b: Any, relativeTolerance: Double = 1e-9, path: String = "$") -> String? {
        switch (a, b) {
        case (let x as NSNumber, let y as NSNumber):
            let (p, q) = (x.doubleValue, y.doubleValue)
            let scale = max(abs(p), abs(q), 1e-300)
            return p == q || abs(p - q) <= relativeTolerance * scale ? nil : "\(path): \(p) != \(q)"
        case (let x as String, let y as String):
            return x == y ? nil : "\(path): \"\(x)\" != \"\(y)\""
        case (let x as [String: Any], let y as [String: Any]):
            guard Set(x.keys) == Set(y.keys) else { return "\(path): keys \(x.keys.sorted()) != \(y.keys.sorted())" }
            for k in x.keys.sorted() {
                if let d = difference(x[k]!, y[k]!, relativeTolerance: relativeTolerance, path: "\(path).\(k)") { return d }
            }
            return nil
        case (let x as [Any], let y as [Any]):
            guard x.count == y.count else { return "\(path): \(x.count) items != \(y.count)" }
            for (i, (p, q)) in zip(x, y).enumerated() {
                if let d = difference(p, q, relativeTolerance: relativeTolerance, path: "\(path)[\(i)]") { return d }
            }
            return nil
        case (is NSNull, is NSNull):
            return nil
        default:
            return "\(path): \(a) != \(b)"
        }
    }

    /// `difference` of two JSON texts.
    public static func difference(_ a: String, _ b: String, relativeTolerance: Double = 1e-9) throws -> String? {
        difference(try JSONSerialization.jsonObject(with: Data(a.utf8)), try JSONSerialization.jsonObject(with: Data(b.utf8)),
                   relativeTolerance: relativeTolerance)
    }
}
