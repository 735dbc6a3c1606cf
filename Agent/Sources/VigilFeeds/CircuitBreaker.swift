/// A circuit breaker as a value-type state machine (the swift-nio `StateMachine` style): it never sleeps, reads no
/// clock and performs no I/O. The caller passes the current monotonic time in, and carries out what the returned
/// actions say (log the transition, update the `vigil_agent_feed_breaker_state` gauge).
///
/// States:
/// - `closed`: requests flow; `failureThreshold` consecutive breaker failures (see `FeedError.countsAsBreakerFailure`)
///   open the breaker. Any success resets the count.
/// - `open`: requests are refused without touching the network until `openDurationSeconds` have passed, so a dead
///   API costs nothing and is not hammered.
/// - `halfOpen`: after the open period, up to `halfOpenMaxProbes` probe requests are let through. A probe success
///   closes the breaker; a probe failure re-opens it for another full open period.
public struct CircuitBreaker: Sendable {
    public struct Configuration: Codable, Sendable, Hashable {
        /// Key `failureThreshold`. Consecutive failures that open the breaker. Default 5.
        public var failureThreshold: Int
        /// Key `openDurationSeconds`. How long the breaker stays open before it lets a probe through. Default 30.
        public var openDurationSeconds: Double
        /// Key `halfOpenMaxProbes`. Concurrent probe requests allowed while half-open. Default 1.
        public var halfOpenMaxProbes: Int

        public static let `default` = Configuration()

        public init(failureThreshold: Int = 5, openDurationSeconds: Double = 30, halfOpenMaxProbes: Int = 1) {
            self.failureThreshold = failureThreshold
            self.openDurationSeconds = openDurationSeconds
            self.halfOpenMaxProbes = halfOpenMaxProbes
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
            let defaults = Configuration()
            failureThreshold = try container.decodeIfPresent(Int.self, forKey: .failureThreshold) ?? defaults.failureThreshold
            openDurationSeconds = try container.decodeIfPresent(Double.self, forKey: .openDurationSeconds) ?? defaults.openDurationSeconds
            halfOpenMaxProbes = try container.decodeIfPresent(Int.self, forKey: .halfOpenMaxProbes) ?? defaults.halfOpenMaxProbes
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case failureThreshold, openDurationSeconds, halfOpenMaxProbes
        }

        /// Every problem with the values, each prefixed with `path`.
        public func validate(path: String) -> [String] {
            var problems: [String] = []
            if failureThreshold < 1 { problems.append("\(path).failureThreshold: must be at least 1, got \(failureThreshold)") }
            if !(openDurationSeconds >= 0 && openDurationSeconds.isFinite) {
                problems.append("\(path).openDurationSeconds: must be a finite number >= 0, got \(openDurationSeconds)")
            }
            if halfOpenMaxProbes < 1 { problems.append("\(path).halfOpenMaxProbes: must be at least 1, got \(halfOpenMaxProbes)") }
            return problems
        }
    }

    public enum State: Sendable, Hashable {
        case closed(consecutiveFailures: Int)
        case open(until: Duration)
        case halfOpen(probesInFlight: Int)
    }

    /// The state without its payload: the value exported as a metric and logged.
    public enum Phase: String, Sendable, Hashable {
        case closed
        case halfOpen = "half_open"
        case open

        /// `vigil_agent_feed_breaker_state`: 0 closed, 1 half-open, 2 open.
        public var gaugeValue: Int {
            switch self {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        }
    }

    /// What `acquire(now:)` decided.
    public enum AcquireAction: Sendable, Hashable {
        /// Send the request.
        case proceed
        /// Send the request as a half-open probe; `transition` is set when this call moved open → half-open.
        case probe(transition: Transition?)
        /// Do not send; the breaker is open for `retryAfter` more.
        case reject(retryAfter: Duration)
    }

    /// A change of phase, for the caller to log and export.
    public struct Transition: Sendable, Hashable {
        public var from: Phase
        public var to: Phase
    }

    public let configuration: Configuration
    public private(set) var state: State = .closed(consecutiveFailures: 0)

    public init(configuration: Configuration = .default) {
        self.configuration = configuration
    }

    public var phase: Phase {
        switch state {
        case .closed: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    /// Asks to send one request at `now`.
    public mutating func acquire(now: Duration) -> AcquireAction {
        switch state {
        case .closed:
            return .proceed
        case .open(let until):
            guard now >= until else { return .reject(retryAfter: until - now) }
            state = .halfOpen(probesInFlight: 1)
            return .probe(transition: Transition(from: .open, to: .halfOpen))
        case .halfOpen(let inFlight):
            guard inFlight < max(1, configuration.halfOpenMaxProbes) else {
                // Probes are out; callers wait a short while rather than a whole open period.
                return .reject(retryAfter: .seconds(1))
            }
            state = .halfOpen(probesInFlight: inFlight + 1)
            return .probe(transition: nil)
        }
    }

    /// Reports that a request sent after `acquire` succeeded (or failed in a way that says the service is healthy).
    public mutating func recordSuccess(now: Duration) -> Transition? {
        switch state {
        case .closed:
            state = .closed(consecutiveFailures: 0)
            return nil
        case .halfOpen:
            state = .closed(consecutiveFailures: 0)
            return Transition(from: .halfOpen, to: .closed)
        case .open:
            // A request that was in flight when the breaker opened; its success does not override the open period.
            return nil
        }
    }

    /// Reports that a request failed in a way that counts against the service.
    public mutating func recordFailure(now: Duration) -> Transition? {
        let openUntil = now + Duration.seconds(clamping: configuration.openDurationSeconds)
        switch state {
        case .closed(let failures):
            let count = failures + 1
            if count >= max(1, configuration.failureThreshold) {
                state = .open(until: openUntil)
                return Transition(from: .closed, to: .open)
            }
            state = .closed(consecutiveFailures: count)
            return nil
        case .halfOpen:
            state = .open(until: openUntil)
            return Transition(from: .halfOpen, to: .open)
        case .open:
            return nil
        }
    }

    /// Reports that a probe ended without a verdict (e.g. it was cancelled), so its slot is free again.
    public mutating func releaseProbe() {
        if case .halfOpen(let inFlight) = state {
            state = .halfOpen(probesInFlight: max(0, inFlight - 1))
        }
    }
}
