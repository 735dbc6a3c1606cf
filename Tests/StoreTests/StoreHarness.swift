// Vigil store tests: builds fresh, isolated stores of each kind and test batches.
import Foundation
import Logging
import MetricsTestKit
import VigilStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The store implementations the shared suite runs on.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    var description: String { rawValue }

    /// `VIGIL_TEST_POSTGRES_URL`, e.g. from `scripts/postgres.sh start`.
    static var postgresURL: String? {
        guard let value = getenv("VIGIL_TEST_POSTGRES_URL") else { return nil }
        let url = String(cString: value)
        return url.isEmpty ? nil : url
    }

    /// The kinds to run: PostgreSQL only when a test server is configured (see `PostgresSkipNotice`).
    static var available: [StoreKind] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }
}

/// One isolated store: SQLite in a fresh temporary directory, PostgreSQL in a fresh schema of the test database.
struct StoreHarness: Sendable {
    let kind: StoreKind
    let store: any BatchStore
    let metrics: TestMetrics
    /// The SQLite file, so tests can open a second store on it.
    let sqlitePath: String?
    /// The PostgreSQL schema, so tests can open a second store (a second collector) on it.
    var postgresSchema: String? = nil

    /// Errors only: the rejection tests would otherwise print a warning per poisoned batch.
    static let logger: Logger = {
        var logger = Logger(label: "vigil.store.tests")
        logger.logLevel = .error
        return logger
    }()

    /// - Parameter migrate: false leaves the database empty, for tests that build an older schema first.
    static func make(_ kind: StoreKind, migrate: Bool = true) async throws -> StoreHarness {
        let metrics = TestMetrics()
        switch kind {
        case .sqlite:
            let directory = try temporaryDirectory()
            let store = try SQLiteStore(dataDirectory: directory, logger: logger, metricsFactory: metrics)
            if migrate { try await store.migrate() }
            return StoreHarness(kind: kind, store: store, metrics: metrics, sqlitePath: store.path)
        case .postgres:
            guard let url = StoreKind.postgresURL else { throw StoreError(.connectionFailed, "VIGIL_TEST_POSTGRES_URL is unset") }
            let schema = "vigil_t_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let store = try PostgresStore(url: url, schema: schema, logger: logger, metricsFactory: metrics)
            if migrate { try await store.migrate() }
            return StoreHarness(kind: kind, store: store, metrics: metrics, sqlitePath: nil, postgresSchema: schema)
        }
    }

    // MARK: Test-only accessors of the concrete stores (`package`, so not on the public protocol)

    func migrate(through version: Int64) async throws {
        if let sqlite = store as? SQLiteStore { try await sqlite.migrate(through: version) }
        if let postgres = store as? PostgresStore { try await postgres.migrate(through: version) }
    }

    func appliedMigrations() async throws -> [Int64] {
        if let sqlite = store as? SQLiteStore { return try await sqlite.appliedMigrations() }
        if let postgres = store as? PostgresStore { return try await postgres.appliedMigrations() }
        return []
    }

    /// Runs raw SQL on the store's database, to damage or poke at it behind the store's back.
    func execute(_ sql: String) async throws {
        if let sqlite = store as? SQLiteStore { try await sqlite.executeForTesting(sql) }
        if let postgres = store as? PostgresStore { try await postgres.executeForTesting(sql) }
    }

    /// Recorded rejections, newest first.
    func rejections() async throws -> [RejectedBatch] {
        if let sqlite = store as? SQLiteStore { return try await sqlite.rejectionsForTesting() }
        if let postgres = store as? PostgresStore { return try await postgres.rejectionsForTesting() }
        return []
    }

    /// Another store instance on the same database (a second collector process, as far as locking is concerned).
    func sibling() throws -> any BatchStore {
        switch kind {
        case .sqlite:
            guard let sqlitePath else { throw StoreError(.invalidBatch, "no path") }
            return try SQLiteStore(path: sqlitePath, logger: Self.logger)
        case .postgres:
            guard let url = StoreKind.postgresURL, let postgresSchema else { throw StoreError(.invalidBatch, "no schema") }
            return try PostgresStore(url: url, schema: postgresSchema, logger: Self.logger)
        }
    }

    func tearDown() async {
        if let postgres = store as? PostgresStore {
            try? await postgres.dropSchemaAndClose()
        } else {
            await store.close()
            // The SQLite file's directory (and its WAL files) would otherwise pile up in /tmp run after run.
            if let sqlitePath { try? FileManager.default.removeItem(atPath: (sqlitePath as NSString).deletingLastPathComponent) }
        }
    }

    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/vigil-store-test-XXXXXX".utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }) else {
            throw StoreError(.connectionFailed, "mkdtemp failed")
        }
        return String(cString: result)
    }
}

// MARK: - Fixtures

enum Fixtures {
    /// 2024-01-02T00:00:00Z in ms.
    static let day0: Int64 = 1_704_153_600_000
    static let day: Int64 = 86_400_000

    static func bar(_ symbol: String, _ index: Int, agent: String = "agent-1", close: Double? = nil) -> StoredBar {
        let base = 100.0 + Double(index)
        return StoredBar(
            symbol: symbol, intervalSeconds: 86_400, timestamp: day0 + Int64(index) * day, open: base, high: base + 2,
            low: base - 2, close: close ?? base + 1, volume: 1_000 + Double(index), feed: "synthetic", agentID: agent
        )
    }

    static func detection(_ symbol: String, _ index: Int, detector: String = "zscore", tier: Int32 = 1) -> StoredDetection {
        StoredDetection(
            symbol: symbol, timestamp: day0 + Int64(index) * day, tier: tier, detector: detector, score: 3.5 + Double(index),
            severity: "high", anomalyScore: tier == 2 ? 0.8 : nil, featuresJSON: #"{"log_return":-0.12,"z":4.1}"#,
            traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7"
        )
    }

    static func batch(
        agent: String = "agent-1",
        sequence: Int64,
        bars: [StoredBar],
        detections: [StoredDetection] = []
    ) -> StoredBatch {
        StoredBatch(
            agentID: agent, sequence: sequence, receivedAt: day0, payload: Array("raw-\(agent)-\(sequence)".utf8), bars: bars,
            detections: detections
        )
    }
}
