import Foundation

/// Retries of one request within a poll: exponential backoff with full jitter, a cap, and `Retry-After`.
///
/// Full jitter (delay = random(0, min(cap, initial × multiplier^(attempt-1)))) is what AWS's "Exponential Backoff
/// and Jitter" analysis recommends: many agents that failed together do not retry together. Only retryable failures
/// are retried (`FeedError.isRetryable`: transport errors, timeouts, 429, 5xx); a server's `Retry-After` replaces the
/// computed delay when it is within `maxRetryAfterSeconds`, and a longer one ends the retries (the feed tries again on
/// its next scheduled poll instead of holding the poll for minutes).
public struct RetryPolicy: Codable, Sendable, Hashable {
    /// Key `maxAttempts`. Attempts per request including the first; 1 disables retries. Default 3.
    public var maxAttempts: Int
    /// Key `initialBackoffSeconds`. Upper bound of the first retry's delay. Default 0.5.
    public var initialBackoffSeconds: Double
    /// Key `maxBackoffSeconds`. Cap of any computed delay. Default 30.
    public var maxBackoffSeconds: Double
    /// Key `multiplier`. Growth of the delay bound per attempt. Default 2.
    public var multiplier: Double
    /// Key `maxRetryAfterSeconds`. The longest `Retry-After` honoured within a poll. Default 60.
    public var maxRetryAfterSeconds: Double

    public static let `default` = RetryPolicy()

    public init(
        maxAttempts: Int = 3,
        initialBackoffSeconds: Double = 0.5,
        maxBackoffSeconds: Double = 30,
        multiplier: Double = 2,
        maxRetryAfterSeconds: Double = 60
    ) {
        self.maxAttempts = maxAttempts
        self.initialBackoffSeconds = initialBackoffSeconds
        self.maxBackoffSeconds = maxBackoffSeconds
        self.multiplier = multiplier
        self.maxRetryAfterSeconds = maxRetryAfterSeconds
    }

    public init(from decoder: any Decoder) throws {
        try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = RetryPolicy()
        maxAttempts = try container.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? defaults.maxAttempts
        initialBackoffSeconds = try container.decodeIfPresent(Double.self, forKey: .initialBackoffSeconds) ?? defaults.initialBackoffSeconds
        maxBackoffSeconds = try container.decodeIfPresent(Double.self, forKey: .maxBackoffSeconds) ?? defaults.maxBackoffSeconds
        multiplier = try container.decodeIfPresent(Double.self, forKey: .multiplier) ?? defaults.multiplier
        maxRetryAfterSeconds = try container.decodeIfPresent(Double.self, forKey: .maxRetryAfterSeconds) ?? defaults.maxRetryAfterSeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxAttempts, initialBackoffSeconds, maxBackoffSeconds, multiplier, maxRetryAfterSeconds
    }

    /// The delay before attempt `attempt + 1` after attempt `attempt` (1-based) failed with `error`, or `nil` when the
    /// request must not be retried.
    public func delay(
        afterAttempt attempt: Int,
        error: FeedError,
        using generator: inout some RandomNumberGenerator
    ) -> Duration? {
        guard error.isRetryable, attempt < maxAttempts else { return nil }
        if let retryAfter = error.retryAfterSeconds {
            guard retryAfter <= maxRetryAfterSeconds else { return nil }
            return Duration.seconds(clamping: retryAfter)
        }
        let exponent = Double(max(0, attempt - 1))
        let bound = min(maxBackoffSeconds, initialBackoffSeconds * pow(max(multiplier, 1), exponent))
        guard bound > 0 else { return .zero }
        return Duration.seconds(clamping: Double.random(in: 0...bound, using: &generator))
    }

    /// Every problem with the values, each prefixed with `path`.
    public func validate(path: String) -> [String] {
        var problems: [String] = []
        if maxAttempts < 1 { problems.append("\(path).maxAttempts: must be at least 1, got \(maxAttempts)") }
        for (key, value) in [
            ("initialBackoffSeconds", initialBackoffSeconds), ("maxBackoffSeconds", maxBackoffSeconds),
            ("maxRetryAfterSeconds", maxRetryAfterSeconds),
        ] where !(value >= 0 && value.isFinite) {
            problems.append("\(path).\(key): must be a finite number >= 0, got \(value)")
        }
        if !(multiplier >= 1 && multiplier.isFinite) { problems.append("\(path).multiplier: must be >= 1, got \(multiplier)") }
        return problems
    }

    /// Parses a `Retry-After` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Returns seconds from
    /// `wallMillis`, never negative; `nil` when absent or unparseable.
    public static func parseRetryAfter(_ value: String?, wallMillis: Int64) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds.isFinite { return max(0, seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, date.timeIntervalSince1970 - Double(wallMillis) / 1000)
    }
}

/// SplitMix64: a tiny seeded generator for backoff jitter, so a test can make the jitter reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
