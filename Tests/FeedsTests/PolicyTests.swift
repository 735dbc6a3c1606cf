import Foundation
import Testing

@testable import VigilFeeds

@Suite("Circuit breaker state machine")
struct CircuitBreakerTests {
    let configuration = CircuitBreaker.Configuration(failureThreshold: 3, openDurationSeconds: 30, halfOpenMaxProbes: 1)

    @Test func opensAfterThresholdConsecutiveFailures() {
        var breaker = CircuitBreaker(configuration: configuration)
        var now = Duration.zero
        #expect(breaker.acquire(now: now) == .proceed)
        #expect(breaker.recordFailure(now: now) == nil)
        #expect(breaker.recordFailure(now: now) == nil)
        #expect(breaker.phase == .closed)
        #expect(breaker.recordFailure(now: now) == CircuitBreaker.Transition(from: .closed, to: .open))
        #expect(breaker.phase == .open)
        #expect(breaker.phase.gaugeValue == 2)
        now += .seconds(10)
        #expect(breaker.acquire(now: now) == .reject(retryAfter: .seconds(20)))
    }

    @Test func successResetsTheFailureCount() {
        var breaker = CircuitBreaker(configuration: configuration)
        _ = breaker.recordFailure(now: .zero)
        _ = breaker.recordFailure(now: .zero)
        _ = breaker.recordSuccess(now: .zero)
        _ = breaker.recordFailure(now: .zero)
        _ = breaker.recordFailure(now: .zero)
        #expect(breaker.phase == .closed)
        #expect(breaker.state == .closed(consecutiveFailures: 2))
    }

    @Test func halfOpenProbeSuccessCloses() {
        var breaker = CircuitBreaker(configuration: configuration)
        for _ in 0..<3 { _ = breaker.recordFailure(now: .zero) }
        #expect(breaker.acquire(now: .seconds(30)) == .probe(transition: CircuitBreaker.Transition(from: .open, to: .halfOpen)))
        #expect(breaker.phase == .halfOpen)
        #expect(breaker.phase.gaugeValue == 1)
        // Only one probe at a time.
        if case .reject = breaker.acquire(now: .seconds(30)) {} else { Issue.record("second probe admitted") }
        #expect(breaker.recordSuccess(now: .seconds(31)) == CircuitBreaker.Transition(from: .halfOpen, to: .closed))
        #expect(breaker.acquire(now: .seconds(31)) == .proceed)
        #expect(breaker.phase.gaugeValue == 0)
    }

    @Test func halfOpenProbeFailureReopensForAFullPeriod() {
        var breaker = CircuitBreaker(configuration: configuration)
        for _ in 0..<3 { _ = breaker.recordFailure(now: .zero) }
        _ = breaker.acquire(now: .seconds(40))
        #expect(breaker.recordFailure(now: .seconds(40)) == CircuitBreaker.Transition(from: .halfOpen, to: .open))
        #expect(breaker.acquire(now: .seconds(60)) == .reject(retryAfter: .seconds(10)))
        #expect(breaker.acquire(now: .seconds(70)) == .probe(transition: CircuitBreaker.Transition(from: .open, to: .halfOpen)))
    }

    @Test func cancelledProbeFreesItsSlot() {
        var breaker = CircuitBreaker(configuration: configuration)
        for _ in 0..<3 { _ = breaker.recordFailure(now: .zero) }
        _ = breaker.acquire(now: .seconds(30))
        breaker.releaseProbe()
        #expect(breaker.acquire(now: .seconds(30)) == .probe(transition: nil))
    }
}

