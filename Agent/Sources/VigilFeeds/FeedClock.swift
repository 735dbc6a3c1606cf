import Foundation

/// Time as the feeds see it: a monotonic clock for schedules, backoff, rate limits and the circuit breaker, plus the
/// wall clock for the few things that are about calendar time (whether a bar is complete, dead-letter timestamps).
///
/// Injected so that tests run retries, Retry-After waits, breaker open periods and replay pacing without sleeping.
public protocol FeedClock: Sendable {
    /// Monotonic time since an arbitrary origin.
    var now: Duration { get }
    /// Milliseconds since the Unix epoch (UTC).
    var wallMillis: Int64 { get }
    /// Suspends for `duration`; throws `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// The production clock: `ContinuousClock` (keeps counting while the host sleeps) and the system wall clock.
public struct SystemFeedClock: FeedClock {
    private let origin = ContinuousClock.now

    public init() {}

    public var now: Duration { ContinuousClock.now - origin }

    public var wallMillis: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    public func sleep(for duration: Duration) async throws {
        guard duration > .zero else {
            try Task.checkCancellation()
            return
        }
        try await Task.sleep(for: duration)
    }
}

extension Duration {
    /// The duration in seconds as a `Double` (for metrics, logs and arithmetic on rates).
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }

    /// A duration from fractional seconds; negative, NaN and infinite values clamp to zero or a year.
    static func seconds(clamping value: Double) -> Duration {
        guard value.isFinite, value > 0 else { return .zero }
        return .microseconds(Int64(min(value, 365 * 86_400) * 1_000_000))
    }
}
