import Tracing

/// The feeds' spans. Spans go to the tracer that is active where `poll()` runs: one bound with `withTracer(_:_:)`
/// around the pipeline, else the one bootstrapped in `InstrumentationSystem` (a no-op tracer by default).
enum FeedTracing {
    static let pollSpan = "agent.feed.poll"
    static let normalizeSpan = "agent.normalizer.normalize"

    /// Runs one poll inside an `agent.feed.poll` span with the feed's attributes, and stores the span's context in
    /// the poll so the pipeline can parent its spans to it.
    static func poll(
        feed: String,
        kind: FeedKind,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> FeedPoll?
    ) async rethrows -> FeedPoll? {
        try await withSpan(pollSpan, ofKind: .internal) { span in
            span.attributes["vigil.feed.name"] = feed
            span.attributes["vigil.feed.kind"] = kind.rawValue
            guard var poll = try await body() else { return nil }
            span.attributes["vigil.feed.bars"] = poll.records.count
            if poll.requests > 0 {
                span.attributes["vigil.feed.requests"] = poll.requests
                span.attributes["vigil.feed.failures"] = poll.failures.count
            }
            if poll.nullsSkipped > 0 { span.attributes["vigil.feed.nulls_skipped"] = poll.nullsSkipped }
            if !poll.failures.isEmpty && poll.failures.count == poll.requests {
                span.setStatus(SpanStatus(code: .error, message: poll.failures.first?.error.code.rawValue))
            }
            poll.traceContext = span.context
            return poll
        }
    }
}
