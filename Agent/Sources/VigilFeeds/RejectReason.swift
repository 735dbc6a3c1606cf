/// Why a record was rejected, as the `reason` label of `vigil_agent_normalizer_rejects_total` and
/// `vigil_agent_deadletter_records_total` and the `reason` field of a dead letter. A closed set, so metric
/// cardinality stays bounded.
public enum RejectReason: String, Sendable, Hashable, CaseIterable, Codable {
    /// A required field was empty or absent (the sp500 rows with an empty `open`).
    case missingField = "missing_field"
    /// A field was present but not a number / date, or the record had the wrong shape.
    case unparseable
    /// A price or the volume is NaN or ±infinity.
    case nanOrInfinite = "nan_or_infinite"
    /// open, high, low or close ≤ 0.
    case nonPositivePrice = "non_positive_price"
    /// high < low.
    case highBelowLow = "high_below_low"
    /// open outside [low, high].
    case openOutsideRange = "open_outside_range"
    /// close outside [low, high].
    case closeOutsideRange = "close_outside_range"
    /// volume < 0.
    case negativeVolume = "negative_volume"
    /// Same timestamp as the symbol's previous accepted bar.
    case duplicateTimestamp = "duplicate_timestamp"
    /// Older than the symbol's previous accepted bar.
    case outOfOrder = "out_of_order"
    /// Symbol not in the configured allow-list.
    case unknownSymbol = "unknown_symbol"
    /// Bar opens further in the future than the configured skew allows (a clock or timezone bug upstream).
    case futureTimestamp = "future_timestamp"
    /// Bar interval is not positive.
    case invalidInterval = "invalid_interval"
}
