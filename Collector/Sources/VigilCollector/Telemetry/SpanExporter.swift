// Vigil collector: OTLP/HTTP protobuf trace exporter (the collector's own spans plus the agents' forwarded spans).

import Dispatch
import Logging
import Metrics
import ServiceLifecycle
import SwiftProtobuf
import Synchronization
import VigilConcurrency
import VigilHTTP
import VigilTelemetry
import VigilWire

/// Sends the collector's own finished spans and the spans agents shipped with their batches to an OTLP/HTTP trace
/// receiver (Jaeger's on `:4318/v1/traces`, an OpenTelemetry Collector, Tempo …) as gzipped protobuf
/// `ExportTraceServiceRequest`s.
///
/// Shaped like the OpenTelemetry SDK's BatchSpanProcessor in front of the OTLP/HTTP exporter:
/// - One bounded queue, counted in spans. `forward(_:)` only appends under a lock and never waits; spans that do not
///   fit are dropped and counted (`vigil_collector_trace_export_spans_total{outcome="dropped_queue_full"}`). The
///   collector's own spans waiting in the `SpanRecorder` count against the same bound.
/// - `run()` exports every `interval`, or sooner once `maxBatchSpans` are waiting, in requests of at most
///   `maxBatchSpans` spans. Agents' `ResourceSpans` go out unchanged (split across requests only when one is larger
///   than a request).
/// - Retries follow the OTLP/HTTP specification (https://opentelemetry.io/docs/specs/otlp/#failures-1): 429, 502, 503,
///   504 and transport errors are retried with exponential backoff (100 ms doubling to 5 s, ±50 % jitter as in the
///   collector's exporterhelper), never sooner than `Retry-After`; after 5 attempts the batch is dropped. Every other
///   status is permanent and the batch is dropped at once. A 2xx whose `partial_success.rejected_spans` is set counts
///   those spans as rejected.
/// - On graceful shutdown it makes one last flush, bounded by `timeoutSeconds` in total.
public final class SpanExporter: Service, Sendable {
    /// Where requests go, e.g. `http://jaeger:4318/v1/traces`.
    public let endpoint: String
    let maxQueueSpans: Int
    let maxBatchSpans: Int
    let retry: RetrySchedule
    private let recorder: SpanRecorder
    private let resource: [(String, String)]
    private let scope: String
    private let version: String
    private let interval: Duration
    private let timeoutSeconds: Double
    private let client: HTTPClient
    private let logger: Logger
    private let metrics: SpanExporterMetrics

    private let queue = Mutex(Queue())
    /// Wakes the run loop early: a full batch is waiting, or shutdown began.
    private let wakeup = WakeupSignal()
    /// One export at a time, whether the run loop or `flush()` starts it, so `flush()` returns only once everything
    /// queued before it has been through the exporter.
    private let gate = ExportGate()
    /// Set when graceful shutdown begins; every export and retry after that must finish by then.
    private let shutdownDeadline = Mutex<ContinuousClock.Instant?>(nil)
    private let dropLog = Mutex(DropLog())
    private let totals = Mutex(Stats())

    static let protobufContentType = "application/x-protobuf"
    /// At most one drop warning per this interval; the counters carry the exact numbers.
    static let dropLogInterval = Duration.seconds(10)

    public init(
        endpoint: String, recorder: SpanRecorder, resource: [(String, String)], scope: String, version: String,
        maxQueueSpans: Int, maxBatchSpans: Int, interval: Duration, timeoutSeconds: Double,
        client: HTTPClient = HTTPClient(userAgent: "vigil-collector"), logger: Logger
    ) {
        self.endpoint = endpoint
        self.recorder = recorder
        self.resource = resource
        self.scope = scope
        self.version = version
        // Configuration validation reports bad values; these clamps only keep a bad value from spinning or stalling.
        self.maxQueueSpans = max(1, maxQueueSpans)
        self.maxBatchSpans = max(1, maxBatchSpans)
        self.interval = max(interval, .milliseconds(1))
        self.timeoutSeconds = timeoutSeconds.isFinite && timeoutSeconds > 0 ? min(timeoutSeconds, 86_400) : 10
        self.client = client
        self.logger = logger
        self.retry = RetrySchedule()
        self.metrics = SpanExporterMetrics()
    }

