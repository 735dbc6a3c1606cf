import Logging
import VigilHTTP

/// The I/O policy of one network feed: timeout, rate limit, retries and circuit breaker. Built from the feed's
/// configuration keys `timeoutSeconds`, `rateLimit`, `retry`, `circuitBreaker` and `throttlePauseSeconds`.
public struct FeedHTTPPolicy: Sendable, Hashable {
    /// Whole-request timeout (connect + transfer) of each attempt, in seconds.
    public var timeoutSeconds: Double
    public var rateLimit: RateLimitConfiguration
    public var retry: RetryPolicy
    public var circuitBreaker: CircuitBreaker.Configuration
    /// How long the feed stops sending after the API throttles it without saying for how long.
    public var throttlePauseSeconds: Double
    /// A `User-Agent` replacing the HTTP client's (some APIs answer 429 to library user agents).
    public var userAgent: String?

    public init(
        timeoutSeconds: Double = 10,
        rateLimit: RateLimitConfiguration = RateLimitConfiguration(),
        retry: RetryPolicy = .default,
        circuitBreaker: CircuitBreaker.Configuration = .default,
        throttlePauseSeconds: Double = 60,
        userAgent: String? = nil
    ) {
        self.timeoutSeconds = timeoutSeconds
        self.rateLimit = rateLimit
        self.retry = retry
        self.circuitBreaker = circuitBreaker
        self.throttlePauseSeconds = throttlePauseSeconds
        self.userAgent = userAgent
    }
}

/// Sends a feed's requests through its `FeedHTTPPolicy` (the OpenTelemetry Collector's exporterhelper chain, on the
/// receiving side: circuit breaker → rate limit → timeout → request → classify → retry).
///
/// One actor per feed owns the policy state (breaker, token buckets, jitter generator); the feed's parsing stays
/// outside. The order matters: the breaker is asked first, so an open breaker spends no rate-limit budget; each
/// *attempt* is counted by the breaker and in `vigil_agent_feed_errors_total`, so a dead API opens the breaker in the
/// middle of a retry sequence and the remaining retries are not sent.
///
/// Classification (`FeedError`): transport errors, timeouts and 5xx are retried and count against the breaker;
/// 429 is retried after `Retry-After` and pauses the rate limiter for that long, but does not count against the
/// breaker (the API is healthy, we are too fast); a throttle body (`throttled`) is not retried within the poll: the
/// rate limiter pauses for the error's `retryAfterSeconds` (or `throttlePauseSeconds`), and the next scheduled poll
/// tries again; other 4xx and API errors are permanent.
///
/// Credentials never leave this actor in text: URLs are logged with secret query parameters redacted and every error
/// message passes through `APIKey.scrub`.
actor FeedHTTPExecutor {
    typealias Transport = @Sendable (HTTPRequest) async throws -> HTTPResponse

    let feed: String
    let policy: FeedHTTPPolicy
    private let transport: Transport
    private let clock: any FeedClock
    private var logger: Logger
    private let metrics: FeedMetrics
    private let apiKey: APIKey?
    private var breaker: CircuitBreaker
    private var limiter: RateLimiter
    private var random: SplitMix64

    init(
        feed: String,
        policy: FeedHTTPPolicy,
        transport: @escaping Transport,
        clock: any FeedClock,
        logger: Logger,
        metrics: FeedMetrics,
        apiKey: APIKey? = nil,
        jitterSeed: UInt64? = nil
    ) {
        self.feed = feed
        self.policy = policy
        self.transport = transport
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.apiKey = apiKey
        self.breaker = CircuitBreaker(configuration: policy.circuitBreaker)
        self.limiter = RateLimiter(configuration: policy.rateLimit, now: clock.now)
        var seeder = SystemRandomNumberGenerator()
        self.random = SplitMix64(seed: jitterSeed ?? seeder.next())
        metrics.breakerState.record(CircuitBreaker.Phase.closed.gaugeValue)
    }

    /// The breaker's phase (for status endpoints and tests).
    var breakerPhase: CircuitBreaker.Phase { breaker.phase }

    /// Tokens left in the rate-limit buckets.
    func remainingBudget() -> (perMinute: Double?, perDay: Double?) {
        limiter.remaining(now: clock.now)
    }

    /// Performs a GET of `url` under the policy and decodes the response with `decode`, which also classifies it
    /// (it throws a `FeedError` for a status or body that is a failure).
    ///
    /// - Throws: the last `FeedError` when the request failed after the retries the policy allows, or
    ///   `CancellationError`.
    func get<T: Sendable>(
        _ url: String,
        decode: @Sendable (HTTPResponse) throws(FeedError) -> T
    ) async throws -> T {
        let redactedURL = URLRedaction.redact(url)
        var attempt = 1
        while true {
            try Task.checkCancellation()
            let isProbe = try admitThroughBreaker()
            do {
                try await admitThroughRateLimit()
            } catch {
                if isProbe { breaker.releaseProbe() }
                throw error
            }

            let headers = policy.userAgent.map { [("User-Agent", $0)] } ?? []
            let request = HTTPRequest(url: url, headers: headers, timeoutSeconds: policy.timeoutSeconds)
            let started = clock.now
            let outcome: Result<T, FeedError>
            do {
                let response = try await transport(request)
                metrics.requestDuration.record(duration: clock.now - started)
                outcome = Result { () throws(FeedError) -> T in try decode(response) }
            } catch let error as HTTPClientError {
                metrics.requestDuration.record(duration: clock.now - started)
                let code: FeedError.Code
                switch error.code {
                case .timeout: code = .timeout
                case .connectionFailed, .transport: code = .transport
                // Neither gets better by asking again.
                case .invalidURL: code = .configuration
                case .responseTooLarge: code = .malformedResponse
                }
                outcome = .failure(FeedError(code, scrub("\(error.code.rawValue): \(error.message)")))
            } catch {
                if isProbe { breaker.releaseProbe() }
                throw error
            }

            switch outcome {
            case .success(let value):
                apply(breaker.recordSuccess(now: clock.now))
                return value
            case .failure(var error):
                error.message = scrub(error.message)
                metrics.recordError(error.code)
                if error.countsAsBreakerFailure {
                    apply(breaker.recordFailure(now: clock.now))
                } else {
                    apply(breaker.recordSuccess(now: clock.now))
                }
                switch error.code {
                case .throttled:
                    let pause = error.retryAfterSeconds ?? policy.throttlePauseSeconds
                    limiter.pause(for: .seconds(clamping: pause), now: clock.now)
                    error.retryAfterSeconds = pause
                    logger.warning(
                        "Feed API throttled the requests; pausing the feed.",
                        metadata: [
                            "feed.name": "\(feed)", "http.url": "\(redactedURL)", "feed.pause_seconds": "\(pause)",
                            "error.message": "\(error.message)",
                        ]
                    )
                case .rateLimited:
                    if let retryAfter = error.retryAfterSeconds { limiter.pause(for: .seconds(clamping: retryAfter), now: clock.now) }
                default:
                    break
                }
                guard breaker.phase != .open, let delay = policy.retry.delay(afterAttempt: attempt, error: error, using: &random) else {
                    throw error
                }
                metrics.retries.increment()
                logger.debug(
                    "Retrying feed request.",
                    metadata: [
                        "feed.name": "\(feed)", "http.url": "\(redactedURL)", "retry.attempt": "\(attempt + 1)",
                        "retry.delay_seconds": "\(delay.seconds)", "error.type": "\(error.code.rawValue)",
                    ]
                )
                try await clock.sleep(for: delay)
                attempt += 1
            }
        }
    }

    /// - Returns: whether the request is a half-open probe.
    private func admitThroughBreaker() throws(FeedError) -> Bool {
        switch breaker.acquire(now: clock.now) {
        case .proceed:
            return false
        case .probe(let transition):
            apply(transition)
            return true
        case .reject(let retryAfter):
            metrics.recordError(.circuitOpen)
            throw FeedError(
                .circuitOpen, "circuit breaker is open; requests resume in \(retryAfter.seconds) s", retryAfterSeconds: retryAfter.seconds)
        }
    }

    private func admitThroughRateLimit() async throws {
        while true {
            switch limiter.acquire(now: clock.now) {
            case .granted:
                return
            case .wait(let wait):
                guard wait.seconds <= policy.rateLimit.maxWaitSeconds else {
                    metrics.recordError(.budgetExhausted)
                    throw FeedError(
                        .budgetExhausted,
                        "rate-limit budget spent; next request allowed in \(Int(wait.seconds.rounded(.up))) s",
                        retryAfterSeconds: wait.seconds
                    )
                }
                try await clock.sleep(for: wait)
            }
        }
    }

    private func apply(_ transition: CircuitBreaker.Transition?) {
        guard let transition else { return }
        metrics.breakerState.record(transition.to.gaugeValue)
        let metadata: Logger.Metadata = [
            "feed.name": "\(feed)", "breaker.from": "\(transition.from.rawValue)", "breaker.to": "\(transition.to.rawValue)",
        ]
        if transition.to == .open {
            logger.warning("Feed circuit breaker opened; requests are paused.", metadata: metadata)
        } else {
            logger.info("Feed circuit breaker changed state.", metadata: metadata)
        }
    }

    private func scrub(_ text: String) -> String {
        let redacted = URLRedaction.redactURLs(in: text)
        return apiKey?.scrub(redacted) ?? redacted
    }
}

