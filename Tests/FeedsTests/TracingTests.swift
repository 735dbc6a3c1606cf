import Foundation
import Synchronization
import Testing
import Tracing
import VigilDetection
import VigilHTTP

@testable import VigilFeeds

/// An in-memory tracer bound with `withTracer` (task-local; nothing is bootstrapped globally).
final class TestTracer: Tracer, Sendable {
    enum SpanIDKey: InstrumentationContextKey {
        typealias Value = Int
    }

    struct Finished: Sendable {
        var id: Int
        var parent: Int?
        var name: String
        var attributes: [String: SpanAttribute]
        var status: SpanStatus.Code?
    }

    private let state = Mutex<(next: Int, finished: [Finished])>((1, []))

    var finished: [Finished] { state.withLock { $0.finished } }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> InstrumentationContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> TestSpan {
        var spanContext = context()
        let parent = spanContext[SpanIDKey.self]
        let id = state.withLock { state -> Int in
            state.next += 1
            return state.next - 1
        }
        spanContext[SpanIDKey.self] = id
        return TestSpan(tracer: self, id: id, parent: parent, name: operationName, context: spanContext)
    }

    fileprivate func record(_ span: Finished) { state.withLock { $0.finished.append(span) } }

    func forceFlush() {}

    func inject<Carrier, Inject>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Carrier == Inject.Carrier {}

    func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract: Extractor, Carrier == Extract.Carrier {}

    final class TestSpan: Tracing.Span, Sendable {
        let context: InstrumentationContext
        private let tracer: TestTracer
        private let id: Int
        private let parent: Int?
        private let state: Mutex<(name: String, attributes: SpanAttributes, status: SpanStatus.Code?)>

        init(tracer: TestTracer, id: Int, parent: Int?, name: String, context: InstrumentationContext) {
            self.tracer = tracer
            self.id = id
            self.parent = parent
            self.context = context
            self.state = Mutex((name, [:], nil))
        }

        var isRecording: Bool { true }
        var operationName: String {
            get { state.withLock { $0.name } }
            set { state.withLock { $0.name = newValue } }
        }
        var attributes: SpanAttributes {
            get { state.withLock { $0.attributes } }
            set { state.withLock { $0.attributes = newValue } }
        }
        func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status.code } }
        func addLink(_ link: SpanLink) {}
        func addEvent(_ event: SpanEvent) {}
        func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {}
        func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
            let snapshot = state.withLock { $0 }
            var attributes: [String: SpanAttribute] = [:]
            snapshot.attributes.forEach { attributes[$0] = $1 }
            tracer.record(Finished(id: id, parent: parent, name: snapshot.name, attributes: attributes, status: snapshot.status))
        }
    }
}

@Suite("Feed and normalizer spans")
struct TracingTests {
    @Test func pollAndNormalizeSpansFormOneTrace() async throws {
        let tracer = TestTracer()
        let feed = SyntheticFeed(
            configuration: SyntheticFeedConfiguration(name: "syn", symbols: 4, tickRate: 0, startTimestamp: 0, maxTicks: 2),
            logger: InMemoryLogs().logger(),
            metricsFactory: TestMetrics(),
            clock: TestClock()
        )
        var normalizer = Normalizer(metricsFactory: TestMetrics())
        let batch = try await withTracer(tracer) { () async throws -> NormalizedBatch in
            let poll = try #require(try await feed.poll())
            #expect(poll.traceContext != nil)
            return normalizer.normalize(poll, feed: "syn", deadLetters: nil)
        }
        #expect(batch.bars.count == 8)

        let spans = tracer.finished
        let pollSpan = try #require(spans.first { $0.name == "agent.feed.poll" })
        let normalizeSpan = try #require(spans.first { $0.name == "agent.normalizer.normalize" })
        #expect(pollSpan.attributes["vigil.feed.name"] == "syn")
        #expect(pollSpan.attributes["vigil.feed.kind"] == "synthetic")
        #expect(pollSpan.attributes["vigil.feed.bars"] == 8)
        #expect(normalizeSpan.parent == pollSpan.id)
        #expect(normalizeSpan.attributes["vigil.bars.accepted"] == 8)
    }

    @Test func failedPollSpanIsMarkedAsError() async throws {
        let server = try FixtureServer { _, _ in ServerResponse(status: 500, contentType: "text/plain", text: "down") }
        let tracer = TestTracer()
        let feed = YahooChartFeed(
            configuration: YahooFeedConfiguration(name: "y", symbols: ["AAPL"], baseURL: server.baseURL, retry: RetryPolicy(maxAttempts: 1)),
            httpClient: HTTPClient(),
            logger: InMemoryLogs().logger(),
            metricsFactory: TestMetrics(),
            clock: TestClock()
        )
        _ = try await withTracer(tracer) { try await feed.poll() }
        let span = try #require(tracer.finished.first { $0.name == "agent.feed.poll" })
        #expect(span.status == .error)
        #expect(span.attributes["vigil.feed.failures"] == 1)
        #expect(span.attributes["vigil.feed.requests"] == 1)
    }
}