    // MARK: - Ingest side

    /// Queues agents' spans (already wrapped as `ResourceSpans` by the agent) for forwarding unchanged. Never blocks;
    /// when the queue (counted in spans, shared with the collector's own spans) is full, drops and counts.
    public func forward(_ resourceSpans: [Opentelemetry_Proto_Trace_V1_ResourceSpans]) {
        guard !resourceSpans.isEmpty else { return }
        // Read outside the queue lock: `takeBatch` nests the recorder's lock inside the queue's, never the reverse.
        let own = recorder.count
        let (dropped, queued) = queue.withLock { queue -> (Int, Int) in
            var dropped = 0
            for item in resourceSpans {
                let count = Self.spanCount(of: item)
                guard count > 0 else { continue }
                let room = maxQueueSpans - queue.spans - own
                if count <= room {
                    queue.append(item, spans: count)
                } else if room > 0 {
                    // Keep what fits, span by span, as the SDK's BatchSpanProcessor does.
                    queue.append(Self.split(item, first: room).head, spans: room)
                    dropped += count - room
                } else {
                    dropped += count
                }
            }
            return (dropped, queue.spans)
        }
        metrics.queueSpans.record(queued)
        if dropped > 0 { drop(dropped, outcome: .queueFull, reason: "queue full") }
        if queued + own >= maxBatchSpans { wakeup.signal() }
    }

    // MARK: - Service

