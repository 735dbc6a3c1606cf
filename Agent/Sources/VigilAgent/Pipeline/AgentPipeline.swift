import Foundation
import Logging
import Metrics
import Tracing
import VigilDetection
import VigilFeeds
import VigilSpool
import VigilTelemetry
import VigilWire

/// Normalizer → Features/Tier-1 → Batcher → Spool, for every feed of the agent.
///
/// An actor: feeds run concurrently, but each series' detector state and the batch being built have one owner, so
/// per-symbol order holds without locks. A sealed batch is appended to the spool before anything else happens; when
/// the spool is full under `when_full: block`, that append waits, which holds this actor's callers — the feeds —
/// back: the agent's backpressure.
public actor AgentPipeline {
    public struct Identity: Sendable {
        public var agentID: String
        public var agentVersion: String
        public var configVersion: String
        public init(agentID: String, agentVersion: String, configVersion: String) {
            self.agentID = agentID
            self.agentVersion = agentVersion
            self.configVersion = configVersion
        }
    }

    private var identity: Identity
    /// One normalizer per feed: its per-symbol clock must not make two feeds of the same symbol reject each other.
    private var normalizers: [String: Normalizer] = [:]
    private var normalizerConfiguration: NormalizerConfiguration
    private var engine: DetectionEngine
    private var batcher: Batcher
    private var sequences: SequenceAllocator
    private let spool: Spool
    private let deadLetters: DeadLetterQueue?
    private let tracer: VigilTracer
    private let onSealed: @Sendable () -> Void
    private let checkpoint: ResumeCheckpoint?
    /// Where the Tier-1 state is persisted (nil: not persisted) and how often at most.
    private let detectorStatePath: String?
    private let detectorSnapshotInterval: Duration
    private var lastDetectorSnapshot = ContinuousClock.now
    private let logger: Logger
    private let maxSpansPerBatch: Int
    private let metrics = PipelineMetrics()
    /// Sealed batches not yet in the spool (an append was interrupted); appended before anything newer.
    private var unspooled: [(sequence: UInt64, payload: [UInt8], positions: [SeriesPosition])] = []
    /// The actor is re-entrant at every `await`; this FIFO lock keeps one ingest/seal/flush at a time, so a spool
    /// append that waits for space holds every feed back instead of letting the others pile up sealed batches.
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    private func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }

    public init(
        identity: Identity, normalizer: NormalizerConfiguration, detectors: DetectorConfig, batcher: BatcherConfiguration,
        sequences: SequenceAllocator,
        spool: Spool, deadLetters: DeadLetterQueue?, checkpoint: ResumeCheckpoint? = nil, detectorStatePath: String? = nil,
        detectorSnapshotSeconds: Int = 60, tracer: VigilTracer, maxSpansPerBatch: Int = 512, logger: Logger,
        onSealed: @escaping @Sendable () -> Void
    ) {
        self.identity = identity
        self.normalizerConfiguration = normalizer
        self.engine = DetectionEngine(configuration: detectors)
        self.batcher = Batcher(configuration: batcher)
        self.sequences = sequences
        self.spool = spool
        self.deadLetters = deadLetters
        self.checkpoint = checkpoint
        self.detectorStatePath = DetectorSnapshot.isSupported && detectorSnapshotSeconds > 0 ? detectorStatePath : nil
        self.detectorSnapshotInterval = .seconds(max(1, detectorSnapshotSeconds))
        self.tracer = tracer
        self.maxSpansPerBatch = maxSpansPerBatch
        self.logger = logger
        self.onSealed = onSealed
    }

    /// Runs one feed poll through the pipeline. `context` is the poll span's context: the normalize and detect spans
    /// are its children, and each detection carries the detect span's ids.
    public func ingest(_ poll: FeedPoll, feed: String, context: ServiceContext) async throws {
        await acquire()
        defer { release() }
        let poll = skipDurable(poll, feed: feed)
        // The normalizer opens its own span; running it inside the poll's context makes that span the poll's child.
        var normalizer = normalizers.removeValue(forKey: feed) ?? Normalizer(configuration: normalizerConfiguration)
        let normalized = ServiceContext.withValue(context) {
            normalizer.normalize(poll, feed: feed, deadLetters: deadLetters)
        }
        normalizers[feed] = normalizer
        for event in poll.events { batcher.add(event.wire) }
        guard !normalized.bars.isEmpty else { return }
        let detectSpan = tracer.startSpan("agent.detector.detect", context: context)
        let trace = detectSpan.spanContext
        batcher.notePoll(trace: context.spanContext)
        let started = ContinuousClock.now
        var detectionCount = 0
        for bar in normalized.bars {
            let score = engine.score(bar)
            batcher.add(bar, feed: feed, anomalyScore: score.anomalyScore)
            if score.isAlert {
                for detection in score.detections(symbol: bar.symbol, timestamp: bar.timestamp) {
                    batcher.add(detection, intervalSeconds: bar.intervalSeconds, anomalyScore: score.anomalyScore, trace: trace)
                    metrics.detections[detection.detector.index].increment()
                    detectionCount += 1
                }
            }
            if batcher.isFull { try await seal(trigger: .size) }
        }
        metrics.detectDuration.recordDuration(since: started)
        metrics.barsProcessed.increment(by: normalized.bars.count)
        detectSpan.attributes["vigil.bars"] = normalized.bars.count
        detectSpan.attributes["vigil.detections"] = detectionCount
        detectSpan.end()
        if batcher.isDue() { try await seal(trigger: .age) }
    }

    /// Seals the pending batch when its age limit passed; the runtime calls this on a timer.
    public func sealIfDue() async throws {
        await acquire()
        defer { release() }
        if batcher.isDue() { try await seal(trigger: .age) }
    }

    /// Time until the pending batch is due, nil when nothing is pending.
    public func timeUntilDue() -> Duration? { batcher.timeUntilDue() }

    /// Seals whatever is pending (SIGTERM, end of a finite feed) and forces it to disk.
    public func flush(trigger: Batcher.Trigger = .flush) async throws {
        await acquire()
        defer { release() }
        if !batcher.isEmpty { try await seal(trigger: trigger) } else { try await appendUnspooled() }
        try spool.flush()
        if unspooled.isEmpty { saveDetectorState() }
    }

    /// Loads the persisted Tier-1 state, if it belongs to this build; returns the number of series restored.
    public func restoreDetectorState() -> Int {
        guard let detectorStatePath, let data = FileManager.default.contents(atPath: detectorStatePath) else { return 0 }
        guard let states = DetectorSnapshot.decode([UInt8](data), configuration: engine.configuration) else {
            logger.notice(
                "Detector state file is from another build or damaged; series warm up again.", metadata: ["state.path": "\(detectorStatePath)"])
            return 0
        }
        engine.restore(states)
        return states.count
    }

    /// Writes the Tier-1 state. Called only when every processed bar is in a durable batch, so the state matches the
    /// resume checkpoint (bars skipped after a restart were already folded in, or belong to a later, lost snapshot).
    private func saveDetectorState() {
        guard let detectorStatePath else { return }
        lastDetectorSnapshot = .now
        let bytes = DetectorSnapshot.encode(engine.snapshotStates(), configuration: engine.configuration)
        do {
            try StateFile.write(bytes, to: detectorStatePath, sync: false)
        } catch {
            logger.warning("Cannot save the detector state.", metadata: ["state.path": "\(detectorStatePath)", "error.message": "\(error)"])
        }
    }

    /// Bars sealed but not yet durable (an append was interrupted, e.g. by shutdown while the spool was full).
    public var unspooledBatches: Int { unspooled.count }

    public func reconfigure(detectors: DetectorConfig, batcher configuration: BatcherConfiguration, configVersion: String) {
        engine.reconfigure(detectors)
        batcher.configuration = configuration
        identity.configVersion = configVersion
    }

    public var seriesCount: Int { engine.seriesCount }

    private func seal(trigger: Batcher.Trigger) async throws {
        var context = ServiceContext.topLevel
        context.spanContext = batcher.leadTrace
        let span = tracer.startSpan("agent.batcher.seal", context: context)
        for linked in batcher.linkedTraces {
            var linkedContext = ServiceContext.topLevel
            linkedContext.spanContext = linked
            span.addLink(SpanLink(context: linkedContext, attributes: [:]))
        }
        let sequence = try sequences.allocate()
        span.attributes["vigil.batch.sequence"] = Int64(truncatingIfNeeded: sequence)
        span.attributes["vigil.batch.trigger"] = trigger.rawValue
        span.attributes["vigil.batch.bars"] = batcher.barCount
        // The seal span itself ends before encoding, so it travels in this batch; the spool append and ship spans
        // (children of it) ride in a later one.
        span.end()
        let sealed = try batcher.seal(
            agentID: identity.agentID, agentVersion: identity.agentVersion, sequence: sequence, configVersion: identity.configVersion,
            spans: drainRecordedSpans(), traceparent: span.spanContext.traceparent)
        metrics.sealed(trigger).increment()
        metrics.batchBars.record(sealed.barCount)
        metrics.batchBytes.record(sealed.batch.count)
        unspooled.append((sequence, sealed.encoded(), batcher.lastSealedPositions))
        let appendSpan = tracer.startSpan("agent.spool.append", context: span.context)
        defer { appendSpan.end() }
        do {
            try await appendUnspooled()
            // The batcher is empty and everything processed is durable: a consistent moment for the state file.
            if batcher.isEmpty && ContinuousClock.now - lastDetectorSnapshot >= detectorSnapshotInterval { saveDetectorState() }
        } catch {
            appendSpan.recordError(error)
            if !(error is CancellationError) {
                logger.error("Cannot append a batch to the spool.", metadata: ["batch.sequence": "\(sequence)", "error.message": "\(error)"])
            }
            throw error
        }
    }

    /// Seals the spans still in the recorder into a batch of their own, with no bars, and spools it; nil when there are
    /// none (or tracing is off, or bars are pending). For shutdown, once the collector acknowledged everything: a
    /// batch's spool-append and send spans ride in the next batch, and after the last batch there is no next one.
    /// It records no span of its own, so it leaves nothing behind.
    public func sealRecordedSpans() async throws -> UInt64? {
        await acquire()
        defer { release() }
        guard maxSpansPerBatch > 0, batcher.isEmpty, unspooled.isEmpty, tracer.recorder.count > 0 else { return nil }
        let sequence = try sequences.allocate()
        let sealed = try batcher.seal(
            agentID: identity.agentID, agentVersion: identity.agentVersion, sequence: sequence, configVersion: identity.configVersion,
            spans: drainRecordedSpans(), traceparent: "")
        metrics.sealed(.spans).increment()
        metrics.batchBytes.record(sealed.batch.count)
        unspooled.append((sequence, sealed.encoded(), batcher.lastSealedPositions))
        try await appendUnspooled()
        try spool.flush()
        return sequence
    }

    /// Up to `maxSpansPerBatch` finished spans, under the agent's resource, for the batch being sealed.
    private func drainRecordedSpans() -> [Opentelemetry_Proto_Trace_V1_ResourceSpans] {
        let spans = tracer.recorder.drain(limit: maxSpansPerBatch)
        guard !spans.isEmpty else { return [] }
        return [
            Opentelemetry_Proto_Trace_V1_ResourceSpans(
                spans: spans,
                resource: [
                    ("service.name", "vigil-agent"), ("service.version", identity.agentVersion), ("vigil.agent.id", identity.agentID),
                ], scope: "vigil-agent", version: identity.agentVersion)
        ]
    }

    /// Drops records at or before the feed's durable position (already sealed before a restart), counting them.
    private func skipDurable(_ poll: FeedPoll, feed: String) -> FeedPoll {
        guard let checkpoint, !checkpoint.isEmpty else { return poll }
        let positions = checkpoint.positions(feed: feed)
        guard !positions.isEmpty else { return poll }
        var kept = poll
        kept.records.removeAll { record in
            guard let bar = record.bar, let position = positions[bar.symbol] else { return false }
            return bar.timestamp <= position
        }
        let skipped = poll.records.count - kept.records.count
        if skipped > 0 { metrics.resumeSkipped(feed).increment(by: skipped) }
        return kept
    }

    private func appendUnspooled() async throws {
        while let first = unspooled.first {
            try await spool.append(id: first.sequence, payload: first.payload)
            unspooled.removeFirst()
            do {
                try checkpoint?.recordDurable(sequence: first.sequence, positions: first.positions)
            } catch {
                // The batch is safe in the spool; only a restart could re-read its bars. Keep going, loudly.
                logger.error("Cannot write the resume checkpoint.", metadata: ["error.message": "\(error)"])
            }
            onSealed()
        }
    }
}

