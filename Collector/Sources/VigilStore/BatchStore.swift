// Vigil collector store: the one protocol both the embedded (SQLite) and the production (PostgreSQL) store implement.
// Spec: issue 3 §3 (Deduper) and §6 (Store); ../../../../shared/DESIGN.md "Store".

/// Where batches become durable, exactly once.
///
/// Both implementations keep the per-agent sequence high-water mark in the *same* transaction as the batch's bronze
/// row, silver bars and detections, so a batch either takes effect completely with its sequence recorded, or not at
/// all. That is what turns the agent's at-least-once delivery into exactly-once effect (DESIGN.md, Batcher/Spool/Shipper).
/// The same test suite (`Tests/StoreTests`) runs on both implementations. Every store is also the Tier-2 model
/// registry (`ModelRegistry`), so models live next to the alerts and feedback they are trained on.
public protocol BatchStore: AlertStore, ModelRegistry, Sendable {
    /// A short, bounded name used as the `store` metric label (`sqlite`, `postgres`).
    var kind: String { get }

    /// Applies every pending versioned migration (recorded in `schema_migrations`). Idempotent; call at start.
    func migrate() async throws

    /// Applies one batch all-or-nothing together with the dedupe high-water mark.
    ///
    /// - Returns: `.accepted(hwm)` when the batch took effect (hwm is now its sequence), `.duplicate(hwm)` when its
    ///   sequence was at or below the agent's high-water mark (nothing written, duplicate counted).
    /// - Throws: `StoreError` when the batch was rejected (constraint violation, bad data) or the database failed; in
    ///   that case nothing of the batch is visible and the high-water mark did not move.
    func apply(_ batch: StoredBatch) async throws -> ApplyOutcome

    /// Records a batch the collector refused (bad body, failed validation, constraint violation), for audit and for
    /// `StoreStats.rejected`. The store normalises the text it keeps (see `RejectedBatch`).
    func recordRejection(_ rejection: RejectedBatch) async throws

    /// Every agent's high-water mark (`agent_sequences`), so the collector can answer obvious duplicates from memory at
    /// start-up without a database round trip. An agent absent from the result has no accepted batch yet.
    func highWaterMarks() async throws -> [String: Int64]

    /// Counts read from the store (for `GET /v1/stats`).
    func stats() async throws -> StoreStats

    /// Bars of one symbol with `from <= ts < to` (milliseconds since the epoch), oldest first.
    func bars(symbol: String, from: Int64, to: Int64, limit: Int) async throws -> [StoredBar]

    /// The newest `limit` bars of one series (symbol and interval) before `before`, oldest first: the history a
    /// restarted collector rebuilds a series' detector and feature state from.
    func latestBars(symbol: String, intervalSeconds: Int32, before: Int64, limit: Int) async throws -> [StoredBar]

    /// One page of detections in `(ts, id)` order, filtered; `query.after` continues from a previous page's cursor.
    func detections(_ query: DetectionQuery) async throws -> DetectionPage

    /// Applies retention: removes bars and detections whose bar time is older than `cutoff` (ms since the epoch).
    ///
    /// PostgreSQL drops whole monthly partitions that end at or before `cutoff` (cheap, no vacuum); SQLite deletes
    /// rows. Returns a human-readable list of what was dropped (partition names or `table:rows`).
    func applyRetention(olderThan cutoff: Int64) async throws -> [String]

    /// Releases connections. The store must not be used afterwards.
    func close() async
}

// MARK: - Values

/// The outcome of `BatchStore.apply(_:)`; both carry the agent's high-water mark after the call (what the receiver
/// acknowledges to the agent).
public enum ApplyOutcome: Sendable, Hashable {
    case accepted(highWaterMark: Int64)
    case duplicate(highWaterMark: Int64)

    /// The bounded `outcome` metric label.
    public var label: String {
        switch self {
        case .accepted: "accepted"
        case .duplicate: "duplicate"
        }
    }

