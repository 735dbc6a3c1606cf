// Vigil store tests: what only the embedded SQLite store has (a file that outlives the process).
import Foundation
import Logging
import Testing
import VigilStore

@Suite("SQLiteStore")
struct SQLiteStoreTests {
    @Test("Data and high-water marks survive closing and reopening the file")
    func survivesReopen() async throws {
        let directory = try StoreHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try SQLiteStore(dataDirectory: directory, logger: StoreHarness.logger)
        try await first.migrate()
        let batch = Fixtures.batch(
            sequence: 7, bars: [Fixtures.bar("AAPL", 0), Fixtures.bar("AAPL", 1)], detections: [Fixtures.detection("AAPL", 1)])
        #expect(try await first.apply(batch) == .accepted(highWaterMark: 7))
        await first.close()
        await #expect(throws: StoreError.self) { try await first.stats() }

        let second = try SQLiteStore(dataDirectory: directory, logger: StoreHarness.logger)
        try await second.migrate()
        #expect(try await second.stats() == StoreStats(bars: 2, detections: 1, batchesAccepted: 1, duplicates: 0, agents: 1))
        #expect(try await second.apply(batch) == .duplicate(highWaterMark: 7))
        #expect(try await second.bars(symbol: "AAPL", from: 0, to: .max, limit: 10) == batch.bars)
        await second.close()
    }

    @Test("Every connection runs in WAL mode with synchronous=FULL, so an applied batch survives kill -9")
    func durabilitySettings() async throws {
        let h = try await StoreHarness.make(.sqlite)
        guard let store = h.store as? SQLiteStore else { throw StoreError(.invalidBatch, "not a SQLiteStore") }
        let settings = try await store.durabilitySettings()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 2)  // FULL
        // A second connection on the same file (another collector) gets the same guarantees.
        guard let sibling = try h.sibling() as? SQLiteStore else { throw StoreError(.invalidBatch, "not a SQLiteStore") }
        #expect(try await sibling.durabilitySettings() == settings)
        await sibling.close()
        await h.tearDown()
    }

    @Test("An unwritable location is a StoreError, not a crash")
    func badPath() {
        #expect(throws: StoreError.self) {
            _ = try SQLiteStore(path: "/proc/definitely/not/here.sqlite", logger: StoreHarness.logger)
        }
    }

    @Test("Bulk insert throughput (printed, not asserted)")
    func insertThroughput() async throws {
        let h = try await StoreHarness.make(.sqlite)
        let total = 100_000
        let perBatch = 10_000
        var prepared: [StoredBatch] = []
        for b in 0..<(total / perBatch) {
            let bars = (0..<perBatch).map { i in Fixtures.bar("S\((b * perBatch + i) % 500)", (b * perBatch + i) / 500) }
            prepared.append(Fixtures.batch(sequence: Int64(b + 1), bars: bars))
        }
        let elapsed = try await ContinuousClock().measure {
            for batch in prepared { _ = try await h.store.apply(batch) }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("vigil-store-bench sqlite: \(total) bars, \(seconds) s, \(Int(Double(total) / seconds)) bars/s")
        #expect(try await h.store.stats().bars == Int64(total))
        await h.tearDown()
    }
}