    public func run() async throws {
        logger.info(
            "Span exporter started.",
            metadata: ["otlp.endpoint": "\(endpoint)", "otlp.max_queue_spans": "\(maxQueueSpans)", "otlp.max_batch_spans": "\(maxBatchSpans)"])
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                await wakeup.wait(timeout: interval)
                guard !Task.isCancelled && !Task.isShuttingDownGracefully else { break }
                await exportQueued()
            }
        } onGracefulShutdown: {
            self.beginShutdown()
            self.wakeup.signal()
        }
        // Cancellation means stop now; graceful shutdown gets one last flush, bounded by the deadline.
        if !Task.isCancelled {
            beginShutdown()
            await exportQueued()
        }
        let stats = self.stats
        logger.info(
            "Span exporter stopped.",
            metadata: [
                "otlp.endpoint": "\(endpoint)", "otlp.spans_exported": "\(stats.exportedSpans)",
                "otlp.spans_dropped": "\(stats.droppedQueueFull + stats.droppedFailed)", "otlp.spans_rejected": "\(stats.rejectedSpans)",
                "otlp.spans_unsent": "\(queuedSpans + recorder.count)",
            ])
    }

    /// Test/diagnostic: flushes now and returns when the requests finished.
    public func flush() async {
        await exportQueued()
    }

    // MARK: - Export

    /// Exports batches until the queue is empty, the task is cancelled, or the shutdown deadline passed.
    private func exportQueued() async {
        await gate.acquire()
        defer { gate.release() }
        while !Task.isCancelled {
            if let deadline = currentDeadline, ContinuousClock.now >= deadline { return }
            guard let batch = takeBatch() else { return }
            await export(batch)
        }
    }

    /// Cuts the next request from the head of the queue, after moving the collector's own finished spans into it.
    private func takeBatch() -> Batch? {
        let (batch, queued) = queue.withLock { queue -> (Batch?, Int) in
            // The own spans join the queue only as far as it has room; the rest wait in the recorder (itself bounded).
            let room = maxQueueSpans - queue.spans
            if room > 0 {
                let own = recorder.drain(limit: room)
                if !own.isEmpty {
                    let wrapped = Opentelemetry_Proto_Trace_V1_ResourceSpans(spans: own, resource: resource, scope: scope, version: version)
                    queue.append(wrapped, spans: own.count)
                }
            }
            guard !queue.entries.isEmpty else { return (nil, 0) }
            var batch = Batch()
            var taken = 0
            while taken < queue.entries.count && batch.spans < maxBatchSpans {
                let entry = queue.entries[taken]
                let room = maxBatchSpans - batch.spans
                if entry.spans <= room {
                    batch.resourceSpans.append(entry.resourceSpans)
                    batch.spans += entry.spans
                    taken += 1
                } else {
                    let (head, tail) = Self.split(entry.resourceSpans, first: room)
                    batch.resourceSpans.append(head)
                    batch.spans += room
                    if let tail { queue.entries[taken] = Queue.Entry(resourceSpans: tail, spans: entry.spans - room) }
                }
            }
            queue.entries.removeFirst(taken)
            queue.spans -= batch.spans
            return (batch, queue.spans)
        }
        metrics.queueSpans.record(queued)
        return batch
    }

    /// Sends one batch, retrying as the OTLP specification allows, and counts how it ended.
    private func export(_ batch: Batch) async {
        var request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest()
        request.resourceSpans = batch.resourceSpans
        let encoded: [UInt8]
        do {
            encoded = try request.serializedBytes()
        } catch {
            fail(batch, reason: "encoding failed: \(error)")
            return
        }
        var headers = [("Content-Type", Self.protobufContentType)]
        var body = encoded
        if let compressed = try? Gzip.compress(encoded) {
            body = compressed
            headers.append(("Content-Encoding", "gzip"))
        }  // else: an uncompressed body is just as valid OTLP

        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            attempt += 1
            var timeout = timeoutSeconds
            if let deadline = currentDeadline {
                timeout = min(timeout, Self.seconds(deadline - ContinuousClock.now))
                guard timeout > 0.001 else {
                    fail(batch, reason: "shutdown deadline passed")
                    return
                }
            }
            let started = ContinuousClock.now
            let outcome: Outcome
            do {
                let response = try await send(
                    HTTPRequest(method: "POST", url: endpoint, headers: headers, body: body, timeoutSeconds: timeout))
                outcome = Self.classify(response)
            } catch is CancellationError {
                metrics.duration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
                fail(batch, reason: "cancelled")
                return
            } catch let error as HTTPClientError where error.code == .invalidURL {
                outcome = .permanent(reason: "\(error)")
            } catch {
                outcome = .retryable(retryAfter: nil, reason: "\(error)")
            }
            metrics.duration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))

            switch outcome {
            case .success(let rejected, let message):
                let rejectedCount = Int(clamping: min(Int64(batch.spans), rejected))
                metrics.requestSuccess.increment()
                metrics.exported.increment(by: batch.spans - rejectedCount)
                totals.withLock {
                    $0.successfulRequests += 1
                    $0.exportedSpans += batch.spans - rejectedCount
                }
                if rejectedCount > 0 { drop(rejectedCount, outcome: .rejected, reason: "partial success: \(message)") }
                return
            case .permanent(let reason):
                fail(batch, reason: reason)
                return
            case .retryable(let retryAfter, let reason):
                guard attempt < retry.maxAttempts else {
                    fail(batch, reason: "\(reason) (gave up after \(attempt) attempts)")
                    return
                }
                let wake = ContinuousClock.now + retry.delay(afterAttempt: attempt, retryAfter: retryAfter, using: &generator)
                if let deadline = currentDeadline, wake >= deadline {
                    fail(batch, reason: "\(reason) (no time left to retry before shutdown)")
                    return
                }
                // Graceful shutdown cuts the backoff short so the deadline is re-checked; plain cancellation ends it.
                try? await cancelWhenGracefulShutdown { try await Task.sleep(until: wake) }
                if Task.isCancelled {
                    fail(batch, reason: "cancelled")
                    return
                }
                if let deadline = currentDeadline, wake >= deadline {
                    fail(batch, reason: "\(reason) (no time left to retry before shutdown)")
                    return
                }
                try? await Task.sleep(until: wake)
                // Counted once the retry is certain, so each failed attempt is either a retry or the final failure.
                metrics.requestRetry.increment()
                totals.withLock { $0.retriedRequests += 1 }
            }
        }
    }

    /// Counts a batch that will not be delivered.
    private func fail(_ batch: Batch, reason: String) {
        metrics.requestFailure.increment()
        totals.withLock { $0.failedRequests += 1 }
        drop(batch.spans, outcome: .failed, reason: reason)
    }

    /// `HTTPClient.execute` parks a Dispatch worker in `curl_easy_perform`, which cannot be interrupted. This waits for
    /// the same call but stops waiting when the task is cancelled; the abandoned transfer ends by its own timeout.
    private func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let client = self.client
        let pending = PendingResponse()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard pending.install(continuation) else { return }
                client.submitBlocking { pending.resume(with: Result { try client.performBlocking(request) }) }
            }
        } onCancel: {
            pending.resume(with: .failure(CancellationError()))
        }
    }

    enum Outcome: Equatable, Sendable {
        case success(rejected: Int64, message: String)
        case retryable(retryAfter: Duration?, reason: String)
        case permanent(reason: String)
    }

    /// The OTLP/HTTP response rules (https://opentelemetry.io/docs/specs/otlp/#otlphttp-response).
    static func classify(_ response: HTTPResponse) -> Outcome {
        let status = response.status
        switch status {
        case 200..<300:
            // A 2xx may carry `partial_success`; only decode bodies that can be protobuf (an empty body is a full success).
            let contentType = response.header("content-type")?.lowercased() ?? protobufContentType
            guard !response.body.isEmpty, contentType.contains("protobuf"),
                let decoded = try? Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(serializedBytes: response.body),
                decoded.hasPartialSuccess
            else { return .success(rejected: 0, message: "") }
            return .success(rejected: max(0, decoded.partialSuccess.rejectedSpans), message: decoded.partialSuccess.errorMessage)
        case 429, 502, 503, 504:
            return .retryable(retryAfter: parseRetryAfter(response.header("retry-after")), reason: "HTTP \(status)")
        default:
            // "All other 4xx or 5xx response status codes MUST NOT be retried."
            let detail = String(response.bodyText.prefix(200))
            return .permanent(reason: detail.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(detail)")
        }
    }

    /// `Retry-After` in delta-seconds; an HTTP-date or garbage is ignored (the backoff still applies).
    static func parseRetryAfter(_ value: String?) -> Duration? {
        guard let text = value?.filter({ $0 != " " && $0 != "\t" }), let seconds = Double(text), seconds.isFinite, seconds >= 0 else { return nil }
        return .milliseconds(Int64(min(seconds, 86_400) * 1000))
    }

    // MARK: - Shutdown and accounting

    private func beginShutdown() {
        shutdownDeadline.withLock { deadline in
            if deadline == nil { deadline = ContinuousClock.now + .milliseconds(Int64(timeoutSeconds * 1000)) }
        }
    }

    /// The shutdown deadline, if shutdown began. Also checks the task's own shutdown state, because the graceful
    /// shutdown handler that sets the deadline may run after `cancelWhenGracefulShutdown` has already woken a retry.
    private var currentDeadline: ContinuousClock.Instant? {
        if Task.isShuttingDownGracefully { beginShutdown() }
        return shutdownDeadline.withLock { $0 }
    }

    enum DropOutcome: String {
        case queueFull = "dropped_queue_full"
        case failed = "dropped_failed"
        case rejected
    }

    private func drop(_ spans: Int, outcome: DropOutcome, reason: String) {
        switch outcome {
        case .queueFull: metrics.droppedQueueFull.increment(by: spans)
        case .failed: metrics.droppedFailed.increment(by: spans)
        case .rejected: metrics.rejected.increment(by: spans)
        }
        totals.withLock { totals in
            switch outcome {
            case .queueFull: totals.droppedQueueFull += spans
            case .failed: totals.droppedFailed += spans
            case .rejected: totals.rejectedSpans += spans
            }
        }
        let now = ContinuousClock.now
        let report = dropLog.withLock { log -> Int? in
            log.suppressed += spans
            if let last = log.lastWarning, now - last < Self.dropLogInterval { return nil }
            log.lastWarning = now
            defer { log.suppressed = 0 }
            return log.suppressed
        }
        guard let report else { return }
        logger.warning(
            "Dropping spans meant for the trace backend.",
            metadata: [
                "otlp.endpoint": "\(endpoint)", "otlp.spans_dropped": "\(report)", "otlp.drop_outcome": "\(outcome.rawValue)",
                "error.message": "\(reason)",
            ])
    }

    /// Running totals, for tests and the stop log line (the counters go to Prometheus and cannot be read back).
    struct Stats: Sendable, Equatable {
        var exportedSpans = 0
        var droppedQueueFull = 0
        var droppedFailed = 0
        var rejectedSpans = 0
        var successfulRequests = 0
        var retriedRequests = 0
        var failedRequests = 0
    }

    var stats: Stats { totals.withLock { $0 } }

    /// Spans waiting in the exporter's queue (the recorder's own spans not included).
    var queuedSpans: Int { queue.withLock { $0.spans } }

    // MARK: - Helpers

    static func spanCount(of resourceSpans: Opentelemetry_Proto_Trace_V1_ResourceSpans) -> Int {
        resourceSpans.scopeSpans.reduce(0) { $0 + $1.spans.count }
    }

    /// Splits off the first `limit` spans (resource and scopes kept on both sides); `tail` is nil when nothing is left.
    static func split(
        _ resourceSpans: Opentelemetry_Proto_Trace_V1_ResourceSpans, first limit: Int
    ) -> (head: Opentelemetry_Proto_Trace_V1_ResourceSpans, tail: Opentelemetry_Proto_Trace_V1_ResourceSpans?) {
        var head = resourceSpans
        var tail = resourceSpans
        head.scopeSpans = []
        tail.scopeSpans = []
        var remaining = limit
        for scopeSpans in resourceSpans.scopeSpans {
            if scopeSpans.spans.count <= remaining {
                head.scopeSpans.append(scopeSpans)
                remaining -= scopeSpans.spans.count
            } else if remaining > 0 {
                var first = scopeSpans
                first.spans = Array(scopeSpans.spans.prefix(remaining))
                var rest = scopeSpans
                rest.spans = Array(scopeSpans.spans.dropFirst(remaining))
                head.scopeSpans.append(first)
                tail.scopeSpans.append(rest)
                remaining = 0
            } else {
                tail.scopeSpans.append(scopeSpans)
            }
        }
        return (head, tail.scopeSpans.isEmpty ? nil : tail)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

// MARK: - Supporting types

extension SpanExporter {
    /// Exponential backoff for retryable failures: 100 ms doubling up to 5 s, ±50 % jitter (exporterhelper's
    /// randomization factor), never shorter than the server's `Retry-After` (itself capped so one answer cannot park the
    /// exporter for long; the queue bound drops what arrives meanwhile).
    struct RetrySchedule: Sendable {
        var initial: Duration = .milliseconds(100)
        var maximum: Duration = .seconds(5)
        var maxAttempts = 5
        var maxRetryAfter: Duration = .seconds(30)

        func delay(afterAttempt attempt: Int, retryAfter: Duration?, using generator: inout some RandomNumberGenerator) -> Duration {
            let cap = SpanExporter.seconds(maximum)
            let base = min(cap, SpanExporter.seconds(initial) * Double(1 << min(max(attempt - 1, 0), 20)))
            let jittered = min(cap, base * Double.random(in: 0.5...1.5, using: &generator))
            let backoff = Duration.milliseconds(Int64(jittered * 1000))
            guard let retryAfter else { return backoff }
            return max(backoff, min(retryAfter, maxRetryAfter))
        }
    }
}

struct SpanExporterMetrics: Sendable {
    let exported: Counter
    let droppedQueueFull: Counter
    let droppedFailed: Counter
    let rejected: Counter
    let requestSuccess: Counter
    let requestRetry: Counter
    let requestFailure: Counter
    let duration: Metrics.Timer
    let queueSpans: Gauge

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        func spans(_ outcome: String) -> Counter {
            Counter(label: MetricName.collectorTraceExportSpans, dimensions: [("outcome", outcome)], factory: factory)
        }
        func requests(_ outcome: String) -> Counter {
            Counter(label: MetricName.collectorTraceExportRequests, dimensions: [("outcome", outcome)], factory: factory)
        }
        exported = spans("exported")
        droppedQueueFull = spans("dropped_queue_full")
        droppedFailed = spans("dropped_failed")
        rejected = spans("rejected")
        requestSuccess = requests("success")
        requestRetry = requests("retry")
        requestFailure = requests("failure")
        duration = Metrics.Timer(label: MetricName.collectorTraceExportDuration, factory: factory)
        queueSpans = Gauge(label: MetricName.collectorTraceExportQueueSpans, factory: factory)
    }
}

// Private to this file: the exporter's own plumbing.
extension SpanExporter {
    /// FIFO of `ResourceSpans` with its size in spans.
    fileprivate struct Queue {
        struct Entry {
            var resourceSpans: Opentelemetry_Proto_Trace_V1_ResourceSpans
            var spans: Int
        }

        var entries: [Entry] = []
        var spans = 0

        mutating func append(_ resourceSpans: Opentelemetry_Proto_Trace_V1_ResourceSpans, spans count: Int) {
            entries.append(Entry(resourceSpans: resourceSpans, spans: count))
            spans += count
        }
    }

    /// One export request's content.
    fileprivate struct Batch {
        var resourceSpans: [Opentelemetry_Proto_Trace_V1_ResourceSpans] = []
        var spans = 0
    }

    fileprivate struct DropLog {
        var lastWarning: ContinuousClock.Instant?
        var suppressed = 0
    }

    /// An async mutual-exclusion gate, handed to waiters in arrival order.
    fileprivate final class ExportGate: Sendable {
        private struct State {
            var busy = false
            var waiters: [CheckedContinuation<Void, Never>] = []
        }

        private let state = Mutex(State())

        func acquire() async {
            await withCheckedContinuation { continuation in
                let enter = state.withLock { state -> Bool in
                    guard state.busy else {
                        state.busy = true
                        return true
                    }
                    state.waiters.append(continuation)
                    return false
                }
                if enter { continuation.resume() }
            }
        }

        func release() {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard !state.waiters.isEmpty else {
                    state.busy = false
                    return nil
                }
                return state.waiters.removeFirst()  // the gate passes straight to the next waiter
            }
            next?.resume()
        }
    }

    /// One in-flight request's continuation, resumed exactly once: by the response or by cancellation, whichever is first.
    fileprivate final class PendingResponse: Sendable {
        private enum State {
            case idle
            case waiting(CheckedContinuation<HTTPResponse, any Error>)
            case cancelledEarly
            case done
        }

        private let state = Mutex(State.idle)

        /// False when the task was cancelled before the request started (the continuation is then already resumed).
        func install(_ continuation: CheckedContinuation<HTTPResponse, any Error>) -> Bool {
            let proceed = state.withLock { state -> Bool in
                guard case .idle = state else {
                    state = .done
                    return false
                }
                state = .waiting(continuation)
                return true
            }
            if !proceed { continuation.resume(throwing: CancellationError()) }
            return proceed
        }

        func resume(with result: Result<HTTPResponse, any Error>) {
            let waiter = state.withLock { state -> CheckedContinuation<HTTPResponse, any Error>? in
                switch state {
                case .idle:
                    state = .cancelledEarly
                    return nil
                case .waiting(let continuation):
                    state = .done
                    return continuation
                case .cancelledEarly, .done:
                    return nil
                }
            }
            waiter?.resume(with: result)
        }
    }
}
