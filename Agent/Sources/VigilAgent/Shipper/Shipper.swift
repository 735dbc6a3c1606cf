import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SwiftProtobuf
import Synchronization
import Tracing
import VigilConcurrency
import VigilFeeds
import VigilHTTP
import VigilSpool
import VigilTelemetry
import VigilWire

/// Sends spooled batches to the collector, oldest first, one at a time, and removes a batch from the spool only after
/// the collector acknowledged it.
///
/// Order matters: the collector dedupes with a per-agent high-water mark, so a batch must never overtake an older one.
/// Outcomes (the OpenTelemetry Collector's `exporterhelper` retry rules, adapted):
/// - 2xx with an `Ack` (accepted or duplicate): acknowledged in the spool.
/// - 408, 429, 502, 503, 504, other 5xx and transport errors: retried with exponential backoff and full jitter, or after
///   the server's `Retry-After` (capped at `max_backoff_ms`).
/// - 401 and 403: retried with backoff too, and logged at error. A wrong token is an operator's mistake to fix, not
///   a reason to throw away data that is safe on disk.
/// - Any other 4xx (400 malformed, 413 too large, 415): permanent. The batch goes to the shipper's dead-letter file
///   with the collector's reason and leaves the spool, so one poison batch cannot block the agent forever.
public final class Shipper: Service, Sendable {
    public let configuration: CollectorConfiguration
    private let token: String?
    private let spool: Spool
    private let client: HTTPClient
    private let tracer: VigilTracer
    private let deadLetters: BatchDeadLetters
    private let logger: Logger
    private let wakeup = WakeupSignal()
    private let endpoint: String
    private let metrics: ShipperMetrics
    private let checkpoint: ResumeCheckpoint?
    /// Totals for the stop log line (the counters above go to Prometheus and cannot be read back).
    private let totals = Mutex<(batches: Int, bars: Int, deadLettered: Int)>((0, 0, 0))

    public enum Outcome: Equatable, Sendable {
        case acked(duplicate: Bool)
        case retry(after: Duration, reason: String)
        case permanent(reason: String)
    }

    public init(
        configuration: CollectorConfiguration, token: String?, spool: Spool, client: HTTPClient, tracer: VigilTracer,
        deadLetterPath: String, checkpoint: ResumeCheckpoint? = nil, logger: Logger
    ) {
        self.checkpoint = checkpoint
        self.configuration = configuration
        self.token = token
        self.spool = spool
        self.client = client
        self.tracer = tracer
        self.deadLetters = BatchDeadLetters(path: deadLetterPath)
        self.logger = logger
        var base = configuration.url
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = base + WireContract.batchesPath
        metrics = ShipperMetrics()
    }

    /// Tells the shipper that the spool has something new (cheap; never blocks).
    public func notify() { wakeup.signal() }

