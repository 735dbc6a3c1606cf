import Foundation
import SwiftProtobuf
import VigilDetection
import VigilHTTP
import VigilStore
import VigilTelemetry
import VigilWire

/// Why a request was refused; becomes the HTTP status and the JSON/protobuf error body (`code`, `message`).
public struct IngestError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case malformed, tooLarge = "too_large", unsupportedMediaType = "unsupported_media_type", unauthorized, forbidden
        case throttled, unavailable, invalidBatch = "invalid_batch", storeFailure = "store_failure", notFound = "not_found"
        case badRequest = "bad_request", conflict
    }

    public var code: Code
    public var message: String
    /// Seconds for `Retry-After` (429/503 only).
    public var retryAfterSeconds: Int?
    /// The agent (or `ingest:<producer>`) the request claimed, once known; recorded with a rejection.
    public var agentID: String?
    /// Size of the body as received, when it was read.
    public var bodyBytes: Int?

    public init(_ code: Code, _ message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var status: Int {
        switch code {
        case .malformed, .invalidBatch, .badRequest: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound: 404
        case .conflict: 409
        case .tooLarge: 413
        case .unsupportedMediaType: 415
        case .throttled: 429
        case .unavailable, .storeFailure: 503
        }
    }

    /// Bounded `outcome` label for `vigil_collector_batches_total`.
    public var outcome: String {
        switch code {
        case .malformed, .invalidBatch, .badRequest, .tooLarge, .unsupportedMediaType, .notFound, .conflict: "rejected"
        case .unauthorized, .forbidden: "unauthorized"
        case .throttled: "throttled"
        case .unavailable: "unavailable"
        case .storeFailure: "store_error"
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// One symbol's bars from one request, oldest first.
public struct SeriesPart: Sendable {
    public var symbol: String
    public var intervalSeconds: Int32
    public var feed: String
    public var bars: [Bar]
    /// The agent's Tier-1 combined anomaly score per bar (empty, or one per bar): a Tier-2 feature.
    public var anomalyScores: [Float] = []
}

/// A request body, decoded and checked, in the form the partitions work on.
public struct IngestRequest: Sendable {
    public enum Source: String, Sendable { case agent, ingest }

    public var source: Source
    /// The agent id, or `ingest:<producer>` for `/v1/ingest`: the dedupe key.
    public var agentID: String
    /// nil for an ingest request without a sequence: the collector assigns the next one.
    public var sequence: Int64?
    /// Bronze: the decoded protobuf (or the JSON body) exactly as received, kept for audit and replay.
    public var payload: [UInt8]
    public var series: [SeriesPart]
    /// Detections the agent made (Tier-1 at the edge); empty for ingest requests, whose bars are scored here.
    public var detections: [StoredDetection]
    /// The agent's spans, forwarded to the trace backend unchanged.
    public var resourceSpans: [Opentelemetry_Proto_Trace_V1_ResourceSpans]
    /// The agent's trace for this batch (header first, then the batch field).
    public var parent: SpanContext?
    public var barCount: Int
    public var newestBarTimestamp: Int64?
}

/// Turns request bodies into `IngestRequest`s. Everything here runs on untrusted bytes: every failure is an
/// `IngestError` with a reason, never a crash.
public struct RequestDecoder: Sendable {
    public var maxDecompressedBytes: Int
    public var maxBars: Int

    public init(maxDecompressedBytes: Int, maxBars: Int) {
        self.maxDecompressedBytes = maxDecompressedBytes
        self.maxBars = maxBars
    }

    /// `Content-Encoding` gzip (or gzip magic bytes with no header, which some proxies produce) is inflated with a bound.
    public func inflate(_ body: [UInt8], contentEncoding: String?) throws(IngestError) -> [UInt8] {
        let encoding = contentEncoding?.lowercased().trimmingCharacters(in: .whitespaces) ?? ""
        switch encoding {
        case "gzip", "x-gzip":
            do {
                return try Gzip.decompress(body, maxOutputBytes: maxDecompressedBytes)
            } catch let error where error.code == .tooLarge {
                throw IngestError(.tooLarge, "decompressed body exceeds \(maxDecompressedBytes) bytes")
            } catch {
                throw IngestError(.malformed, "body is not valid gzip: \(error.message)")
            }
        case "", "identity":
            return body
        default:
            throw IngestError(.unsupportedMediaType, "Content-Encoding \(encoding) is not supported (gzip or identity)")
        }
    }

    /// `POST /v1/batches`.
    public func decodeBatch(_ bytes: [UInt8], traceparent: String?) throws(IngestError) -> IngestRequest {
        let batch: Vigil_V1_Batch
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 32
            batch = try Vigil_V1_Batch(serializedBytes: bytes, options: options)
        } catch {
            throw IngestError(.malformed, "body is not a vigil.v1.Batch: \(error)")
        }
        guard !batch.agentID.isEmpty, batch.agentID.utf8.count <= 256, !batch.agentID.utf8.contains(0) else {
            throw IngestError(.invalidBatch, "agent_id must be 1...256 bytes without NUL")
        }
        guard batch.sequence <= UInt64(Int64.max) else { throw IngestError(.invalidBatch, "sequence \(batch.sequence) is too large") }
        let total = batch.series.reduce(0) { $0 + $1.timestampDeltasMs.count }
        guard total <= maxBars else { throw IngestError(.tooLarge, "\(total) bars in one batch; the limit is \(maxBars)") }
        var series: [SeriesPart] = []
        series.reserveCapacity(batch.series.count)
        var newest: Int64?
        for wire in batch.series {
            let bars: [Bar]
            do {
                bars = try wire.bars()
            } catch {
                throw IngestError(.invalidBatch, "\(error)")
            }
            guard wire.intervalSeconds > 0 else { throw IngestError(.invalidBatch, "series \(wire.symbol): interval_seconds must be positive") }
            try Self.checkSymbol(wire.symbol)
            // The store's CHECK constraints would refuse these anyway; refusing here names the bar and leaves the
            // partitions untouched.
            for bar in bars { try Self.check(bar) }
            if let last = bars.last?.timestamp { newest = max(newest ?? last, last) }
            series.append(
                SeriesPart(
                    symbol: wire.symbol, intervalSeconds: wire.intervalSeconds, feed: wire.feed, bars: bars,
                    anomalyScores: wire.anomalyScores.count == bars.count ? wire.anomalyScores : []))
        }
        var detections: [StoredDetection] = []
        detections.reserveCapacity(batch.detections.count)
        for wire in batch.detections {
            try Self.checkSymbol(wire.symbol)
            guard wire.score.isFinite, wire.anomalyScore.isFinite else {
                throw IngestError(.invalidBatch, "detection \(wire.symbol)@\(wire.timestampMs): score must be finite")
            }
            detections.append(StoredDetection(wire: wire))
        }
        let parent = traceparent.flatMap(SpanContext.init(traceparent:)) ?? SpanContext(traceparent: batch.traceparent)
        return IngestRequest(
            source: .agent, agentID: batch.agentID, sequence: Int64(batch.sequence), payload: bytes, series: series,
            detections: detections, resourceSpans: batch.resourceSpans, parent: parent, barCount: total, newestBarTimestamp: newest)
    }

    /// `POST /v1/ingest`: `{"producer": "...", "sequence": 7, "bars": [{"symbol", "time" | "timestamp_ms",
    /// "interval_seconds", "open", "high", "low", "close", "volume", "feed"?}]}` (schema in `openapi.yaml`).
    public func decodeIngest(_ bytes: [UInt8], traceparent: String?) throws(IngestError) -> IngestRequest {
        let document: IngestDocument
        do {
            document = try JSONDecoder().decode(IngestDocument.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw IngestError(.malformed, "body is not a valid ingest document: \(Self.describe(error))")
        } catch {
            throw IngestError(.malformed, "body is not valid JSON: \(error)")
        }
        let producer = document.producer ?? "default"
        guard !producer.isEmpty, producer.utf8.count <= 128, !producer.utf8.contains(0) else {
            throw IngestError(.invalidBatch, "producer must be 1...128 bytes without NUL")
        }
        if let sequence = document.sequence, sequence < 0 { throw IngestError(.invalidBatch, "sequence must be >= 0") }
        guard document.bars.count <= maxBars else {
            throw IngestError(.tooLarge, "\(document.bars.count) bars in one request; the limit is \(maxBars)")
        }
        guard !document.bars.isEmpty else { throw IngestError(.invalidBatch, "bars must not be empty") }
        // Group by (symbol, interval, feed) keeping first-seen order, then sort each series by time.
        var index: [String: Int] = [:]
        var series: [SeriesPart] = []
        var newest: Int64?
        for (position, item) in document.bars.enumerated() {
            let timestamp: Int64
            if let ms = item.timestampMs {
                timestamp = ms
            } else if let text = item.time, let date = Self.parseTime(text) {
                timestamp = Int64((date.timeIntervalSince1970 * 1000).rounded())
            } else {
                throw IngestError(.invalidBatch, "bars[\(position)]: needs time (ISO 8601) or timestamp_ms")
            }
            let interval = item.intervalSeconds ?? 86_400
            guard interval > 0 else { throw IngestError(.invalidBatch, "bars[\(position)]: interval_seconds must be positive") }
            let bar = Bar(
                symbol: item.symbol, timestamp: timestamp, intervalSeconds: interval, open: item.open, high: item.high, low: item.low,
                close: item.close, volume: item.volume ?? 0)
            do {
                try Self.checkSymbol(item.symbol)
                try Self.check(bar)
            } catch {
                throw IngestError(.invalidBatch, "bars[\(position)]: \(error.message)")
            }
            let feed = item.feed ?? "ingest"
            let key = "\(item.symbol)\u{1F}\(interval)\u{1F}\(feed)"
            if let at = index[key] {
                series[at].bars.append(bar)
            } else {
                index[key] = series.count
                series.append(SeriesPart(symbol: item.symbol, intervalSeconds: interval, feed: feed, bars: [bar]))
            }
            newest = max(newest ?? timestamp, timestamp)
        }
        for i in series.indices {
            series[i].bars.sort { $0.timestamp < $1.timestamp }
            // Two bars of one series at the same time would make Tier-1 count a bar twice.
            for pair in zip(series[i].bars, series[i].bars.dropFirst()) where pair.0.timestamp == pair.1.timestamp {
                throw IngestError(.invalidBatch, "two bars of \(series[i].symbol) at \(pair.0.timestamp)")
            }
        }
        return IngestRequest(
            source: .ingest, agentID: "ingest:" + producer, sequence: document.sequence, payload: bytes, series: series, detections: [],
            resourceSpans: [], parent: traceparent.flatMap(SpanContext.init(traceparent:)), barCount: document.bars.count,
            newestBarTimestamp: newest)
    }

    static func checkSymbol(_ symbol: String) throws(IngestError) {
        guard !symbol.isEmpty, symbol.utf8.count <= 32, !symbol.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F }) else {
            throw IngestError(.invalidBatch, "symbol \(symbol.debugDescription) must be 1...32 printable bytes")
        }
    }

    /// The same checks the agent's normalizer makes, so a producer cannot put what an agent would reject into silver.
    static func check(_ bar: Bar) throws(IngestError) {
        // No array here: this runs for every bar of every batch.
        func positive(_ x: Double) -> Bool { x.isFinite && x > 0 }
        guard positive(bar.open), positive(bar.high), positive(bar.low), positive(bar.close) else {
            throw IngestError(.invalidBatch, "\(bar.symbol)@\(bar.timestamp): prices must be finite and positive")
        }
        guard bar.volume.isFinite, bar.volume >= 0 else {
            throw IngestError(.invalidBatch, "\(bar.symbol)@\(bar.timestamp): volume must be finite and >= 0")
        }
        guard (bar.low <= bar.high && bar.open >= bar.low && bar.open <= bar.high && bar.close >= bar.low && bar.close <= bar.high)
        else {
            throw IngestError(.invalidBatch, "\(bar.symbol)@\(bar.timestamp): open and close must lie within [low, high]")
        }
        guard (-62_135_596_800_000..<253_402_300_800_000).contains(bar.timestamp) else {
            throw IngestError(.invalidBatch, "\(bar.symbol): bar time \(bar.timestamp) outside years 1...9999")
        }
    }

    static func parseTime(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = full.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context).isEmpty ? "document" : path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "\(path(context))\(path(context).isEmpty ? "" : ".")\(key.stringValue): required key missing"
        @unknown default:
            return "\(error)"
        }
    }
}