@Suite("Rate limiter")
struct RateLimiterTests {
    @Test func perMinuteAndPerDayBudgetsBothApply() {
        var limiter = RateLimiter(configuration: RateLimitConfiguration(requestsPerMinute: 5, requestsPerDay: 25), now: .zero)
        var now = Duration.zero
        for _ in 0..<5 { #expect(limiter.acquire(now: now) == .granted) }
        // The sixth request in the same minute waits for one token: 60 s / 5 = 12 s.
        guard case .wait(let wait) = limiter.acquire(now: now) else {
            Issue.record("sixth request granted")
            return
        }
        #expect(abs(wait.secondsValue - 12) < 0.001)

        // Spread over the day: 25 granted, then the daily bucket is the binding one.
        var granted = 5
        while granted < 25 {
            now += .seconds(12)
            if limiter.acquire(now: now) == .granted { granted += 1 }
        }
        now += .seconds(60)
        guard case .wait(let dayWait) = limiter.acquire(now: now) else {
            Issue.record("26th request of the day granted")
            return
        }
        // Refill of the daily bucket is 25 per 86400 s: the wait is about an hour, not 12 s.
        #expect(dayWait.secondsValue > 3000)
    }

    @Test func pauseRefusesUntilItEnds() {
        var limiter = RateLimiter(configuration: RateLimitConfiguration(requestsPerMinute: 60), now: .zero)
        limiter.pause(for: .seconds(60), now: .zero)
        #expect(limiter.acquire(now: .seconds(1)) == .wait(.seconds(59)))
        #expect(limiter.acquire(now: .seconds(60)) == .granted)
    }

    @Test func unlimitedWhenNothingConfigured() {
        var limiter = RateLimiter(configuration: RateLimitConfiguration(), now: .zero)
        for _ in 0..<10_000 { #expect(limiter.acquire(now: .zero) == .granted) }
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test func exponentialBoundsWithFullJitter() {
        let policy = RetryPolicy(maxAttempts: 6, initialBackoffSeconds: 1, maxBackoffSeconds: 8, multiplier: 2)
        var generator = SplitMix64(seed: 7)
        let error = FeedError(.serverError, "503", status: 503)
        for (attempt, bound) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0)] {
            var samples: [Double] = []
            for _ in 0..<200 {
                samples.append(policy.delay(afterAttempt: attempt, error: error, using: &generator)?.secondsValue ?? -1)
            }
            #expect(samples.allSatisfy { $0 >= 0 && $0 <= bound + 1e-6 }, "attempt \(attempt)")
            // Full jitter spreads over the whole range, not around the bound.
            #expect(samples.min() ?? 1 < bound * 0.1 && samples.max() ?? 0 > bound * 0.9, "attempt \(attempt)")
        }
        #expect(policy.delay(afterAttempt: 6, error: error, using: &generator) == nil)
    }

    @Test func onlyRetryableErrorsAreRetried() {
        let policy = RetryPolicy.default
        var generator = SplitMix64(seed: 1)
        for code in FeedError.Code.allCases {
            let delay = policy.delay(afterAttempt: 1, error: FeedError(code, "x"), using: &generator)
            let retryable: Set<FeedError.Code> = [.transport, .timeout, .serverError, .rateLimited]
            #expect((delay != nil) == retryable.contains(code), "\(code)")
        }
    }

    @Test func retryAfterReplacesBackoffWithinTheCap() {
        let policy = RetryPolicy(maxAttempts: 3, maxRetryAfterSeconds: 10)
        var generator = SplitMix64(seed: 1)
        #expect(policy.delay(afterAttempt: 1, error: FeedError(.rateLimited, "429", retryAfterSeconds: 2), using: &generator) == .seconds(2))
        #expect(policy.delay(afterAttempt: 1, error: FeedError(.rateLimited, "429", retryAfterSeconds: 11), using: &generator) == nil)
    }

    @Test func retryAfterHeaderForms() {
        #expect(RetryPolicy.parseRetryAfter("120", wallMillis: 0) == 120)
        #expect(RetryPolicy.parseRetryAfter(" 0.25 ", wallMillis: 0) == 0.25)
        // RFC 9110 example date, 1994-11-06T08:49:37Z = 784111777.
        #expect(RetryPolicy.parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", wallMillis: 784_111_767_000) == 10)
        #expect(RetryPolicy.parseRetryAfter("soon", wallMillis: 0) == nil)
        #expect(RetryPolicy.parseRetryAfter(nil, wallMillis: 0) == nil)
    }
}

@Suite("Market time, numbers and redaction")
struct MarketTimeTests {
    @Test func easternDaylightRules() {
        // 2020: DST from Sunday 2020-03-08 to Sunday 2020-11-01.
        #expect(MarketTime.easternOffsetSeconds(year: 2020, month: 3, day: 7, hour: 12) == -5 * 3600)
        #expect(MarketTime.easternOffsetSeconds(year: 2020, month: 3, day: 8, hour: 3) == -4 * 3600)
        #expect(MarketTime.easternOffsetSeconds(year: 2020, month: 10, day: 31, hour: 12) == -4 * 3600)
        #expect(MarketTime.easternOffsetSeconds(year: 2020, month: 11, day: 1, hour: 3) == -5 * 3600)
        #expect(MarketTime.easternOffsetSeconds(year: 2020, month: 11, day: 23, hour: 4) == -5 * 3600)
        // 2005 (old rules): first Sunday of April (04-03) to last Sunday of October (10-30).
        #expect(MarketTime.easternOffsetSeconds(year: 2005, month: 4, day: 2, hour: 12) == -5 * 3600)
        #expect(MarketTime.easternOffsetSeconds(year: 2005, month: 4, day: 3, hour: 12) == -4 * 3600)
        #expect(MarketTime.easternOffsetSeconds(year: 2005, month: 10, day: 30, hour: 12) == -5 * 3600)
    }

