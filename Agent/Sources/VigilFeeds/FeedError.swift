/// Why a feed request, a response or a feed as a whole failed.
///
/// One error type for the module with a nested `Code` (the `ServiceGroupError` pattern). The code decides what the
/// HTTP policy does with the failure — the classification lives here so that the parsers, the retry loop and the
/// circuit breaker agree:
///
/// | code | retried in the poll | breaker failure | example |
/// |---|---|---|---|
/// | transport, timeout | yes | yes | connection refused, libcurl timeout |
/// | serverError | yes | yes | HTTP 5xx |
/// | rateLimited | yes, after `Retry-After` | no | HTTP 429 (the API is healthy, we are too fast) |
/// | throttled | no: the feed pauses | no | Alpha Vantage `Note` / `Information` bodies served with HTTP 200 |
/// | budgetExhausted, circuitOpen | no (no request was made) | no | local rate-limit budget spent, breaker open |
/// | clientError, apiError | no (permanent) | no | HTTP 404 unknown symbol, Alpha Vantage `Error Message` |
/// | malformedResponse | no | no | a body that is not the documented JSON |
/// | io, configuration | no | no | unreadable replay file, missing API key |
public struct FeedError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable, Hashable {
        case transport
        case timeout
        case serverError = "server_error"
        case rateLimited = "rate_limited"
        case throttled
        case budgetExhausted = "budget_exhausted"
        case circuitOpen = "circuit_open"
        case clientError = "client_error"
        case apiError = "api_error"
        case malformedResponse = "malformed_response"
        case io
        case configuration
    }

    public var code: Code
    /// A human-readable explanation: for API errors the API's own message. Never contains an API key.
    public var message: String
    /// The HTTP status, when the failure came with a response.
    public var status: Int?
    /// How long the server (Retry-After) or the local policy asks to wait before trying again, in seconds.
    public var retryAfterSeconds: Double?

    public init(_ code: Code, _ message: String, status: Int? = nil, retryAfterSeconds: Double? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// Whether trying the same request again within this poll can succeed.
    public var isRetryable: Bool {
        switch code {
        case .transport, .timeout, .serverError, .rateLimited: true
        default: false
        }
    }

    /// Whether the failure says the remote service is unhealthy (what the circuit breaker counts).
    public var countsAsBreakerFailure: Bool {
        switch code {
        case .transport, .timeout, .serverError: true
        default: false
        }
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let status { text += " (HTTP \(status))" }
        return text
    }
}
