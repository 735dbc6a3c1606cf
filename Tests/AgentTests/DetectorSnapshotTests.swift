import Foundation
import Testing
import VigilDetection
import VigilSpool

@testable import VigilAgent

@Suite("Detector state snapshot")
struct DetectorSnapshotTests {
    func bars(_ market: inout SyntheticMarket, ticks: Int) -> [Bar] {
        (0..<ticks).flatMap { _ in market.next() }
    }

    @Test func restoredStateScoresExactlyLikeTheOriginal() throws {
        #expect(DetectorSnapshot.isSupported)
        var market = SyntheticMarket(seed: 9, symbols: 20, start: 1_600_000_000_000, intervalSeconds: 86_400, anomalyRate: 0.01)
        var original = DetectionEngine(configuration: .default)
        for bar in bars(&market, ticks: 150) { _ = original.score(bar) }
        let bytes = DetectorSnapshot.encode(original.snapshotStates(), configuration: .default)
        let states = try #require(DetectorSnapshot.decode(bytes, configuration: .default))
        #expect(states.count == 20)
        var restored = DetectionEngine(configuration: .default)
        restored.restore(states)
        var fresh = DetectionEngine(configuration: .default)
        var differsFromFresh = false
        for bar in bars(&market, ticks: 100) {
            let a = original.score(bar)
            let b = restored.score(bar)
            let c = fresh.score(bar)
            #expect(a.anomalyScore == b.anomalyScore && a.fired == b.fired)
            if a.anomalyScore != c.anomalyScore { differsFromFresh = true }
        }
        // Without the snapshot the series would start over (warm-up), and score differently.
        #expect(differsFromFresh)
    }

    @Test func damagedOrForeignFilesStartFresh() throws {
        var engine = DetectionEngine(configuration: .default)
        var market = SyntheticMarket(seed: 1, symbols: 3, start: 0, intervalSeconds: 60)
        for bar in bars(&market, ticks: 30) { _ = engine.score(bar) }
        let bytes = DetectorSnapshot.encode(engine.snapshotStates(), configuration: .default)
        #expect(DetectorSnapshot.decode(bytes, configuration: .default)?.count == 3)
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        #expect(DetectorSnapshot.decode(flipped, configuration: .default) == nil)
        #expect(DetectorSnapshot.decode(Array(bytes.prefix(bytes.count - 9)), configuration: .default) == nil)
        #expect(DetectorSnapshot.decode([], configuration: .default) == nil)
        #expect(DetectorSnapshot.decode(Array("VGDS and then garbage, long enough to pass".utf8), configuration: .default) == nil)
        // Another build: the fingerprint (bytes 12..<20) differs; the CRC is recomputed so only the fingerprint fails.
        var foreign = Array(bytes.dropLast(4))
        foreign[12] ^= 0xFF
        foreign += withUnsafeBytes(of: CRC32C.checksum(foreign).littleEndian) { Array($0) }
        #expect(DetectorSnapshot.decode(foreign, configuration: .default) == nil)
    }

    @Test func restoredSeriesTakeTheRunningThresholds() throws {
        var engine = DetectionEngine(configuration: .default)
        var market = SyntheticMarket(seed: 4, symbols: 2, start: 0, intervalSeconds: 60)
        for bar in bars(&market, ticks: 40) { _ = engine.score(bar) }
        var strict = DetectorConfig.default
        strict.alertThreshold = 0.99
        let states = try #require(
            DetectorSnapshot.decode(DetectorSnapshot.encode(engine.snapshotStates(), configuration: .default), configuration: strict))
        var reconfigured = engine
        reconfigured.reconfigure(strict)
        var restored = DetectionEngine(configuration: strict)
        restored.restore(states)
        for bar in bars(&market, ticks: 50) {
            #expect(restored.score(bar).anomalyScore == reconfigured.score(bar).anomalyScore)
        }
    }
}