extension FeedError {
    /// Classifies an HTTP status the same way for every feed: 2xx → nil; 429 → `rate_limited` (with `Retry-After`);
    /// 408 → `timeout`; 5xx → `server_error` (with `Retry-After` when a 503 sends one); any other status →
    /// `client_error` (permanent) with `apiMessage` — the API's own error text when the body has one.
    static func classify(_ response: HTTPResponse, wallMillis: Int64, apiMessage: (HTTPResponse) -> String?) -> FeedError? {
        let status = response.status
        if (200..<300).contains(status) { return nil }
        let retryAfter = RetryPolicy.parseRetryAfter(response.header("retry-after"), wallMillis: wallMillis)
        let message = apiMessage(response) ?? snippet(response.body)
        switch status {
        case 429: return FeedError(.rateLimited, message, status: status, retryAfterSeconds: retryAfter)
        case 408: return FeedError(.timeout, message, status: status)
        case 500..<600: return FeedError(.serverError, message, status: status, retryAfterSeconds: retryAfter)
        default: return FeedError(.clientError, message, status: status)
        }
    }

    /// The first 200 characters of a body, for error messages.
    static func snippet(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "(empty body)" : text
    }
}

extension URLRedaction {
    /// Redacts secret query parameters of every URL-looking word in a free text (an error message that echoes one).
    static func redactURLs(in text: String) -> String {
        guard text.contains("?") else { return text }
        return text.split(separator: " ", omittingEmptySubsequences: false).map { word in
            word.contains("?") && word.contains("=") ? redact(String(word)) : String(word)
        }.joined(separator: " ")
    }
}