    public var highWaterMark: Int64 {
        switch self {
        case .accepted(let hwm), .duplicate(let hwm): hwm
        }
    }
}

/// One agent batch as the store keeps it: bronze (raw bytes + metadata) and silver (bars, detections).
public struct StoredBatch: Sendable, Hashable {
    public var agentID: String
    /// The agent's batch sequence number; must be ≥ 0. Sequences at or below the high-water mark are duplicates.
    public var sequence: Int64
    /// When the collector received the batch, ms since the epoch.
    public var receivedAt: Int64
    /// The raw request body (bronze), kept so the batch can be replayed or audited later.
    public var payload: [UInt8]
    public var bars: [StoredBar]
    public var detections: [StoredDetection]
    /// Alerts raised or extended by this batch, stored (upserted by key) in the same transaction.
    public var alerts: [StoredAlert]

    public init(
        agentID: String,
        sequence: Int64,
        receivedAt: Int64,
        payload: [UInt8] = [],
        bars: [StoredBar] = [],
        detections: [StoredDetection] = [],
        alerts: [StoredAlert] = []
    ) {
        self.agentID = agentID
        self.sequence = sequence
        self.receivedAt = receivedAt
        self.payload = payload
        self.bars = bars
        self.detections = detections
        self.alerts = alerts
    }
}

/// A silver bar. `timestamp` is the bar's open time in ms since the epoch (as `VigilDetection.Bar`).
public struct StoredBar: Sendable, Hashable {
    public var symbol: String
    public var intervalSeconds: Int32
    public var timestamp: Int64
    public var open: Double
    public var high: Double
    public var low: Double
    public var close: Double
    public var volume: Double
    /// The feed the bar came from (`yahoo`, `synthetic`, `ingest`, ...).
    public var feed: String
    public var agentID: String

    public init(
        symbol: String,
        intervalSeconds: Int32,
        timestamp: Int64,
        open: Double,
        high: Double,
        low: Double,
        close: Double,
        volume: Double,
        feed: String,
        agentID: String
    ) {
        self.symbol = symbol
        self.intervalSeconds = intervalSeconds
        self.timestamp = timestamp
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.feed = feed
        self.agentID = agentID
    }
}

/// A silver detection (Tier-1 from the agent or Tier-2 from the collector).
public struct StoredDetection: Sendable, Hashable {
    /// Store-assigned id, `0` until stored. Together with `timestamp` it is the pagination key.
    public var id: Int64
    public var symbol: String
    /// Bar time, ms since the epoch.
    public var timestamp: Int64
    public var tier: Int32
    public var detector: String
    public var score: Double
    public var severity: String
    public var anomalyScore: Double?
    /// The features that drove the detection, as a JSON object. Must be valid JSON (both stores check it).
    public var featuresJSON: String
    /// W3C trace id (32 hex) and span id (16 hex) of the bar that raised it, so dashboards can link to Jaeger.
    public var traceID: String?
    public var spanID: String?

    public init(
        id: Int64 = 0,
        symbol: String,
        timestamp: Int64,
        tier: Int32,
        detector: String,
        score: Double,
        severity: String,
        anomalyScore: Double? = nil,
        featuresJSON: String = "{}",
        traceID: String? = nil,
        spanID: String? = nil
    ) {
        self.id = id
        self.symbol = symbol
        self.timestamp = timestamp
        self.tier = tier
        self.detector = detector
        self.score = score
        self.severity = severity
        self.anomalyScore = anomalyScore
        self.featuresJSON = featuresJSON
        self.traceID = traceID
        self.spanID = spanID
    }
}

