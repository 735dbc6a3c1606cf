// Tests for the collector's OTLP/HTTP trace exporter, against a real loopback HTTP receiver.

import Foundation
import Logging
import Metrics
import MetricsTestKit
import ServiceLifecycle
import Synchronization
import Testing
import Tracing
import VigilHTTP
import VigilTelemetry
import VigilWire

@testable import VigilCollector

// MARK: - Helpers

/// A loopback OTLP/HTTP trace receiver that records every request and answers from a script (then 200).
private final class TraceReceiver: Sendable {
    struct Answer: Sendable {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        /// Holds the answer back this long (the handler thread blocks), to stand in for a backend that hangs.
        var delaySeconds: Double = 0
    }

    struct Received: Sendable {
        var request: ServerRequest
        var at: ContinuousClock.Instant
        var status: Int
    }

    final class State: Sendable {
        let received = Mutex<[Received]>([])
        let script: Mutex<[Answer]>

        init(script: [Answer]) { self.script = Mutex(script) }

        func answer(_ request: ServerRequest) -> ServerResponse {
            let answer = script.withLock { $0.isEmpty ? Answer(status: 200) : $0.removeFirst() }
            received.withLock { $0.append(Received(request: request, at: .now, status: answer.status)) }
            if answer.delaySeconds > 0 { Thread.sleep(forTimeInterval: answer.delaySeconds) }
            return ServerResponse(status: answer.status, headers: answer.headers, body: answer.body)
        }
    }

    let state: State
    let server: SimpleHTTPServer

    init(script answers: [Answer] = []) throws {
        let state = State(script: answers)
        self.state = state
        server = try SimpleHTTPServer { request in state.answer(request) }
        server.start()
    }

    deinit { server.stop() }

    var url: String { "http://127.0.0.1:\(server.port)/v1/traces" }
    var requests: [Received] { state.received.withLock { $0 } }

    /// The decoded body of every request, in arrival order.
    func decoded() throws -> [Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest] {
        try requests.map { received in
            var body = received.request.body
            if received.request.header("content-encoding") == "gzip" { body = try Gzip.decompress(body, maxOutputBytes: 64 << 20) }
            return try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest(serializedBytes: body)
        }
    }

