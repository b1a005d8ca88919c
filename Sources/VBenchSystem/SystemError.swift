import SystemPackage

/// A failed system call: which operation, on what, and the errno.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The C function or operation, e.g. `io_submit`, `open`.
    public var operation: String
    /// The path or object the operation was applied to, when there is one.
    public var subject: String?
    public var errno: Errno

    public init(_ operation: String, _ subject: String? = nil, errno: Errno) {
        self.operation = operation
        self.subject = subject
        self.errno = errno
    }

    public var description: String {
        let on = subject.map { " on \($0)" } ?? ""
        return "\(operation)\(on) failed: \(errno) (errno \(errno.rawValue))"
    }
}