/// Counts for `GET /v1/stats`. Bars/detections count everything ever written (retention does not decrement them).
public struct StoreStats: Sendable, Hashable {
    public var bars: Int64
    public var detections: Int64
    public var batchesAccepted: Int64
    public var duplicates: Int64
    public var agents: Int64
    /// Alerts currently stored (an updated episode counts once).
    public var alerts: Int64
    /// Rejected batches recorded with `BatchStore.recordRejection(_:)`.
    public var rejected: Int64

    public init(
        bars: Int64 = 0,
        detections: Int64 = 0,
        batchesAccepted: Int64 = 0,
        duplicates: Int64 = 0,
        agents: Int64 = 0,
        alerts: Int64 = 0,
        rejected: Int64 = 0
    ) {
        self.alerts = alerts
        self.rejected = rejected
        self.bars = bars
        self.detections = detections
        self.batchesAccepted = batchesAccepted
        self.duplicates = duplicates
        self.agents = agents
    }
}

/// A batch the collector refused, kept for audit (`rejected_batches`); never part of the exactly-once data.
///
/// The store keeps at most `maxMessageBytes` of `message` (cut at a character boundary), at most `maxAgentIDBytes` of
/// `agentID` and `maxCodeBytes` of `code`, drops NUL characters (PostgreSQL text cannot hold them) and clamps a negative
/// `bodyBytes` to 0: a rejection comes from untrusted input and recording it must not fail on that input.
public struct RejectedBatch: Sendable, Hashable {
    /// The agent id from the request, or empty when it could not be determined (an undecodable body).
    public var agentID: String
    /// When the collector received the batch, ms since the epoch.
    public var receivedAt: Int64
    /// A short, bounded reason (`decode_error`, `invalid_batch`, `constraint_violation`, ...).
    public var code: String
    /// Human-readable detail.
    public var message: String
    /// Size of the request body as received.
    public var bodyBytes: Int

    public static let maxMessageBytes = 1024
    public static let maxAgentIDBytes = 256
    public static let maxCodeBytes = 64

    public init(agentID: String, receivedAt: Int64, code: String, message: String, bodyBytes: Int) {
        self.agentID = agentID
        self.receivedAt = receivedAt
        self.code = code
        self.message = message
        self.bodyBytes = bodyBytes
    }

    /// What the stores write: the limits above applied.
    package var normalized: RejectedBatch {
        RejectedBatch(
            agentID: Self.clean(agentID, maxBytes: Self.maxAgentIDBytes),
            receivedAt: receivedAt,
            code: Self.clean(code, maxBytes: Self.maxCodeBytes),
            message: Self.clean(message, maxBytes: Self.maxMessageBytes),
            bodyBytes: max(bodyBytes, 0)
        )
    }

    /// Drops NUL and keeps whole characters (grapheme clusters) while they fit in `maxBytes` of UTF-8, so a cut never
    /// splits a multi-byte scalar or a combining sequence. Stops at the limit: a megabyte message costs 1 KiB of work.
    static func clean(_ text: String, maxBytes: Int) -> String {
        if text.utf8.count <= maxBytes && !text.utf8.contains(0) { return text }
        var kept = ""
        var bytes = 0
        // NUL is a control character, which always forms a grapheme cluster of its own (UAX #29, GB4/GB5).
        for character in text where character != "\u{0}" {
            let size = character.utf8.count
            if bytes + size > maxBytes { break }
            kept.append(character)
            bytes += size
        }
        return kept
    }
}

/// Keyset pagination cursor: the `(timestamp, id)` of the last detection of the previous page.
///
/// Keyset (not OFFSET) so that a page costs the same however deep it is and rows inserted meanwhile never shift pages.
/// Its string form (`"<ts>.<id>"`) is what the API hands out as an opaque cursor.
public struct DetectionCursor: Sendable, Hashable, LosslessStringConvertible {
    public var timestamp: Int64
    public var id: Int64

    public init(timestamp: Int64, id: Int64) {
        self.timestamp = timestamp
        self.id = id
    }

