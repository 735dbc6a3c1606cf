import Foundation
import SwiftProtobuf
import VigilConfig
import VigilDetection
import VigilTelemetry
import VigilWire

/// When the batcher seals a batch. Keys: `max_bars`, `max_age_ms`, `max_detections`.
public struct BatcherConfiguration: Codable, Sendable, Equatable {
    /// Seal once this many bars are waiting. Default 5000 (about 200 KB encoded, 40 B per bar): large enough that the
    /// per-request cost vanishes, small enough that a retry resends little.
    public var maxBars: Int = 5000
    /// Seal a non-empty batch once its first bar has waited this long, in milliseconds. Default 1000: detections reach
    /// the collector within about a second at low data rates.
    public var maxAgeMs: Int = 1000
    /// Seal once this many detections are waiting. Default 2000.
    public var maxDetections: Int = 2000

    public init() {}

    public init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = BatcherConfiguration()
        maxBars = try container.decodeIfPresent(Int.self, forKey: .maxBars) ?? defaults.maxBars
        maxAgeMs = try container.decodeIfPresent(Int.self, forKey: .maxAgeMs) ?? defaults.maxAgeMs
        maxDetections = try container.decodeIfPresent(Int.self, forKey: .maxDetections) ?? defaults.maxDetections
    }

    public func validationProblems(path: String) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if !(1...1_000_000).contains(maxBars) {
            problems.append(ConfigProblem(path: "\(path).max_bars", message: "must be between 1 and 1000000, got \(maxBars)"))
        }
        if !(1...3_600_000).contains(maxAgeMs) {
            problems.append(ConfigProblem(path: "\(path).max_age_ms", message: "must be between 1 and 3600000, got \(maxAgeMs)"))
        }
        if !(1...1_000_000).contains(maxDetections) {
            problems.append(ConfigProblem(path: "\(path).max_detections", message: "must be between 1 and 1000000, got \(maxDetections)"))
        }
        return problems
    }
}

/// Accumulates bars (columnar, per symbol, interval and feed), detections and corporate actions until a size or age
/// limit says the batch is due, then encodes one `vigil.v1.Batch`. Owned by one task; not thread-safe by design.
public struct Batcher {
    public enum Trigger: String, Sendable {
        case size, age, shutdown, flush
        /// A batch of spans only, sealed at shutdown (`AgentPipeline.sealRecordedSpans`).
        case spans
    }

    struct SeriesKey: Hashable {
        var symbol: String
        var interval: Int32
        var feed: String
    }

    struct Columns {
        var timestamps: [Int64] = []
        var open: [Double] = []
        var high: [Double] = []
        var low: [Double] = []
        var close: [Double] = []
        var volume: [Double] = []
        var scores: [Float] = []

        var isEmpty: Bool { timestamps.isEmpty }

        /// Empties the columns but keeps their capacity, so the next batch of a steady feed appends without
        /// reallocating (the per-bar hot path stays allocation-free; only sealing allocates, per series).
        mutating func clear() {
            timestamps.removeAll(keepingCapacity: true)
            open.removeAll(keepingCapacity: true)
            high.removeAll(keepingCapacity: true)
            low.removeAll(keepingCapacity: true)
            close.removeAll(keepingCapacity: true)
            volume.removeAll(keepingCapacity: true)
            scores.removeAll(keepingCapacity: true)
        }

        mutating func appendNoting(_ bar: Bar, score: Float, wasEmpty: inout Bool) {
            wasEmpty = timestamps.isEmpty
            append(bar, score: score)
        }

        mutating func append(_ bar: Bar, score: Float) {
            timestamps.append(bar.timestamp)
            open.append(bar.open)
            high.append(bar.high)
            low.append(bar.low)
            close.append(bar.close)
            volume.append(bar.volume)
            scores.append(score)
        }
    }

    public var configuration: BatcherConfiguration
    /// Columns per series, kept across batches (cleared, not dropped) so their storage is reused.
    private var series: [SeriesKey: Columns] = [:]
    /// Series with bars in the pending batch, in first-seen order.
    private var order: [SeriesKey] = []
    private var detections: [Vigil_V1_Detection] = []
    private var actions: [Vigil_V1_CorporateAction] = []
    public private(set) var barCount = 0
    private var openedAt: ContinuousClock.Instant?
    /// Trace context of the first detection (else the first poll) in the batch: the seal and ship spans join that trace,
    /// so the trace of an alert's bar runs from the feed poll through the collector.
    public private(set) var leadTrace: SpanContext?
    private var leadTraceHasDetection = false
    /// The traces of the batch's other detections (distinct detect spans, at most `maxLinkedTraces`): the seal span links
    /// to them, so every detection's trace leads to the batch that delivered it, not only the lead's.
    public private(set) var linkedTraces: [SpanContext] = []
    public static let maxLinkedTraces = 32
    /// The newest bar per series of the batch sealed last (for the resume checkpoint).
    public private(set) var lastSealedPositions: [SeriesPosition] = []

    public init(configuration: BatcherConfiguration) {
        self.configuration = configuration
    }

    public var isEmpty: Bool { barCount == 0 && detections.isEmpty && actions.isEmpty }