    /// Waits until `condition` holds for the received requests, or `timeout` passes. The bound is generous because
    /// the tests run in parallel on two cooperative threads: a CPU-bound test elsewhere can hold back this task's wake-ups
    /// for seconds (a 10 s bound once failed in CI that way); on success it returns at once.
    func waitFor(timeout: Duration = .seconds(60), _ condition: ([Received]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(requests) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(requests)
    }
}

private func makeExporter(
    endpoint: String, recorder: SpanRecorder = SpanRecorder(component: "test"), maxQueueSpans: Int = 1000, maxBatchSpans: Int = 100,
    interval: Duration = .seconds(60), timeoutSeconds: Double = 5
) -> SpanExporter {
    SpanExporter(
        endpoint: endpoint, recorder: recorder, resource: [("service.name", "vigil-collector"), ("service.version", "test")],
        scope: "vigil.collector", version: "0.0.0-test", maxQueueSpans: maxQueueSpans, maxBatchSpans: maxBatchSpans, interval: interval,
        timeoutSeconds: timeoutSeconds, logger: Logger(label: "test.span-exporter"))
}

/// An agent's spans as the agent wraps them: `count` spans of one trace, under the agent's resource.
private func agentResourceSpans(count: Int, traceByte: UInt8 = 0xA1, agent: String = "agent-1") -> Opentelemetry_Proto_Trace_V1_ResourceSpans {
    let spans = (0..<count).map { index in
        var span = Opentelemetry_Proto_Trace_V1_Span()
        span.traceID = Data([UInt8](repeating: traceByte, count: 16))
        span.spanID = Data([UInt8](repeating: 0, count: 7) + [UInt8(truncatingIfNeeded: index + 1)])
        span.name = "agent.batch.seal"
        span.kind = .internal
        span.startTimeUnixNano = 1_700_000_000_000_000_000 + UInt64(index)
        span.endTimeUnixNano = 1_700_000_000_000_000_100 + UInt64(index)
        return span
    }
    return Opentelemetry_Proto_Trace_V1_ResourceSpans(
        spans: spans, resource: [("service.name", "vigil-agent"), ("vigil.agent.id", agent)], scope: "vigil.agent", version: "1.2.3")
}

private func serviceName(_ resourceSpans: Opentelemetry_Proto_Trace_V1_ResourceSpans) -> String? {
    resourceSpans.resource.attributes.first { $0.key == "service.name" }?.value.stringValue
}

private func spanCount(_ request: Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest) -> Int {
    request.resourceSpans.reduce(0) { $0 + SpanExporter.spanCount(of: $1) }
}

// MARK: - Tests

@Suite("SpanExporter")
struct SpanExporterTests {
    @Test func ownAndForwardedSpansArriveAsGzippedProtobuf() async throws {
        let receiver = try TraceReceiver()
        let recorder = SpanRecorder(component: "test")
        let tracer = VigilTracer(recorder: recorder)
        let span = tracer.startSpan("collector.ingest", context: .topLevel, ofKind: .server)
        span.attributes["vigil.batch.bars"] = 42
        span.end()
        let exporter = makeExporter(endpoint: receiver.url, recorder: recorder)
        let agent = agentResourceSpans(count: 3)

        exporter.forward([agent])
        await exporter.flush()

        let requests = receiver.requests
        try #require(requests.count == 1)
        let request = requests[0].request
        #expect(request.method == "POST")
        #expect(request.path == "/v1/traces")
        #expect(request.header("content-type") == "application/x-protobuf")
        #expect(request.header("content-encoding") == "gzip")
        let decoded = try #require(try receiver.decoded().first)
        #expect(spanCount(decoded) == 4)
        // The agent's ResourceSpans arrive byte-for-byte as the agent built them.
        #expect(decoded.resourceSpans.contains(agent))
        let own = try #require(decoded.resourceSpans.first { serviceName($0) == "vigil-collector" })
        #expect(own.scopeSpans.first?.scope.name == "vigil.collector")
        let ownSpan = try #require(own.scopeSpans.first?.spans.first)
        #expect(ownSpan.traceID == Data(span.spanContext.traceIDBytes))
        #expect(ownSpan.spanID == Data(span.spanContext.spanIDBytes))
        #expect(ownSpan.name == "collector.ingest")
        #expect(ownSpan.kind == .server)
        let agentSpans = decoded.resourceSpans.filter { serviceName($0) == "vigil-agent" }.flatMap { $0.scopeSpans.flatMap(\.spans) }
        #expect(agentSpans.allSatisfy { $0.traceID == Data([UInt8](repeating: 0xA1, count: 16)) })

        #expect(exporter.stats == SpanExporter.Stats(exportedSpans: 4, successfulRequests: 1))
        #expect(exporter.queuedSpans == 0 && recorder.count == 0)
        // Nothing left: another flush sends nothing.
        await exporter.flush()
        #expect(receiver.requests.count == 1)
    }

    @Test func retriesUnavailableThenDeliversOnce() async throws {
        let receiver = try TraceReceiver(script: [
            .init(status: 503, headers: [("Retry-After", "1")]),
            .init(status: 503),
        ])
        let exporter = makeExporter(endpoint: receiver.url, interval: .milliseconds(20))
        let agent = agentResourceSpans(count: 5)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await exporter.run() }
            exporter.forward([agent])
            let delivered = await receiver.waitFor { $0.contains { $0.status == 200 } }
            #expect(delivered)
            // Give a wrongly repeated send the chance to show up.
            try await Task.sleep(for: .milliseconds(200))
            group.cancelAll()
        }

