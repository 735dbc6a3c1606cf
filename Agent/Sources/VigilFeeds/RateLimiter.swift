/// A token bucket: `capacity` tokens, refilled continuously at `capacity / periodSeconds` per second.
///
/// Starts full, so a freshly started agent may spend a whole period's budget at once (that is what the API's quota
/// allows too); after that, requests are spread at the refill rate.
public struct TokenBucket: Sendable, Hashable {
    public let capacity: Double
    public let periodSeconds: Double
    public private(set) var tokens: Double
    private var updatedAt: Duration

    public init(capacity: Double, periodSeconds: Double, now: Duration) {
        self.capacity = max(capacity, 0)
        self.periodSeconds = max(periodSeconds, 1e-9)
        self.tokens = self.capacity
        self.updatedAt = now
    }

    private var refillPerSecond: Double { capacity / periodSeconds }

    mutating func refill(now: Duration) {
        guard now > updatedAt else { return }
        tokens = min(capacity, tokens + (now - updatedAt).seconds * refillPerSecond)
        updatedAt = now
    }

    /// Seconds until one token is available (0 when one is available now).
    public mutating func waitForToken(now: Duration) -> Double {
        refill(now: now)
        if tokens >= 1 { return 0 }
        guard refillPerSecond > 0 else { return .infinity }
        return (1 - tokens) / refillPerSecond
    }

    mutating func take() { tokens -= 1 }

    /// Empties the bucket, e.g. when the API says the budget is spent even though our count disagrees.
    public mutating func drain(now: Duration) {
        refill(now: now)
        tokens = min(tokens, 0)
    }
}

/// The request budget of one feed: an optional per-minute and an optional per-day token bucket (Alpha Vantage's free
/// tier allows 5 requests a minute *and* 25 a day; both must have a token), plus a pause that the feed can impose when
/// the API itself says "slow down" (Alpha Vantage's `Note` body).
///
/// A value type like `CircuitBreaker`: the caller passes the time in and carries out the decision.
public struct RateLimiter: Sendable, Hashable {
    public enum Decision: Sendable, Hashable {
        /// A token was taken; send the request now.
        case granted
        /// No token yet; one will be available after the given wait.
        case wait(Duration)
    }

    var perMinute: TokenBucket?
    var perDay: TokenBucket?
    var pausedUntil: Duration?

    public init(configuration: RateLimitConfiguration, now: Duration) {
        perMinute = configuration.requestsPerMinute.map { TokenBucket(capacity: $0, periodSeconds: 60, now: now) }
        perDay = configuration.requestsPerDay.map { TokenBucket(capacity: $0, periodSeconds: 86_400, now: now) }
    }

    /// Takes a token from every bucket, or says how long to wait until all of them have one (and no pause is active).
    public mutating func acquire(now: Duration) -> Decision {
        var waitSeconds = 0.0
        if let pausedUntil, now < pausedUntil { waitSeconds = (pausedUntil - now).seconds }
        if var bucket = perMinute {
            waitSeconds = max(waitSeconds, bucket.waitForToken(now: now))
            perMinute = bucket
        }
        if var bucket = perDay {
            waitSeconds = max(waitSeconds, bucket.waitForToken(now: now))
            perDay = bucket
        }
        guard waitSeconds <= 0 else {
            return .wait(waitSeconds.isFinite ? Duration.seconds(clamping: waitSeconds) : .seconds(365 * 86_400))
        }
        perMinute?.take()
        perDay?.take()
        return .granted
    }

    /// Refuses requests until `now + duration` (the API told us to slow down).
    public mutating func pause(for duration: Duration, now: Duration) {
        let until = now + duration
        pausedUntil = max(pausedUntil ?? until, until)
    }

    /// Marks the daily budget as spent (the API says the day's quota is used up).
    public mutating func exhaustDailyBudget(now: Duration) {
        perDay?.drain(now: now)
    }

    /// Tokens left in the per-minute and per-day buckets (nil when that budget is not configured).
    public mutating func remaining(now: Duration) -> (perMinute: Double?, perDay: Double?) {
        perMinute?.refill(now: now)
        perDay?.refill(now: now)
        return (perMinute?.tokens, perDay?.tokens)
    }
}

/// Configuration block `rateLimit` of a network feed.
public struct RateLimitConfiguration: Codable, Sendable, Hashable {
    /// Key `requestsPerMinute`. Requests allowed per rolling minute; absent = unlimited. Alpha Vantage free tier: 5.
    public var requestsPerMinute: Double?
    /// Key `requestsPerDay`. Requests allowed per rolling day; absent = unlimited. Alpha Vantage free tier: 25.
    public var requestsPerDay: Double?
    /// Key `maxWaitSeconds`. The longest a poll waits for a token before it reports `budget_exhausted` for the symbol
    /// instead (a daily budget can be hours away). Default 60.
    public var maxWaitSeconds: Double

    public init(requestsPerMinute: Double? = nil, requestsPerDay: Double? = nil, maxWaitSeconds: Double = 60) {
        self.requestsPerMinute = requestsPerMinute
        self.requestsPerDay = requestsPerDay
        self.maxWaitSeconds = maxWaitSeconds
    }

    public init(from decoder: any Decoder) throws {
        try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        requestsPerMinute = try container.decodeIfPresent(Double.self, forKey: .requestsPerMinute)
        requestsPerDay = try container.decodeIfPresent(Double.self, forKey: .requestsPerDay)
        maxWaitSeconds = try container.decodeIfPresent(Double.self, forKey: .maxWaitSeconds) ?? 60
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case requestsPerMinute, requestsPerDay, maxWaitSeconds
    }

    /// Every problem with the values, each prefixed with `path`.
    public func validate(path: String) -> [String] {
        var problems: [String] = []
        if let perMinute = requestsPerMinute, !(perMinute >= 1 && perMinute.isFinite) {
            problems.append("\(path).requestsPerMinute: must be at least 1 when set, got \(perMinute)")
        }
        if let perDay = requestsPerDay, !(perDay >= 1 && perDay.isFinite) {
            problems.append("\(path).requestsPerDay: must be at least 1 when set, got \(perDay)")
        }
        if !(maxWaitSeconds >= 0 && maxWaitSeconds.isFinite) {
            problems.append("\(path).maxWaitSeconds: must be a finite number >= 0, got \(maxWaitSeconds)")
        }
        return problems
    }
}