/// The JSON body of `POST /v1/ingest`.
struct IngestDocument: Decodable {
    struct Item: Decodable {
        var symbol: String
        var time: String?
        var timestampMs: Int64?
        var intervalSeconds: Int32?
        var open: Double
        var high: Double
        var low: Double
        var close: Double
        var volume: Double?
        var feed: String?

        enum CodingKeys: String, CodingKey {
            case symbol, time, open, high, low, close, volume, feed
            case timestampMs = "timestamp_ms", intervalSeconds = "interval_seconds"
        }
    }

    var producer: String?
    var sequence: Int64?
    var bars: [Item]
}

extension StoredDetection {
    /// An agent's detection as stored: ids as hex, features as a JSON object.
    init(wire: Vigil_V1_Detection) {
        let trace = SpanContext(traceID: wire.traceID, spanID: wire.spanID)
        self.init(
            symbol: wire.symbol, timestamp: wire.timestampMs, tier: wire.tier == .tier2 ? 2 : 1, detector: wire.detector,
            score: wire.score, severity: wire.severity.name, anomalyScore: wire.anomalyScore,
            featuresJSON: FeatureJSON.encode(wire.features.map { ($0.name, $0.value) }), traceID: trace?.traceIDHex, spanID: trace?.spanIDHex)
    }
}

extension Vigil_V1_Severity {
    var name: String {
        switch self {
        case .critical: "critical"
        case .warning: "warning"
        default: "info"
        }
    }
}

extension Severity {
    var name: String {
        switch self {
        case .critical: "critical"
        case .warning: "warning"
        case .info: "info"
        }
    }
}

/// Features as a compact JSON object; non-finite values become null (JSON has no NaN), names are escaped.
enum FeatureJSON {
    static func encode(_ features: [(String, Double)]) -> String {
        var out = "{"
        for (index, feature) in features.enumerated() {
            if index > 0 { out += "," }
            out += "\"" + escape(feature.0) + "\":"
            out += feature.1.isFinite ? "\(feature.1)" : "null"
        }
        return out + "}"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
