// Vigil collector store: the embedded default (issue 3 §6), SQLite in the data directory, zero setup.
import CSQLite
import CoreMetrics
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The embedded `BatchStore`: one SQLite file (`vigil.sqlite`) in WAL mode with `synchronous=FULL`.
///
/// One connection behind a `Mutex` makes this process a single writer; every batch runs in one `BEGIN IMMEDIATE`
/// transaction, which takes SQLite's write lock up front, so the high-water-mark read and its update can never
/// interleave with another writer (another process, or a second store on the same file, waits on `busy_timeout`).
/// The calls are synchronous and short; they run on the store's I/O thread and never hold the lock across an `await`.
public final class SQLiteStore: BatchStore {
    public let kind = "sqlite"
    public let path: String
    private let connection: Mutex<SQLiteConnection?>
    /// One thread: SQLite has one writer anyway, and the FIFO job queue keeps callers from piling up on the mutex.
    private let io = BlockingIO(threads: 1)
    let logger: Logger
    private let metrics: StoreMetrics

    /// Opens (creating if needed) the database file at `path`. Call `migrate()` before use.
    /// - Parameters:
    ///   - busyTimeoutMilliseconds: how long a writer waits for another process's write lock before `.busy`.
    public init(
        path: String,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        busyTimeoutMilliseconds: Int32 = 10_000
    ) throws(StoreError) {
        self.path = path
        self.logger = logger
        self.metrics = StoreMetrics(store: "sqlite", factory: metricsFactory)
        self.connection = Mutex(try SQLiteConnection(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds))
    }