    public func run() async throws {
        logger.info("Shipper started.", metadata: ["shipper.endpoint": "\(endpoint)"])
        var attempt = 0
        var generator = SystemRandomNumberGenerator()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let record: SpoolRecord
            do {
                guard let next = try spool.pending(limit: 1).first else {
                    metrics.lag.record(0)
                    // Sleep until new data or a periodic re-check.
                    await wakeup.wait(timeout: .seconds(1))
                    continue
                }
                // A batch leaves the spool only once the resume checkpoint covers it (see ResumeCheckpoint).
                if let checkpoint, checkpoint.durableSequence < next.id {
                    await wakeup.wait(timeout: .milliseconds(20))
                    continue
                }
                record = next
            } catch {
                logger.error("Cannot read the spool.", metadata: ["error.message": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            metrics.lag.record(Double(spool.stats.pendingRecords))
            let outcome = await send(record)
            switch outcome {
            case .acked:
                attempt = 0
                _ = spool.acknowledge(upTo: record.id)
            case .permanent(let reason):
                attempt = 0
                deadLetters.append(record: record, reason: reason)
                metrics.deadLettered.increment()
                totals.withLock { $0.deadLettered += 1 }
                logger.error(
                    "Collector rejected a batch permanently; moved it to the dead-letter file.",
                    metadata: ["batch.sequence": "\(record.id)", "error.message": "\(reason)", "deadletter.path": "\(deadLetters.path)"])
                _ = spool.acknowledge(upTo: record.id)
            case .retry(let serverDelay, let reason):
                attempt += 1
                metrics.retries(reason: reason).increment()
                let bound = min(
                    Double(configuration.maxBackoffMs), Double(configuration.initialBackoffMs) * pow(2, Double(min(attempt - 1, 30))))
                let jittered = Duration.milliseconds(Int64(Double.random(in: 0...bound, using: &generator)))
                let delay = max(serverDelay, jittered)
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning(
                        "Batch not delivered; retrying.",
                        metadata: ["batch.sequence": "\(record.id)", "shipper.reason": "\(reason)", "shipper.attempt": "\(attempt)"])
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
        let sent = totals.withLock { $0 }
        logger.info(
            "Shipper stopped.",
            metadata: [
                "spool.pending": "\(spool.stats.pendingRecords)", "shipper.batches_acked": "\(sent.batches)", "shipper.bars_acked": "\(sent.bars)",
                "shipper.batches_dead_lettered": "\(sent.deadLettered)",
            ])
    }

    /// One delivery attempt of one spooled batch. `traced: false` records no span for it (the shutdown's span batch,
    /// whose own span would have no batch left to travel in); `timeoutSeconds` overrides the configured timeout.
    public func send(_ record: SpoolRecord, traced: Bool = true, timeoutSeconds: Double? = nil) async -> Outcome {
        let envelope: SpooledBatch
        do {
            envelope = try SpooledBatch(decoding: record.payload)
        } catch {
            metrics.outcome("permanent").increment()
            return .permanent(reason: "unreadable spool record: \(error)")
        }
        var context = ServiceContext.topLevel
        if let parent = SpanContext(traceparent: envelope.traceparent) { context.spanContext = parent }
        let span = traced ? tracer.startSpan("agent.shipper.send", context: context, ofKind: .client) : nil
        defer { span?.end() }
        span?.attributes["vigil.batch.sequence"] = Int64(truncatingIfNeeded: record.id)
        span?.attributes["vigil.batch.bars"] = envelope.barCount
        span?.attributes["http.request.method"] = "POST"
        span?.attributes["url.full"] = endpoint

        var headers: [(String, String)] = [
            ("Content-Type", WireContract.protobufContentType),
            ("Accept", WireContract.protobufContentType),
        ]
        if let span { headers.append(("traceparent", span.spanContext.traceparent)) }
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        var body = envelope.batch
        if configuration.compression == "gzip" {
            do {
                body = try Gzip.compress(envelope.batch)
                headers.append(("Content-Encoding", "gzip"))
            } catch {
                logger.warning("Cannot gzip a batch; sending it uncompressed.", metadata: ["error.message": "\(error)"])
            }
        }
        let started = ContinuousClock.now
        let response: HTTPResponse
        do {
            response = try await client.execute(
                HTTPRequest(
                    method: "POST", url: endpoint, headers: headers, body: body, timeoutSeconds: timeoutSeconds ?? configuration.timeoutSeconds))
        } catch {
            metrics.duration.recordDuration(since: started)
            metrics.outcome("transport").increment()
            span?.recordError(error)
            return .retry(after: .zero, reason: "transport")
        }
        metrics.duration.recordDuration(since: started)
        span?.attributes["http.response.status_code"] = response.status
        let outcome = classify(response)
        switch outcome {
        case .acked(let duplicate):
            metrics.outcome(duplicate ? "duplicate" : "acked").increment()
            metrics.batchesAcked.increment()
            metrics.barsAcked.increment(by: envelope.barCount)
            totals.withLock {
                $0.batches += 1
                $0.bars += envelope.barCount
            }
        case .retry(_, let reason):
            metrics.outcome(reason == "unauthorized" ? "unauthorized" : "retryable").increment()
            span?.setStatus(SpanStatus(code: .error, message: "HTTP \(response.status)"))
        case .permanent(let reason):
            metrics.outcome("permanent").increment()
            span?.setStatus(SpanStatus(code: .error, message: reason))
        }
        return outcome
    }

    func classify(_ response: HTTPResponse) -> Outcome {
        let status = response.status
        if (200..<300).contains(status) {
            let ack = try? Vigil_V1_Ack(serializedBytes: response.body)
            return .acked(duplicate: ack?.status == .duplicate)
        }
        let reason = Self.errorMessage(response)
        if WireContract.retryableStatuses.contains(status) || status >= 500 {
            return .retry(after: retryAfter(response) ?? .zero, reason: "http_\(status)")
        }
        if status == 401 || status == 403 {
            logger.error(
                "Collector refused the agent's credentials; batches stay in the spool until this is fixed.",
                metadata: ["http.status": "\(status)", "error.message": "\(reason)"])
            return .retry(after: .milliseconds(configuration.maxBackoffMs), reason: "unauthorized")
        }
        return .permanent(reason: "HTTP \(status): \(reason)")
    }

    private func retryAfter(_ response: HTTPResponse) -> Duration? {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        guard let seconds = RetryPolicy.parseRetryAfter(response.header("retry-after"), wallMillis: now) else { return nil }
        return .milliseconds(Int64(min(seconds, Double(configuration.maxBackoffMs) / 1000) * 1000))
    }

    /// The collector's reason: an `ErrorResponse` (protobuf), a JSON `{"message"}`, or the text body.
    static func errorMessage(_ response: HTTPResponse) -> String {
        if let error = try? Vigil_V1_ErrorResponse(serializedBytes: response.body), !error.message.isEmpty {
            return error.code.isEmpty ? error.message : "\(error.code): \(error.message)"
        }
        if let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] {
            let message = (object["message"] as? String) ?? (object["error"] as? String)
            if let message { return message }
        }
        return String(response.bodyText.prefix(500))
    }
}

struct ShipperMetrics: Sendable {
    let duration = Metrics.Timer(label: MetricName.shipperDuration)
    let batchesAcked = Counter(label: MetricName.shipperBatchesAcked)
    let barsAcked = Counter(label: MetricName.shipperBarsAcked)
    let deadLettered = Counter(label: MetricName.shipperDeadLettered)
    let lag = Gauge(label: MetricName.shipperLag)

    func outcome(_ name: String) -> Counter { Counter(label: MetricName.shipperRequests, dimensions: [("outcome", name)]) }
    func retries(reason: String) -> Counter { Counter(label: MetricName.shipperRetries, dimensions: [("reason", reason)]) }
}

/// JSON lines of batches the collector refused for good: enough to inspect and replay them by hand.
struct BatchDeadLetters: Sendable {
    let path: String

    func append(record: SpoolRecord, reason: String) {
        let object: [String: Any] = [
            "time": ISO8601DateFormatter().string(from: Date()),
            "sequence": record.id,
            "reason": reason,
            "payload_base64": Data(record.payload).base64EncodedString(),
        ]
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        line.append(0x0A)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
    }
}
