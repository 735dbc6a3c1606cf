// Vigil agent spool: the one error type of the module.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Every failure the spool reports. A struct with a nested `Code` (not a public enum) so new codes can be added
/// without breaking callers that switch over them (the `ServiceGroupError` pattern, STYLE.md §5).
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in a form callers can branch on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidConfiguration
            case io
            case locked
            case closed
            case recordTooLarge
            case nonMonotonicID
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// `SpoolConfiguration.validate()` found problems; the message lists all of them.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A system call on the spool directory failed (disk full, permissions, I/O error). `systemError` has the errno.
        public static let io = Code(.io)
        /// Another `Spool` (in this or another process) holds the directory's lock file.
        public static let locked = Code(.locked)
        /// The spool was closed; appends waiting for space are resumed with this error.
        public static let closed = Code(.closed)
        /// The payload does not fit in one segment (`SpoolConfiguration.maxPayloadBytes`).
        public static let recordTooLarge = Code(.recordTooLarge)
        /// The record id is not greater than `Spool.lastRecordID`: ids must increase strictly.
        public static let nonMonotonicID = Code(.nonMonotonicID)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation, with the path or id involved.
    public var message: String
    /// The `errno` of the failed system call, for `.io` errors.
    public var systemError: Int32?

    public init(code: Code, message: String, systemError: Int32? = nil) {
        self.code = code
        self.message = message
        self.systemError = systemError
    }

    /// Whether trying the same call again later can succeed: I/O errors (a full disk gets freed) can, a record that is
    /// too large or an id that went backwards never will.
    public var isRetryable: Bool {
        code == .io
    }

    public var description: String {
        guard let systemError else {
            return "SpoolError.\(code): \(message)"
        }
        return "SpoolError.\(code): \(message) (errno \(systemError): \(String(cString: strerror(systemError))))"
    }

    /// An `.io` error carrying the current `errno`.
    static func io(_ operation: String, path: String, errno code: Int32 = errno) -> SpoolError {
        SpoolError(code: .io, message: "\(operation) failed for \(path)", systemError: code)
    }
}
