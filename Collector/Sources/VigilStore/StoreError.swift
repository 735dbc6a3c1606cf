// Vigil collector store: the module's one error type (STYLE.md §8.5).

/// An error from a `BatchStore`, with a classified code and a context message.
///
/// The receiver maps `isRetryable` errors to 503 + `Retry-After` (the agent keeps the batch in its spool and retries)
/// and the others to a permanent rejection (400), so a bad batch does not block the agent's spool forever.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case invalidBatch, constraintViolation, connectionFailed, queryFailed, migrationFailed, busy, closed, notFound, cancelled
        }
        let base: Base

        /// The batch itself is malformed (empty agent id, negative sequence).
        public static let invalidBatch = Code(base: .invalidBatch)
        /// A row broke a table constraint (NaN or non-positive price, high < low, invalid features JSON).
        public static let constraintViolation = Code(base: .constraintViolation)
        /// Could not connect, or the connection broke.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// Any other database error.
        public static let queryFailed = Code(base: .queryFailed)
        public static let migrationFailed = Code(base: .migrationFailed)
        /// Lock contention outlasted the busy timeout (SQLite) or a serialization failure/deadlock (PostgreSQL).
        public static let busy = Code(base: .busy)
        /// The store was closed.
        public static let closed = Code(base: .closed)
        /// A referenced row (an alert, for feedback) does not exist.
        public static let notFound = Code(base: .notFound)
        /// The calling task was cancelled while waiting for a database connection; nothing was done.
        public static let cancelled = Code(base: .cancelled)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// True when retrying the same batch later may succeed; false when the batch itself is bad.
    public var isRetryable: Bool {
        switch code.base {
        case .connectionFailed, .busy, .queryFailed, .closed, .cancelled: true
        case .invalidBatch, .constraintViolation, .migrationFailed, .notFound: false
        }
    }

    public var description: String { "StoreError(\(code)): \(message)" }
}