    @Test func builtInEasternAgreesWithTzdataWhenPresent() throws {
        guard let zone = TimeZone(identifier: "America/New_York") else { return }
        var generator = SplitMix64(seed: 3)
        for _ in 0..<500 {
            let seconds = Int64.random(in: 1_000_000_000...1_800_000_000, using: &generator)
            let local = Int(seconds) + zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds)))
            let days = local / 86_400
            let (year, month, day) = MarketTime.civilFromDays(days)
            let hour = local % 86_400 / 3600
            // Skip the ambiguous/skipped hour around the transitions.
            if hour == 1 || hour == 2 { continue }
            let expected = seconds * 1000
            let computed = MarketTime.Zone.usEastern.epochMillis(
                year: year, month: month, day: day, hour: hour, minute: local % 3600 / 60, second: local % 60)
            #expect(computed == expected)
        }
    }

    @Test func parsesDatesAndTimes() {
        #expect(MarketTime.parse("2013-02-08")?.epochMillis(in: .utc) == 1_360_281_600_000)
        #expect(MarketTime.parse("2020-11-23 04:01:00")?.epochMillis(in: .usEastern) == 1_606_122_060_000)
        #expect(MarketTime.parse("2020-11-23T04:01")?.hasTime == true)
        for bad in ["", "2013-2-08", "2013-02-30", "2013-02-08 25:00:00", "2013-02-08x", "20130208", "2013-02-08 04:01:00Z"] {
            #expect(MarketTime.parse(bad) == nil, "\(bad)")
        }
        #expect(MarketTime.iso8601(millis: 1_360_281_600_123) == "2013-02-08T00:00:00.123Z")
        #expect(MarketTime.iso8601(millis: 0) == "1970-01-01T00:00:00.000Z")
    }

    @Test func decimalParserMatchesTheStandardLibrary() {
        for text in ["67.7142", "0.0001", "158168416", "-3.5", "+2", "1e3", "163.085", "7194.89208984375", "123456789012345678", "0"] {
            #expect(DecimalParser.parse(text) == Double(text), "\(text)")
        }
        for text in ["", ".", "-", "abc", "1.2.3", "1,5", "n/a"] {
            #expect(DecimalParser.parse(text) == nil, "\(text)")
        }
        #expect(DecimalParser.parse("nan")?.isNaN == true)
        #expect(DecimalParser.parse("inf") == .infinity)
    }

    @Test func urlRedaction() {
        let url = "https://www.alphavantage.co/query?function=TIME_SERIES_DAILY&symbol=MSFT&apikey=S3CRET&datatype=json"
        #expect(URLRedaction.redact(url) == "https://www.alphavantage.co/query?function=TIME_SERIES_DAILY&symbol=MSFT&apikey=REDACTED&datatype=json")
        #expect(URLRedaction.redact("http://h/p?APIKEY=x#frag") == "http://h/p?APIKEY=REDACTED#frag")
        #expect(URLRedaction.redact("http://h/p") == "http://h/p")
        #expect(URLRedaction.redactURLs(in: "failed GET \(url) after 3 attempts").contains("S3CRET") == false)
        #expect(APIKey("S3CRET").scrub("echo S3CRET twice S3CRET") == "echo <redacted> twice <redacted>")
    }
}