    public init?(_ description: String) {
        let parts = description.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let ts = Int64(parts[0]), let id = Int64(parts[1]) else { return nil }
        self.init(timestamp: ts, id: id)
    }

    public var description: String { "\(timestamp).\(id)" }
}

/// Filters for `BatchStore.detections(_:)`. `from` is inclusive, `to` exclusive (ms since the epoch).
public struct DetectionQuery: Sendable, Hashable {
    public var symbol: String?
    public var detector: String?
    public var tier: Int32?
    public var from: Int64?
    public var to: Int64?
    public var after: DetectionCursor?
    /// Page size, clamped to 1...10_000.
    public var limit: Int

    public init(
        symbol: String? = nil,
        detector: String? = nil,
        tier: Int32? = nil,
        from: Int64? = nil,
        to: Int64? = nil,
        after: DetectionCursor? = nil,
        limit: Int = 100
    ) {
        self.symbol = symbol
        self.detector = detector
        self.tier = tier
        self.from = from
        self.to = to
        self.after = after
        self.limit = limit
    }

    var clampedLimit: Int { min(max(limit, 1), 10_000) }
}

/// One page of detections; `nextCursor` is nil on the last page.
public struct DetectionPage: Sendable, Hashable {
    public var items: [StoredDetection]
    public var nextCursor: DetectionCursor?

    public init(items: [StoredDetection], nextCursor: DetectionCursor?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

// MARK: - Validation shared by both stores

extension StoredBatch {
    /// 0001-01-01T00:00:00Z ..< 10000-01-01T00:00:00Z in ms.
    static let validTimestamps: Range<Int64> = -62_135_596_800_000..<253_402_300_800_000

    /// Checks what the database cannot express cheaply. Values (NaN, negative prices, bad JSON) are left to the
    /// tables' CHECK constraints so that a bad row fails the whole transaction the same way in both stores.
    func validate() throws(StoreError) {
        guard !agentID.isEmpty, agentID.utf8.count <= 256 else {
            throw StoreError(.invalidBatch, "agent id must be 1...256 bytes")
        }
        guard sequence >= 0 else { throw StoreError(.invalidBatch, "sequence must be >= 0, got \(sequence)") }
        // Bar times outside years 1...9999 are garbage, and would overflow the month arithmetic behind partitions.
        for bar in bars where !StoredBatch.validTimestamps.contains(bar.timestamp) {
            throw StoreError(.invalidBatch, "bar time \(bar.timestamp) outside years 1...9999")
        }
        for d in detections where !StoredBatch.validTimestamps.contains(d.timestamp) {
            throw StoreError(.invalidBatch, "detection time \(d.timestamp) outside years 1...9999")
        }
        // NUL cannot be stored in PostgreSQL text and would be silently cut by C-string readers: refuse it in both
        // stores so they behave the same.
        func hasNUL(_ s: String) -> Bool { s.utf8.contains(0) }
        if hasNUL(agentID) { throw StoreError(.invalidBatch, "agent id contains NUL") }
        // Consecutive bars share their series' symbol, feed and agent: check each distinct run once, not per bar.
        var checked: (symbol: String, feed: String, agent: String)?
        for bar in bars where checked.map({ $0.symbol != bar.symbol || $0.feed != bar.feed || $0.agent != bar.agentID }) ?? true {
            if hasNUL(bar.symbol) || hasNUL(bar.feed) || hasNUL(bar.agentID) {
                throw StoreError(.invalidBatch, "bar text field contains NUL")
            }
            checked = (bar.symbol, bar.feed, bar.agentID)
        }
        for d in detections
        where hasNUL(d.symbol) || hasNUL(d.detector) || hasNUL(d.severity) || hasNUL(d.featuresJSON) || hasNUL(d.traceID ?? "")
            || hasNUL(d.spanID ?? "")
        {
            throw StoreError(.invalidBatch, "detection text field contains NUL")
        }
        for alert in alerts { try alert.validate() }
    }
}