    public mutating func add(_ bar: Bar, feed: String, anomalyScore: Double) {
        let key = SeriesKey(symbol: bar.symbol, interval: bar.intervalSeconds, feed: feed)
        // One hash lookup per bar: the `_modify` accessor appends in place.
        var isNew = false
        series[key, default: Columns()].appendNoting(bar, score: Float(anomalyScore), wasEmpty: &isNew)
        if isNew { order.append(key) }
        barCount += 1
        if openedAt == nil { openedAt = .now }
    }

    public mutating func add(_ detection: Detection, intervalSeconds: Int32, anomalyScore: Double, trace: SpanContext?) {
        var wire = Vigil_V1_Detection()
        wire.symbol = detection.symbol
        wire.timestampMs = detection.timestamp
        wire.intervalSeconds = intervalSeconds
        wire.detector = detection.detector.rawValue
        wire.score = detection.statistic
        wire.severity = detection.severity.wire
        wire.anomalyScore = anomalyScore
        wire.tier = .tier1
        wire.features = detection.features.map { feature in
            var wireFeature = Vigil_V1_Feature()
            wireFeature.name = feature.name
            wireFeature.value = feature.value
            return wireFeature
        }
        if let trace {
            wire.traceID = Data(trace.traceIDBytes)
            wire.spanID = Data(trace.spanIDBytes)
            if !leadTraceHasDetection {
                leadTrace = trace
                leadTraceHasDetection = true
            } else if trace != leadTrace, linkedTraces.count < Self.maxLinkedTraces, !linkedTraces.contains(trace) {
                linkedTraces.append(trace)
            }
        }
        detections.append(wire)
        if openedAt == nil { openedAt = .now }
    }

    public mutating func add(_ action: Vigil_V1_CorporateAction) {
        actions.append(action)
        if openedAt == nil { openedAt = .now }
    }

    /// Records the trace of a poll whose bars are in this batch (used when the batch has no detection).
    public mutating func notePoll(trace: SpanContext?) {
        if leadTrace == nil { leadTrace = trace }
    }

    /// Whether a size limit is reached.
    public var isFull: Bool { barCount >= configuration.maxBars || detections.count >= configuration.maxDetections }

    /// Whether the oldest content has waited `max_age_ms`.
    public func isDue(now: ContinuousClock.Instant = .now) -> Bool {
        guard let openedAt else { return false }
        return now - openedAt >= .milliseconds(configuration.maxAgeMs)
    }

    /// Time until the age limit, for the flush timer; nil when empty.
    public func timeUntilDue(now: ContinuousClock.Instant = .now) -> Duration? {
        guard let openedAt else { return nil }
        return max(.zero, .milliseconds(configuration.maxAgeMs) - (now - openedAt))
    }

    /// Encodes the pending content as one batch and empties the batcher.
    public mutating func seal(
        agentID: String, agentVersion: String, sequence: UInt64, configVersion: String,
        spans: [Opentelemetry_Proto_Trace_V1_ResourceSpans], traceparent: String
    ) throws -> SpooledBatch {
        var batch = Vigil_V1_Batch()
        batch.agentID = agentID
        batch.agentVersion = agentVersion
        batch.sequence = sequence
        batch.configVersion = configVersion
        batch.createdUnixNanos = Int64(Date().timeIntervalSince1970 * 1e9)
        batch.traceparent = traceparent
        batch.series.reserveCapacity(order.count)
        lastSealedPositions.removeAll(keepingCapacity: true)
        for key in order {
            guard let columns = series[key], !columns.isEmpty else { continue }
            if let newest = columns.timestamps.max() {
                lastSealedPositions.append(SeriesPosition(feed: key.feed, symbol: key.symbol, timestamp: newest))
            }
            var wire = Vigil_V1_Series()
            wire.symbol = key.symbol
            wire.intervalSeconds = key.interval
            wire.feed = key.feed
            var deltas = columns.timestamps
            var previous: Int64 = 0
            for index in deltas.indices {
                let timestamp = deltas[index]
                deltas[index] = timestamp &- previous
                previous = timestamp
            }
            wire.timestampDeltasMs = deltas
            wire.open = columns.open
            wire.high = columns.high
            wire.low = columns.low
            wire.close = columns.close
            wire.volume = columns.volume
            wire.anomalyScores = columns.scores
            batch.series.append(wire)
        }
        batch.detections = detections
        batch.corporateActions = actions
        batch.resourceSpans = spans
        let bytes: [UInt8] = try batch.serializedBytes()
        let sealed = SpooledBatch(traceparent: traceparent, barCount: barCount, batch: bytes)
        batch = Vigil_V1_Batch()  // release the shared column buffers before clearing, so clearing does not copy
        for key in order { series[key]?.clear() }
        order.removeAll(keepingCapacity: true)
        detections.removeAll(keepingCapacity: true)
        actions.removeAll(keepingCapacity: true)
        barCount = 0
        openedAt = nil
        leadTrace = nil
        leadTraceHasDetection = false
        linkedTraces.removeAll(keepingCapacity: true)
        return sealed
    }
}

extension Severity {
    var wire: Vigil_V1_Severity {
        switch self {
        case .info: .info
        case .warning: .warning
        case .critical: .critical
        }
    }
}
