/// A Tier-2 model the collector's Scorer runs over one feature row at a time (Isolation Forest, gradient-boosted
/// trees; sequence models later). Pure and immutable once built, so one instance is shared by every partition.
public protocol AnomalyModel: Sendable {
    /// How many features a row must have, in the order the model was trained on.
    var featureCount: Int { get }

    /// Anomaly score of one row: higher is more anomalous, in 0...1. A row with the wrong number of features
    /// scores NaN rather than trapping, because rows come from data.
    func score(_ row: [Double]) -> Double

    /// The model in its versioned binary file format; the matching `init(serialized:)` reads every older version.
    func serialized() -> [UInt8]
}

/// Why bytes could not be read as a model. Model files come from the store and from operators, so every defect
/// (short, garbled, foreign or newer than this build) is an error with a message, never a trap.
public struct ModelFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The bytes end before the format says they should.
        case truncated
        /// The bytes do not start with the format's magic: not this kind of model file.
        case wrongMagic
        /// Written by a newer format version than this build reads.
        case unsupportedVersion
        /// The checksum does not match: the bytes were changed after they were written.
        case checksumMismatch
        /// The bytes parse but describe an impossible model (an index out of range, a non-finite value, ...).
        case invalidContent
    }

    public let code: Code
    /// What was wrong, for logs and API responses.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