    /// Opens `<dataDirectory>/vigil.sqlite`, creating the directory if needed (the collector's zero-config default).
    public convenience init(
        dataDirectory: String,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(StoreError) {
        if mkdir(dataDirectory, 0o755) != 0 && errno != EEXIST {
            throw StoreError(.connectionFailed, "cannot create data directory \(dataDirectory) (errno \(errno))")
        }
        try self.init(path: dataDirectory + "/vigil.sqlite", logger: logger, metricsFactory: metricsFactory)
    }

    // MARK: Migrations

    /// Versioned schema. Never edit a released migration: append a new one.
    ///
    /// Bar times are INTEGER milliseconds (exact, as on the wire). CHECK constraints reject what the normalizer should
    /// already have rejected (NaN is stored by SQLite as NULL, so NOT NULL catches it; 9e999 is +Inf), so a bad row
    /// fails its whole batch instead of polluting silver.
    static let migrations: [(version: Int64, name: String, sql: String)] = [
        (
            1, "initial",
            """
            CREATE TABLE agent_sequences (
                agent_id TEXT PRIMARY KEY,
                high_water_mark INTEGER NOT NULL,
                batches_accepted INTEGER NOT NULL DEFAULT 0,
                duplicates INTEGER NOT NULL DEFAULT 0,
                bars INTEGER NOT NULL DEFAULT 0,
                detections INTEGER NOT NULL DEFAULT 0,
                updated_at_ms INTEGER NOT NULL
            );
            CREATE TABLE batches (
                agent_id TEXT NOT NULL,
                sequence INTEGER NOT NULL,
                received_at_ms INTEGER NOT NULL,
                payload BLOB NOT NULL,
                bar_count INTEGER NOT NULL,
                detection_count INTEGER NOT NULL,
                PRIMARY KEY (agent_id, sequence)
            );
            CREATE TABLE bars (
                symbol TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 64),
                interval_seconds INTEGER NOT NULL CHECK (interval_seconds > 0),
                ts_ms INTEGER NOT NULL,
                open REAL NOT NULL CHECK (open > 0 AND open < 9e999),
                high REAL NOT NULL CHECK (high > 0 AND high < 9e999),
                low REAL NOT NULL CHECK (low > 0 AND low < 9e999),
                close REAL NOT NULL CHECK (close > 0 AND close < 9e999),
                volume REAL NOT NULL CHECK (volume >= 0 AND volume < 9e999),
                feed TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                batch_sequence INTEGER NOT NULL,
                CHECK (high >= low AND close BETWEEN low AND high AND open BETWEEN low AND high)
            );
            CREATE INDEX bars_symbol_ts ON bars (symbol, ts_ms);
            CREATE INDEX bars_ts ON bars (ts_ms);
            CREATE TABLE detections (
                id INTEGER PRIMARY KEY,
                symbol TEXT NOT NULL,
                ts_ms INTEGER NOT NULL,
                tier INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 3),
                detector TEXT NOT NULL,
                score REAL NOT NULL,
                severity TEXT NOT NULL,
                anomaly_score REAL,
                features_json TEXT NOT NULL CHECK (json_valid(features_json)),
                trace_id TEXT,
                span_id TEXT,
                agent_id TEXT NOT NULL,
                batch_sequence INTEGER NOT NULL
            );
            CREATE INDEX detections_ts_id ON detections (ts_ms, id);
            CREATE INDEX detections_symbol_ts_id ON detections (symbol, ts_ms, id);
            """
        ),
        (
            2, "alerts_and_feedback",
            """
            CREATE TABLE alerts (
                id INTEGER PRIMARY KEY,
                alert_key TEXT NOT NULL UNIQUE,
                symbol TEXT NOT NULL,
                first_ts_ms INTEGER NOT NULL,
                last_ts_ms INTEGER NOT NULL,
                tier INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 3),
                kind TEXT NOT NULL,
                severity TEXT NOT NULL,
                score REAL NOT NULL CHECK (score >= 0 AND score <= 100),
                explanation TEXT NOT NULL,
                trace_id TEXT,
                span_id TEXT,
                updated_at_ms INTEGER NOT NULL,
                CHECK (last_ts_ms >= first_ts_ms)
            );
            CREATE INDEX alerts_first_ts_id ON alerts (first_ts_ms, id);
            CREATE INDEX alerts_symbol_first_ts_id ON alerts (symbol, first_ts_ms, id);
            CREATE TABLE alert_feedback (
                id INTEGER PRIMARY KEY,
                alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
                label TEXT NOT NULL CHECK (label IN ('true_positive', 'false_positive')),
                note TEXT NOT NULL,
                created_at_ms INTEGER NOT NULL
            );
            CREATE INDEX alert_feedback_alert_id ON alert_feedback (alert_id, id);
            """
        ),
        (
            3, "rejected_batches",
            """
            CREATE TABLE rejected_batches (
                id INTEGER PRIMARY KEY,
                agent_id TEXT NOT NULL,
                received_at_ms INTEGER NOT NULL,
                code TEXT NOT NULL,
                message TEXT NOT NULL,
                body_bytes INTEGER NOT NULL CHECK (body_bytes >= 0)
            );
            CREATE INDEX rejected_batches_received_at ON rejected_batches (received_at_ms);
            """
        ),
        (
            // The Tier-2 model registry (issue 4 §4; see ModelRegistry.swift). `json_type` is only evaluated on valid
            // JSON because it raises an error (not false) on malformed text. The partial unique index is what makes
            // "at most one champion per kind" hold whatever a writer does.
            4, "models",
            """
            CREATE TABLE models (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
                version INTEGER NOT NULL CHECK (version >= 1),
                feature_set_version INTEGER NOT NULL CHECK (feature_set_version >= 0),
                trained_from_ms INTEGER NOT NULL,
                trained_to_ms INTEGER NOT NULL,
                parameters TEXT NOT NULL CHECK (CASE WHEN json_valid(parameters) THEN json_type(parameters) = 'object' ELSE 0 END),
                metrics TEXT NOT NULL CHECK (CASE WHEN json_valid(metrics) THEN json_type(metrics) = 'object' ELSE 0 END),
                status TEXT NOT NULL CHECK (status IN ('challenger', 'champion', 'retired')),
                parent_id INTEGER REFERENCES models (id),
                created_at_ms INTEGER NOT NULL,
                created_by TEXT NOT NULL,
                promoted_at_ms INTEGER,
                promoted_by TEXT,
                artifact BLOB NOT NULL,
                artifact_sha256 TEXT NOT NULL CHECK (length(artifact_sha256) = 64),
                UNIQUE (kind, version),
                CHECK (trained_to_ms >= trained_from_ms),
                CHECK ((promoted_at_ms IS NULL) = (promoted_by IS NULL)),
                CHECK (status <> 'champion' OR promoted_at_ms IS NOT NULL)
            );
            CREATE UNIQUE INDEX models_one_champion_per_kind ON models (kind) WHERE status = 'champion';
            CREATE INDEX models_status_id ON models (status, id);
            """
        ),
    ]

    public func migrate() async throws {
        try await migrate(through: .max)
    }

    /// Applies pending migrations up to and including `version`; tests use it to build an older schema.
    package func migrate(through version: Int64) async throws {
        try await locked { [self] (conn) throws(StoreError) in
            try conn.exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)"
            )
            for migration in Self.migrations where migration.version <= version {
                try conn.exec("BEGIN IMMEDIATE")
                do throws(StoreError) {
                    let applied = try conn.query("SELECT 1 FROM schema_migrations WHERE version = ?", [.int(migration.version)])
                    if applied.isEmpty {
                        try conn.exec(migration.sql)
                        try conn.run(
                            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)",
                            [.int(migration.version), .text(migration.name), .int(wallClockMilliseconds())]
                        )
                        logger.info("Applied store migration.", metadata: ["store": "sqlite", "migration.version": "\(migration.version)"])
                    }
                    try conn.exec("COMMIT")
                } catch {
                    try? conn.exec("ROLLBACK")
                    throw StoreError(.migrationFailed, "migration \(migration.version) (\(migration.name)) failed: \(error.message)")
                }
            }
        }
    }

    // MARK: Apply

    public func apply(_ batch: StoredBatch) async throws -> ApplyOutcome {
        let start = ContinuousClock.now
        let result: Result<ApplyOutcome, StoreError>
        do throws(StoreError) {
            try batch.validate()
            result = .success(try await locked { (conn) throws(StoreError) -> ApplyOutcome in try Self.applyLocked(batch, conn) })
        } catch {
            result = .failure(error)
        }
        metrics.record(result, barCount: batch.bars.count, start: start)
        if case .failure(let error) = result {
            logger.warning(
                "Store rejected batch.",
                metadata: [
                    "store": "sqlite", "agent.id": "\(batch.agentID)", "batch.sequence": "\(batch.sequence)",
                    "error.type": "\(error.code)", "error.message": "\(error.message)",
                ]
            )
        }
        return try result.get()
    }

    /// One `BEGIN IMMEDIATE` transaction holds the whole batch: the high-water-mark check, the bronze row, bars,
    /// detections, alerts and the new high-water mark. With WAL and `synchronous=FULL` (checked when the connection
    /// opens) COMMIT returns only after the WAL, commit record included, is fsynced: a kill -9 (or power loss) after
    /// `apply` returns keeps the batch, and one before COMMIT leaves only uncommitted WAL frames, which recovery ignores.
    private static func applyLocked(_ batch: StoredBatch, _ conn: SQLiteConnection) throws(StoreError) -> ApplyOutcome {
        try conn.exec("BEGIN IMMEDIATE")
        do throws(StoreError) {
            let rows = try conn.query("SELECT high_water_mark FROM agent_sequences WHERE agent_id = ?", [.text(batch.agentID)])
            if let hwm = rows.first?.first?.int64, batch.sequence <= hwm {
                try conn.run("UPDATE agent_sequences SET duplicates = duplicates + 1 WHERE agent_id = ?", [.text(batch.agentID)])
                try conn.exec("COMMIT")
                return .duplicate(highWaterMark: hwm)
            }
            try conn.run(
                """
                INSERT INTO batches (agent_id, sequence, received_at_ms, payload, bar_count, detection_count)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(batch.agentID), .int(batch.sequence), .int(batch.receivedAt), .blob(batch.payload),
                    .int(Int64(batch.bars.count)), .int(Int64(batch.detections.count)),
                ]
            )
            for bar in batch.bars {
                try conn.run(
                    """
                    INSERT INTO bars (symbol, interval_seconds, ts_ms, open, high, low, close, volume, feed, agent_id, batch_sequence)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(bar.symbol), .int(Int64(bar.intervalSeconds)), .int(bar.timestamp), .double(bar.open),
                        .double(bar.high), .double(bar.low), .double(bar.close), .double(bar.volume), .text(bar.feed),
                        .text(bar.agentID), .int(batch.sequence),
                    ]
                )
            }
            for detection in batch.detections {
                try conn.run(
                    """
                    INSERT INTO detections (symbol, ts_ms, tier, detector, score, severity, anomaly_score, features_json,
                        trace_id, span_id, agent_id, batch_sequence)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(detection.symbol), .int(detection.timestamp), .int(Int64(detection.tier)), .text(detection.detector),
                        .double(detection.score), .text(detection.severity), detection.anomalyScore.map { .double($0) } ?? .null,
                        .text(detection.featuresJSON), detection.traceID.map { .text($0) } ?? .null,
                        detection.spanID.map { .text($0) } ?? .null, .text(batch.agentID), .int(batch.sequence),
                    ]
                )
            }
            for alert in batch.alerts { try conn.query(Self.upsertAlertSQL, Self.alertValues(alert)) }
            try conn.run(
                """
                INSERT INTO agent_sequences (agent_id, high_water_mark, batches_accepted, duplicates, bars, detections, updated_at_ms)
                VALUES (?, ?, 1, 0, ?, ?, ?)
                ON CONFLICT (agent_id) DO UPDATE SET
                    high_water_mark = excluded.high_water_mark,
                    batches_accepted = batches_accepted + 1,
                    bars = bars + excluded.bars,
                    detections = detections + excluded.detections,
                    updated_at_ms = excluded.updated_at_ms
                """,
                [
                    .text(batch.agentID), .int(batch.sequence), .int(Int64(batch.bars.count)), .int(Int64(batch.detections.count)),
                    .int(batch.receivedAt),
                ]
            )
            try conn.exec("COMMIT")
            return .accepted(highWaterMark: batch.sequence)
        } catch {
            try? conn.exec("ROLLBACK")
            throw error
        }
    }

    // MARK: Rejections and high-water marks

    public func recordRejection(_ rejection: RejectedBatch) async throws {
        let r = rejection.normalized
        try await locked { (conn) throws(StoreError) in
            try conn.run(
                "INSERT INTO rejected_batches (agent_id, received_at_ms, code, message, body_bytes) VALUES (?, ?, ?, ?, ?)",
                [.text(r.agentID), .int(r.receivedAt), .text(r.code), .text(r.message), .int(Int64(r.bodyBytes))]
            )
        }
    }

    public func highWaterMarks() async throws -> [String: Int64] {
        try await locked { (conn) throws(StoreError) -> [String: Int64] in
            var marks: [String: Int64] = [:]
            for row in try conn.query("SELECT agent_id, high_water_mark FROM agent_sequences") {
                guard row.count == 2, let agent = row[0].string, let hwm = row[1].int64 else { continue }
                marks[agent] = hwm
            }
            return marks
        }
    }

    /// The most recent rejections, newest first; for tests (`package`, not public API).
    package func rejectionsForTesting(limit: Int = 100) async throws -> [RejectedBatch] {
        try await locked { (conn) throws(StoreError) -> [RejectedBatch] in
            try conn.query(
                "SELECT agent_id, received_at_ms, code, message, body_bytes FROM rejected_batches ORDER BY id DESC LIMIT ?",
                [.int(Int64(limit))]
            ).compactMap { row in
                guard row.count == 5, let agent = row[0].string, let received = row[1].int64, let code = row[2].string,
                    let message = row[3].string, let bytes = row[4].int64
                else { return nil }
                return RejectedBatch(agentID: agent, receivedAt: received, code: code, message: message, bodyBytes: Int(bytes))
            }
        }
    }

    /// The versions recorded in `schema_migrations`, ascending; for tests.
    package func appliedMigrations() async throws -> [Int64] {
        try await locked { (conn) throws(StoreError) -> [Int64] in
            try conn.query("SELECT version FROM schema_migrations ORDER BY version").compactMap { $0.first?.int64 }
        }
    }

    /// Runs raw SQL; for tests only (`package`, not public API).
    package func executeForTesting(_ sql: String) async throws {
        try await locked { (conn) throws(StoreError) in try conn.exec(sql) }
    }

    /// The connection's `journal_mode` and `synchronous` as SQLite reports them; for tests.
    package func durabilitySettings() async throws -> (journalMode: String, synchronous: Int64) {
        try await locked { (conn) throws(StoreError) -> (journalMode: String, synchronous: Int64) in
            let mode = try conn.query("PRAGMA journal_mode").first?.first?.string ?? ""
            let synchronous = try conn.query("PRAGMA synchronous").first?.first?.int64 ?? -1
            return (mode, synchronous)
        }
    }

    // MARK: Queries

    public func stats() async throws -> StoreStats {
        try await locked { (conn) throws(StoreError) -> StoreStats in
            let rows = try conn.query(
                """
                SELECT coalesce(sum(bars), 0), coalesce(sum(detections), 0), coalesce(sum(batches_accepted), 0),
                       coalesce(sum(duplicates), 0), count(*), (SELECT count(*) FROM alerts),
                       (SELECT count(*) FROM rejected_batches)
                FROM agent_sequences
                """
            )
            guard let row = rows.first, row.count == 7 else { throw StoreError(.queryFailed, "stats query returned no row") }
            return StoreStats(
                bars: row[0].int64 ?? 0,
                detections: row[1].int64 ?? 0,
                batchesAccepted: row[2].int64 ?? 0,
                duplicates: row[3].int64 ?? 0,
                agents: row[4].int64 ?? 0,
                alerts: row[5].int64 ?? 0,
                rejected: row[6].int64 ?? 0
            )
        }
    }

    public func bars(symbol: String, from: Int64, to: Int64, limit: Int) async throws -> [StoredBar] {
        try await locked { (conn) throws(StoreError) -> [StoredBar] in
            let rows = try conn.query(
                """
                SELECT symbol, interval_seconds, ts_ms, open, high, low, close, volume, feed, agent_id
                FROM bars WHERE symbol = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms LIMIT ?
                """,
                [.text(symbol), .int(from), .int(to), .int(Int64(min(max(limit, 1), 100_000)))]
            )
            return rows.compactMap(Self.storedBar)
        }
    }

    public func latestBars(symbol: String, intervalSeconds: Int32, before: Int64, limit: Int) async throws -> [StoredBar] {
        try await locked { (conn) throws(StoreError) -> [StoredBar] in
            let rows = try conn.query(
                """
                SELECT symbol, interval_seconds, ts_ms, open, high, low, close, volume, feed, agent_id
                FROM bars WHERE symbol = ? AND interval_seconds = ? AND ts_ms < ? ORDER BY ts_ms DESC LIMIT ?
                """,
                [.text(symbol), .int(Int64(intervalSeconds)), .int(before), .int(Int64(min(max(limit, 1), 100_000)))]
            )
            return rows.reversed().compactMap(Self.storedBar)
        }
    }

    /// A `bars` row selected as `symbol, interval_seconds, ts_ms, open, high, low, close, volume, feed, agent_id`.
    private static func storedBar(_ row: [SQLValue]) -> StoredBar? {
        guard row.count == 10, let symbol = row[0].string, let interval = row[1].int64, let ts = row[2].int64,
            let open = row[3].double, let high = row[4].double, let low = row[5].double, let close = row[6].double,
            let volume = row[7].double, let feed = row[8].string, let agent = row[9].string
        else { return nil }
        return StoredBar(
            symbol: symbol, intervalSeconds: Int32(clamping: interval), timestamp: ts, open: open, high: high, low: low,
            close: close, volume: volume, feed: feed, agentID: agent
        )
    }

    public func detections(_ query: DetectionQuery) async throws -> DetectionPage {
        var conditions: [String] = []
        var values: [SQLValue] = []
        if let symbol = query.symbol {
            conditions.append("symbol = ?")
            values.append(.text(symbol))
        }
        if let detector = query.detector {
            conditions.append("detector = ?")
            values.append(.text(detector))
        }
        if let tier = query.tier {
            conditions.append("tier = ?")
            values.append(.int(Int64(tier)))
        }
        if let from = query.from {
            conditions.append("ts_ms >= ?")
            values.append(.int(from))
        }
        if let to = query.to {
            conditions.append("ts_ms < ?")
            values.append(.int(to))
        }
        if let after = query.after {
            // Row-value comparison (SQLite ≥ 3.15) keeps the keyset predicate index-friendly.
            conditions.append("(ts_ms, id) > (?, ?)")
            values.append(contentsOf: [.int(after.timestamp), .int(after.id)])
        }
        let limit = query.clampedLimit
        values.append(.int(Int64(limit)))
        let sql = """
            SELECT id, symbol, ts_ms, tier, detector, score, severity, anomaly_score, features_json, trace_id, span_id
            FROM detections \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY ts_ms, id LIMIT ?
            """
        return try await locked { [values] (conn) throws(StoreError) -> DetectionPage in
            let items: [StoredDetection] = try conn.query(sql, values).compactMap { row in
                guard row.count == 11, let id = row[0].int64, let symbol = row[1].string, let ts = row[2].int64,
                    let tier = row[3].int64, let detector = row[4].string, let score = row[5].double,
                    let severity = row[6].string, let features = row[8].string
                else { return nil }
                return StoredDetection(
                    id: id, symbol: symbol, timestamp: ts, tier: Int32(clamping: tier), detector: detector, score: score,
                    severity: severity, anomalyScore: row[7].double, featuresJSON: features, traceID: row[9].string,
                    spanID: row[10].string
                )
            }
            let next = items.count == limit ? items.last.map { DetectionCursor(timestamp: $0.timestamp, id: $0.id) } : nil
            return DetectionPage(items: items, nextCursor: next)
        }
    }

    // MARK: Alerts

    /// Upsert by episode key: the episode's time span only grows, the latest scoring wins, the first trace is kept.
    static let upsertAlertSQL = """
        INSERT INTO alerts (alert_key, symbol, first_ts_ms, last_ts_ms, tier, kind, severity, score, explanation, trace_id,
            span_id, updated_at_ms)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (alert_key) DO UPDATE SET
            first_ts_ms = min(first_ts_ms, excluded.first_ts_ms),
            last_ts_ms = max(last_ts_ms, excluded.last_ts_ms),
            tier = excluded.tier, kind = excluded.kind, severity = excluded.severity, score = excluded.score,
            explanation = excluded.explanation,
            trace_id = coalesce(trace_id, excluded.trace_id), span_id = coalesce(span_id, excluded.span_id),
            updated_at_ms = excluded.updated_at_ms
        RETURNING id
        """

    static let alertColumns =
        "id, alert_key, symbol, first_ts_ms, last_ts_ms, tier, kind, severity, score, explanation, trace_id, span_id"

    static func alertValues(_ a: StoredAlert) -> [SQLValue] {
        [
            .text(a.key), .text(a.symbol), .int(a.firstTimestamp), .int(a.lastTimestamp), .int(Int64(a.tier)), .text(a.kind),
            .text(a.severity), .double(a.score), .text(a.explanation), a.traceID.map { .text($0) } ?? .null,
            a.spanID.map { .text($0) } ?? .null, .int(wallClockMilliseconds()),
        ]
    }

    static func alert(from row: [SQLValue]) -> StoredAlert? {
        guard row.count == 12, let id = row[0].int64, let key = row[1].string, let symbol = row[2].string,
            let first = row[3].int64, let last = row[4].int64, let tier = row[5].int64, let kind = row[6].string,
            let severity = row[7].string, let score = row[8].double, let explanation = row[9].string
        else { return nil }
        return StoredAlert(
            id: id, key: key, symbol: symbol, firstTimestamp: first, lastTimestamp: last, tier: Int32(clamping: tier), kind: kind,
            severity: severity, score: score, explanation: explanation, traceID: row[10].string, spanID: row[11].string
        )
    }

    public func upsertAlerts(_ alerts: [StoredAlert]) async throws -> [Int64] {
        for alert in alerts { try alert.validate() }
        return try await locked { (conn) throws(StoreError) -> [Int64] in
            try conn.exec("BEGIN IMMEDIATE")
            do throws(StoreError) {
                var ids: [Int64] = []
                for alert in alerts {
                    let rows = try conn.query(Self.upsertAlertSQL, Self.alertValues(alert))
                    guard let id = rows.first?.first?.int64 else { throw StoreError(.queryFailed, "upsert returned no id") }
                    ids.append(id)
                }
                try conn.exec("COMMIT")
                return ids
            } catch {
                try? conn.exec("ROLLBACK")
                throw error
            }
        }
    }

    public func alerts(_ query: AlertQuery) async throws -> AlertPage {
        var conditions: [String] = []
        var values: [SQLValue] = []
        if let symbol = query.symbol { conditions.append("symbol = ?"); values.append(.text(symbol)) }
        if let tier = query.tier { conditions.append("tier = ?"); values.append(.int(Int64(tier))) }
        if let kind = query.kind { conditions.append("kind = ?"); values.append(.text(kind)) }
        if let severity = query.severity { conditions.append("severity = ?"); values.append(.text(severity)) }
        if let from = query.from { conditions.append("first_ts_ms >= ?"); values.append(.int(from)) }
        if let to = query.to { conditions.append("first_ts_ms < ?"); values.append(.int(to)) }
        if let after = query.after {
            conditions.append("(first_ts_ms, id) > (?, ?)")
            values.append(contentsOf: [.int(after.timestamp), .int(after.id)])
        }
        let limit = query.clampedLimit
        values.append(.int(Int64(limit)))
        let sql = """
            SELECT \(Self.alertColumns) FROM alerts \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY first_ts_ms, id LIMIT ?
            """
        return try await locked { [values] (conn) throws(StoreError) -> AlertPage in
            let items = try conn.query(sql, values).compactMap(Self.alert(from:))
            let next = items.count == limit ? items.last.map { DetectionCursor(timestamp: $0.firstTimestamp, id: $0.id) } : nil
            return AlertPage(items: items, nextCursor: next)
        }
    }

    public func alert(id: Int64) async throws -> StoredAlert? {
        try await locked { (conn) throws(StoreError) -> StoredAlert? in
            try conn.query("SELECT \(Self.alertColumns) FROM alerts WHERE id = ?", [.int(id)]).first.flatMap(Self.alert(from:))
        }
    }

    public func addFeedback(_ feedback: AlertFeedback) async throws -> AlertFeedback {
        guard !feedback.note.utf8.contains(0) else { throw StoreError(.invalidBatch, "feedback note contains NUL") }
        return try await locked { (conn) throws(StoreError) -> AlertFeedback in
            guard !(try conn.query("SELECT 1 FROM alerts WHERE id = ?", [.int(feedback.alertID)])).isEmpty else {
                throw StoreError(.notFound, "alert \(feedback.alertID) does not exist")
            }
            let rows = try conn.query(
                "INSERT INTO alert_feedback (alert_id, label, note, created_at_ms) VALUES (?, ?, ?, ?) RETURNING id",
                [.int(feedback.alertID), .text(feedback.label.rawValue), .text(feedback.note), .int(feedback.createdAt)]
            )
            guard let id = rows.first?.first?.int64 else { throw StoreError(.queryFailed, "insert returned no id") }
            var stored = feedback
            stored.id = id
            return stored
        }
    }

    public func feedback(alertID: Int64) async throws -> [AlertFeedback] {
        try await locked { (conn) throws(StoreError) -> [AlertFeedback] in
            try conn.query(
                "SELECT id, alert_id, label, note, created_at_ms FROM alert_feedback WHERE alert_id = ? ORDER BY id",
                [.int(alertID)]
            ).compactMap { row in
                guard row.count == 5, let id = row[0].int64, let alert = row[1].int64,
                    let label = row[2].string.flatMap(AlertFeedback.Label.init(rawValue:)), let note = row[3].string,
                    let created = row[4].int64
                else { return nil }
                return AlertFeedback(id: id, alertID: alert, label: label, note: note, createdAt: created)
            }
        }
    }

    /// Each alert joined to its newest feedback row (the `(alert_id, id)` index finds it), walked in alert id order.
    static let labelledAlertsSQL = """
        SELECT \(alertColumns.split(separator: ", ").map { "a.\($0)" }.joined(separator: ", ")), f.label, f.created_at_ms
        FROM alerts AS a
        JOIN alert_feedback AS f ON f.id = (SELECT max(id) FROM alert_feedback WHERE alert_id = a.id)
        WHERE a.id > ?
        ORDER BY a.id LIMIT ?
        """

    public func labelledAlerts(after: Int64?, limit: Int) async throws -> [LabelledAlert] {
        let values: [SQLValue] = [.int(after ?? .min), .int(Int64(clampedAlertLimit(limit)))]
        return try await locked { (conn) throws(StoreError) -> [LabelledAlert] in
            try conn.query(Self.labelledAlertsSQL, values).compactMap { row in
                guard row.count == 14, let alert = Self.alert(from: Array(row[0..<12])),
                    let label = row[12].string.flatMap(AlertFeedback.Label.init(rawValue:)), let labelledAt = row[13].int64
                else { return nil }
                return LabelledAlert(alert: alert, label: label, labelledAt: labelledAt)
            }
        }
    }

    // MARK: Retention

    public func applyRetention(olderThan cutoff: Int64) async throws -> [String] {
        try await locked { [self] (conn) throws(StoreError) -> [String] in
            try conn.exec("BEGIN IMMEDIATE")
            do throws(StoreError) {
                try conn.run("DELETE FROM bars WHERE ts_ms < ?", [.int(cutoff)])
                let bars = conn.changes
                try conn.run("DELETE FROM detections WHERE ts_ms < ?", [.int(cutoff)])
                let detections = conn.changes
                try conn.exec("COMMIT")
                logger.info("Applied store retention.", metadata: ["store": "sqlite", "retention.cutoff_ms": "\(cutoff)"])
                return ["bars:\(bars)", "detections:\(detections)"]
            } catch {
                try? conn.exec("ROLLBACK")
                throw error
            }
        }
    }

    /// Runs `body` with the connection, on the store's I/O queue, under the connection mutex.
    func locked<T: Sendable>(
        _ body: @escaping @Sendable (SQLiteConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await io.run { () throws(StoreError) -> T in
            try self.connection.withLock { (conn: inout SQLiteConnection?) throws(StoreError) -> T in
                guard let conn else { throw StoreError(.closed, "store is closed") }
                return try body(conn)
            }
        }
    }

    public func close() async {
        connection.withLock { $0 = nil }
    }
}

/// Wall-clock milliseconds since the epoch, for audit columns only (never for detection logic).
func wallClockMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
}