        let requests = receiver.requests
        #expect(requests.map(\.status) == [503, 503, 200])
        let bodies = try receiver.decoded()
        #expect(bodies.allSatisfy { $0 == bodies[0] })
        #expect(bodies.first?.resourceSpans == [agent])
        if requests.count >= 2 {
            // Retry-After: 1 is honoured even though the backoff alone would be ~100 ms.
            #expect(requests[1].at - requests[0].at >= .milliseconds(950))
        }
        let stats = exporter.stats
        #expect(stats.exportedSpans == 5)
        #expect(stats.retriedRequests == 2)
        #expect(stats.successfulRequests == 1)
        #expect(stats.failedRequests == 0 && stats.droppedFailed == 0)
    }

    @Test func badRequestDropsTheBatchWithoutRetrying() async throws {
        let metrics = TestMetrics()
        let receiver = try TraceReceiver(script: [.init(status: 400, body: Array("malformed".utf8))])
        let exporter = withMetricsFactory(metrics) { makeExporter(endpoint: receiver.url) }

        exporter.forward([agentResourceSpans(count: 3)])
        await exporter.flush()

        #expect(receiver.requests.count == 1)
        let spans = MetricName.collectorTraceExportSpans
        let requests = MetricName.collectorTraceExportRequests
        #expect(try metrics.expectCounter(spans, [("outcome", "dropped_failed")]).totalValue == 3)
        #expect(try metrics.expectCounter(spans, [("outcome", "exported")]).totalValue == 0)
        #expect(try metrics.expectCounter(requests, [("outcome", "failure")]).totalValue == 1)
        #expect(try metrics.expectCounter(requests, [("outcome", "retry")]).totalValue == 0)
        #expect(try metrics.expectTimer(MetricName.collectorTraceExportDuration).values.count == 1)
        #expect(try metrics.expectGauge(MetricName.collectorTraceExportQueueSpans).lastValue == 0)
        #expect(exporter.stats == SpanExporter.Stats(droppedFailed: 3, failedRequests: 1))

        // The next batch is unaffected: the receiver now answers 200.
        exporter.forward([agentResourceSpans(count: 2)])
        await exporter.flush()
        #expect(try metrics.expectCounter(spans, [("outcome", "exported")]).totalValue == 2)
        #expect(try metrics.expectCounter(requests, [("outcome", "success")]).totalValue == 1)
    }

    @Test func partialSuccessCountsRejectedSpans() async throws {
        var response = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse()
        response.partialSuccess.rejectedSpans = 2
        response.partialSuccess.errorMessage = "span too old"
        let receiver = try TraceReceiver(script: [
            .init(status: 200, headers: [("Content-Type", "application/x-protobuf")], body: try response.serializedBytes())
        ])
        let exporter = makeExporter(endpoint: receiver.url)

        exporter.forward([agentResourceSpans(count: 5)])
        await exporter.flush()

        #expect(exporter.stats == SpanExporter.Stats(exportedSpans: 3, rejectedSpans: 2, successfulRequests: 1))
    }

    @Test func queueBoundIsSharedWithOwnSpansAndDropsTheExcess() async throws {
        let receiver = try TraceReceiver()
        let recorder = SpanRecorder(component: "test")
        let tracer = VigilTracer(recorder: recorder)
        for _ in 0..<2 { tracer.startSpan("collector.own", context: .topLevel).end() }
        let exporter = makeExporter(endpoint: receiver.url, recorder: recorder, maxQueueSpans: 10, maxBatchSpans: 4)

        // 2 own spans waiting + 12 forwarded against a bound of 10: 8 are kept (the last ResourceSpans trimmed).
        let forwarded = (0..<4).map { agentResourceSpans(count: 3, traceByte: UInt8(0xB0 + $0)) }
        exporter.forward(forwarded)
        #expect(exporter.queuedSpans == 8)
        #expect(exporter.stats.droppedQueueFull == 4)
        // Full is full: one more span is dropped too.
        exporter.forward([agentResourceSpans(count: 1)])
        #expect(exporter.stats.droppedQueueFull == 5)

        await exporter.flush()

        let bodies = try receiver.decoded()
        #expect(bodies.map(spanCount) == [4, 4, 2])
        #expect(bodies.map(spanCount).reduce(0, +) == 10)
        let all = bodies.flatMap(\.resourceSpans)
        #expect(all.filter { serviceName($0) == "vigil-collector" }.reduce(0) { $0 + SpanExporter.spanCount(of: $1) } == 2)
        // The first agent ResourceSpans fits its request whole and goes out unchanged; the second straddles two
        // requests and arrives split, under its own resource and scope, with every span.
        #expect(all.contains(forwarded[0]))
        let straddling = all.filter {
            $0.resource == forwarded[1].resource && $0.scopeSpans.first?.spans.first?.traceID == Data(repeating: 0xB1, count: 16)
        }
        #expect(straddling.count == 2)
        #expect(straddling.flatMap { $0.scopeSpans.flatMap(\.spans) } == forwarded[1].scopeSpans[0].spans)
        #expect(straddling.allSatisfy { $0.scopeSpans.map(\.scope) == forwarded[1].scopeSpans.map(\.scope) })
        #expect(exporter.stats.exportedSpans == 10)
        #expect(exporter.queuedSpans == 0)
    }

    @Test func unreachableEndpointNeitherBlocksForwardNorDelaysCancellation() async throws {
        // Port 1 on loopback refuses connections at once: every attempt is a transport error, retried with backoff.
        let exporter = makeExporter(endpoint: "http://127.0.0.1:1/v1/traces", maxQueueSpans: 500, maxBatchSpans: 50, interval: .milliseconds(10))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await exporter.run() }
            // forward() never waits for the network: 2000 calls return while every export attempt fails.
            for index in 0..<2_000 { exporter.forward([agentResourceSpans(count: 1, traceByte: UInt8(truncatingIfNeeded: index))]) }
            // Let the run loop get into its retry backoff.
            let deadline = ContinuousClock.now + .seconds(60)
            while exporter.stats.retriedRequests == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(exporter.stats.retriedRequests > 0)

            // Cancellation ends run() even in the middle of a retry backoff (the test would hang otherwise).
            group.cancelAll()
            try await group.waitForAll()
        }
        let stats = exporter.stats
        #expect(stats.exportedSpans == 0)
        #expect(stats.droppedQueueFull > 0)
    }

    @Test func cancellationDoesNotWaitForAHangingRequest() async throws {
        let receiver = try TraceReceiver(script: [.init(status: 200, delaySeconds: 5)])
        let exporter = makeExporter(endpoint: receiver.url, interval: .milliseconds(10), timeoutSeconds: 30)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await exporter.run() }
            exporter.forward([agentResourceSpans(count: 2)])
            #expect(await receiver.waitFor { !$0.isEmpty })
            // The receiver holds its answer for 5 s; run() returns on cancellation without waiting for it.
            group.cancelAll()
            try await group.waitForAll()
        }
        #expect(exporter.stats == SpanExporter.Stats(droppedFailed: 2, failedRequests: 1))
    }

    @Test func gracefulShutdownFlushesWhatIsQueued() async throws {
        let receiver = try TraceReceiver()
        // A deadline far beyond what the flush needs, so a loaded machine cannot make it run out.
        let exporter = makeExporter(endpoint: receiver.url, interval: .seconds(3600), timeoutSeconds: 60)
        let group = ServiceGroup(services: [exporter], logger: Logger(label: "test.group"))

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            exporter.forward([agentResourceSpans(count: 7)])
            try await Task.sleep(for: .milliseconds(50))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }

        #expect(try receiver.decoded().map(spanCount) == [7])
        #expect(exporter.stats.exportedSpans == 7)
    }

    @Test func shutdownFlushGivesUpAtTheDeadline() async throws {
        // Always 503: the last flush retries only until timeoutSeconds have passed, then drops and counts.
        let receiver = try TraceReceiver(script: Array(repeating: .init(status: 503), count: 1_000))
        let exporter = makeExporter(endpoint: receiver.url, interval: .milliseconds(20), timeoutSeconds: 0.5)
        let group = ServiceGroup(services: [exporter], logger: Logger(label: "test.group"))

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            exporter.forward([agentResourceSpans(count: 4)])
            // Shut down once the batch is in its retries: were the 0.5 s deadline to start before the exporter had run
            // at all (a loaded machine), the batch would be left unsent rather than given up on.
            #expect(await receiver.waitFor { !$0.isEmpty })
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }

        #expect(receiver.requests.count >= 1)
        #expect(exporter.stats.droppedFailed == 4)
        #expect(exporter.stats.failedRequests == 1)
    }

    @Test func classifiesResponsesAsTheOTLPSpecificationSays() throws {
        func response(_ status: Int, headers: [String: String] = [:], body: [UInt8] = []) -> HTTPResponse {
            HTTPResponse(status: status, headers: headers, body: body)
        }
        #expect(SpanExporter.classify(response(200)) == .success(rejected: 0, message: ""))
        #expect(
            SpanExporter.classify(response(202, headers: ["content-type": "application/json"], body: Array("{}".utf8)))
                == .success(rejected: 0, message: ""))
        for status in [429, 502, 503, 504] {
            #expect(SpanExporter.classify(response(status)) == .retryable(retryAfter: nil, reason: "HTTP \(status)"))
        }
        #expect(SpanExporter.classify(response(429, headers: ["retry-after": "3"])) == .retryable(retryAfter: .seconds(3), reason: "HTTP 429"))
        for status in [400, 401, 404, 413, 500, 501] {
            guard case .permanent = SpanExporter.classify(response(status)) else {
                Issue.record("HTTP \(status) must not be retried")
                continue
            }
        }
        #expect(SpanExporter.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == nil)
        #expect(SpanExporter.parseRetryAfter("-1") == nil)
        #expect(SpanExporter.parseRetryAfter(" 2 ") == .seconds(2))
    }

    @Test func backoffDoublesWithinBoundsAndHonoursRetryAfter() {
        let schedule = SpanExporter.RetrySchedule()
        var generator = SystemRandomNumberGenerator()
        for attempt in 1...12 {
            let nominal = min(0.1 * Double(1 << (attempt - 1)), 5)
            let delay = SpanExporter.seconds(schedule.delay(afterAttempt: attempt, retryAfter: nil, using: &generator))
            #expect(delay >= nominal * 0.5 - 0.001 && delay <= min(nominal * 1.5, 5) + 0.001)
        }
        #expect(schedule.delay(afterAttempt: 1, retryAfter: .seconds(2), using: &generator) >= .seconds(2))
        #expect(schedule.delay(afterAttempt: 1, retryAfter: .seconds(3_600), using: &generator) == .seconds(30))
    }

    @Test func splitKeepsResourceAndScopesOnBothSides() throws {
        var resourceSpans = agentResourceSpans(count: 3)
        var second = resourceSpans.scopeSpans[0]
        second.scope.name = "vigil.agent.second"
        resourceSpans.scopeSpans.append(second)
        let (head, tail) = SpanExporter.split(resourceSpans, first: 4)
        let rest = try #require(tail)
        #expect(SpanExporter.spanCount(of: head) == 4 && SpanExporter.spanCount(of: rest) == 2)
        #expect(head.resource == resourceSpans.resource && rest.resource == resourceSpans.resource)
        #expect(head.scopeSpans.map(\.scope.name) == ["vigil.agent", "vigil.agent.second"])
        #expect(rest.scopeSpans.map(\.scope.name) == ["vigil.agent.second"])
        #expect(SpanExporter.split(resourceSpans, first: 6).tail == nil)
    }
}