struct PipelineMetrics: Sendable {
    let detections = DetectorKind.allCases.map { Counter(label: MetricName.detections, dimensions: [("detector", $0.rawValue)]) }
    let barsProcessed = Counter(label: MetricName.barsProcessed)
    let detectDuration = Metrics.Timer(label: MetricName.detectDuration)
    let batchBars = Recorder(label: MetricName.batchBars)
    let batchBytes = Recorder(label: MetricName.batchBytes)

    func resumeSkipped(_ feed: String) -> Counter { Counter(label: MetricName.resumeSkipped, dimensions: [("feed", feed)]) }

    func sealed(_ trigger: Batcher.Trigger) -> Counter {
        Counter(label: MetricName.batchesSealed, dimensions: [("trigger", trigger.rawValue)])
    }
}

extension DetectorKind {
    var index: Int { DetectorKind.allCases.firstIndex(of: self) ?? 0 }
}

extension CorporateEvent {
    var wire: Vigil_V1_CorporateAction {
        var action = Vigil_V1_CorporateAction()
        action.symbol = symbol
        action.timestampMs = timestamp
        switch kind {
        case .split(let numerator, let denominator):
            action.kind = .split
            action.value = denominator == 0 ? 0 : numerator / denominator
            action.description_p = "\(numerator):\(denominator)"
        case .dividend(let amount):
            action.kind = .dividend
            action.value = amount
        }
        return action
    }
}

extension Metrics.Timer {
    /// Records the time elapsed since `start` on the monotonic clock.
    func recordDuration(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
