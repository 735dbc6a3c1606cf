import Foundation
import SwiftProtobuf
import Testing
import VigilDetection
import VigilTelemetry
import VigilWire

@testable import VigilAgent

@Suite("Batcher, envelope and sequence numbers")
struct BatcherTests {
    @Test func sealsColumnarSeriesPerSymbolAndRoundTrips() throws {
        var batcher = Batcher(configuration: BatcherConfiguration())
        var expected: [String: [Bar]] = [:]
        for index in 0..<300 {
            let symbol = ["AAPL", "MSFT", "XOM"][index % 3]
            let bar = Bar(
                symbol: symbol, timestamp: 1_600_000_000_000 + Int64(index / 3) * 60_000, intervalSeconds: 60, open: Double(index),
                high: Double(index) + 2,
                low: Double(index) - 1, close: Double(index) + 1, volume: Double(index * 100))
            batcher.add(bar, feed: "synthetic", anomalyScore: 0.25)
            expected[symbol, default: []].append(bar)
        }
        let detection = Detection(
            symbol: "AAPL", timestamp: 1_600_000_000_000, detector: .volumeSurge, score: 0.8, severity: .critical, statistic: 7.5,
            features: [FeatureValue("volume_ratio", 9)])
        let trace = SpanContext(traceIDHigh: 1, traceIDLow: 2, spanID: 3)
        batcher.add(detection, intervalSeconds: 60, anomalyScore: 0.8, trace: trace)
        #expect(batcher.barCount == 300)
        let sealed = try batcher.seal(
            agentID: "a", agentVersion: "v", sequence: 9, configVersion: "c", spans: [], traceparent: trace.traceparent)
        #expect(batcher.isEmpty)
        #expect(sealed.barCount == 300)
        let envelope = try SpooledBatch(decoding: sealed.encoded())
        #expect(envelope == sealed)
        let batch = try Vigil_V1_Batch(serializedBytes: envelope.batch)
        #expect(batch.sequence == 9)
        #expect(batch.traceparent == trace.traceparent)
        #expect(batch.series.map(\.symbol) == ["AAPL", "MSFT", "XOM"])
        for series in batch.series {
            #expect(try series.bars() == expected[series.symbol])
            #expect(series.anomalyScores.allSatisfy { $0 == 0.25 })
        }
        let wire = try #require(batch.detections.first)
        #expect(wire.detector == "volume_surge")
        #expect(wire.severity == .critical)
        #expect(wire.score == 7.5)
        #expect(wire.traceID == Data(trace.traceIDBytes))
        #expect(wire.features.first?.name == "volume_ratio")
    }

    @Test func otherDetectionsTracesAreLinkedOnceEachAndResetBySealing() throws {
        var batcher = Batcher(configuration: BatcherConfiguration())
        let detection = Detection(
            symbol: "AAPL", timestamp: 1_600_000_000_000, detector: .volumeSurge, score: 0.8, severity: .critical, statistic: 7.5, features: [])
        let lead = SpanContext(traceIDHigh: 1, traceIDLow: 1, spanID: 1)
        let others = (2...3).map { SpanContext(traceIDHigh: UInt64($0), traceIDLow: 1, spanID: UInt64($0)) }
        // The lead's trace is the batch's own; the others are linked, each once however many detections share it.
        for trace in [lead, lead, others[0], others[1], others[0]] { batcher.add(detection, intervalSeconds: 60, anomalyScore: 0.8, trace: trace) }
        #expect(batcher.leadTrace == lead)
        #expect(batcher.linkedTraces == others)
        // Bounded: a batch of many polls links at most `maxLinkedTraces` of them.
        for n in 10..<(10 + 2 * Batcher.maxLinkedTraces) {
            batcher.add(detection, intervalSeconds: 60, anomalyScore: 0.8, trace: SpanContext(traceIDHigh: UInt64(n), traceIDLow: 1, spanID: 1))
        }
        #expect(batcher.linkedTraces.count == Batcher.maxLinkedTraces)
        _ = try batcher.seal(agentID: "a", agentVersion: "v", sequence: 1, configVersion: "c", spans: [], traceparent: lead.traceparent)
        #expect(batcher.linkedTraces.isEmpty && batcher.leadTrace == nil)
    }

    @Test func sizeAndAgeTriggers() async throws {
        var configuration = BatcherConfiguration()
        configuration.maxBars = 3
        configuration.maxAgeMs = 30
        var batcher = Batcher(configuration: configuration)
        #expect(!batcher.isDue())
        #expect(batcher.timeUntilDue() == nil)
        let bar = Bar(symbol: "A", timestamp: 0, open: 1, high: 1, low: 1, close: 1, volume: 1)
        batcher.add(bar, feed: "f", anomalyScore: 0)
        #expect(!batcher.isFull)
        try await Task.sleep(for: .milliseconds(40))
        #expect(batcher.isDue())
        batcher.add(bar, feed: "f", anomalyScore: 0)
        batcher.add(bar, feed: "f", anomalyScore: 0)
        #expect(batcher.isFull)
    }

    @Test func corruptEnvelopesAreErrorsNotCrashes() {
        #expect(throws: AgentError.self) { try SpooledBatch(decoding: []) }
        #expect(throws: AgentError.self) { try SpooledBatch(decoding: [0x56, 1, 200, 1, 2]) }
        #expect(throws: AgentError.self) { try SpooledBatch(decoding: Array("hello world".utf8)) }
    }

    @Test func sequenceNumbersSurviveRestartsAndNeverRepeat() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/sequence"
        var first = try SequenceAllocator(path: path, blockSize: 4)
        let used = try (0..<6).map { _ in try first.allocate() }
        #expect(used == [1, 2, 3, 4, 5, 6])
        // A crash loses the in-memory position: the next process starts above the persisted reservation.
        var second = try SequenceAllocator(path: path, blockSize: 4)
        let next = try second.allocate()
        #expect(next > 6)
        // The spool's last record is a floor even if the state file is lost.
        try FileManager.default.removeItem(atPath: path)
        var third = try SequenceAllocator(path: path, floor: 100, blockSize: 4)
        #expect(try third.allocate() == 101)
        try "garbage".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: AgentError.self) { try SequenceAllocator(path: path) }
    }
}
