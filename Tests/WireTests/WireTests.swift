import Foundation
import SwiftProtobuf
import Testing
import VigilDetection

@testable import VigilWire

/// The golden batch: a fixed payload whose bytes are committed under Golden/. Decoding the committed bytes proves that
/// payloads written by older builds keep decoding; re-encoding proves the encoder did not drift.
func goldenBatch() -> Vigil_V1_Batch {
    var batch = Vigil_V1_Batch()
    batch.agentID = "agent-golden"
    batch.sequence = 42
    batch.createdUnixNanos = 1_700_000_000_123_456_789
    batch.configVersion = "cfg-7f3a"
    batch.agentVersion = "0.1.0"
    var bars: [Bar] = []
    for index in 0..<5 {
        let step = Double(index)
        let timestamp: Int64 = 1_360_281_600_000 + Int64(index) * 86_400_000
        let volume: Double = 158_168_416 - step * 1000
        bars.append(
            Bar(
                symbol: "AAPL", timestamp: timestamp, intervalSeconds: 86_400, open: 67.7142 + step, high: 68.4014 + step,
                low: 66.8928 + step, close: 67.8542 + step, volume: volume))
    }
    batch.series = [Vigil_V1_Series(symbol: "AAPL", intervalSeconds: 86_400, feed: "replay", bars: bars, anomalyScores: [0, 0.1, 0.2, 0.9, 0.05])]
    var detection = Vigil_V1_Detection()
    detection.symbol = "AAPL"
    detection.timestampMs = bars[3].timestamp
    detection.intervalSeconds = 86_400
    detection.detector = "volume_surge"
    detection.score = 5.5
    detection.severity = .warning
    detection.anomalyScore = 0.9
    detection.tier = .tier1
    var feature = Vigil_V1_Feature()
    feature.name = "volume_ratio"
    feature.value = 4.25
    detection.features = [feature]
    detection.traceID = Data((0..<16).map { UInt8($0 + 1) })
    detection.spanID = Data((0..<8).map { UInt8($0 + 101) })
    batch.detections = [detection]
    var span = Opentelemetry_Proto_Trace_V1_Span()
    span.traceID = detection.traceID
    span.spanID = detection.spanID
    span.name = "agent.detector.detect"
    span.kind = .internal
    span.startTimeUnixNano = 1_700_000_000_000_000_000
    span.endTimeUnixNano = 1_700_000_000_000_500_000
    var scopeSpans = Opentelemetry_Proto_Trace_V1_ScopeSpans()
    scopeSpans.scope.name = "vigil-agent"
    scopeSpans.spans = [span]
    var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
    var serviceName = Opentelemetry_Proto_Common_V1_KeyValue()
    serviceName.key = "service.name"
    serviceName.value.stringValue = "vigil-agent"
    resourceSpans.resource.attributes = [serviceName]
    resourceSpans.scopeSpans = [scopeSpans]
    batch.resourceSpans = [resourceSpans]
    var split = Vigil_V1_CorporateAction()
    split.symbol = "AAPL"
    split.timestampMs = bars[1].timestamp
    split.kind = .split
    split.value = 7
    split.description_p = "7:1"
    batch.corporateActions = [split]
    return batch
}

func goldenURL(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: "Golden/\(name)", withExtension: nil), "missing golden fixture \(name)")
}

@Suite("vigil.v1 wire contract")
struct WireTests {
    @Test func goldenBatchV1StillDecodes() throws {
        let bytes = try Data(contentsOf: try goldenURL("batch-v1.bin"))
        let decoded = try Vigil_V1_Batch(serializedBytes: bytes)
        #expect(decoded == goldenBatch())
        let bars = try decoded.series[0].bars()
        #expect(bars.count == 5)
        #expect(bars[4].timestamp == 1_360_281_600_000 + 4 * 86_400_000)
        #expect(bars[0].close == 67.8542)
        #expect(decoded.detections[0].detector == "volume_surge")
        #expect(decoded.resourceSpans[0].scopeSpans[0].spans[0].name == "agent.detector.detect")
        // Deterministic serialization of the same message gives the committed bytes.
        #expect(try goldenBatch().serializedBytes() == [UInt8](bytes))
    }

    @Test func goldenAckV1StillDecodes() throws {
        let ack = try Vigil_V1_Ack(serializedBytes: Data(contentsOf: try goldenURL("ack-v1.bin")))
        #expect(ack.agentID == "agent-golden")
        #expect(ack.sequence == 42)
        #expect(ack.status == .duplicate)
        #expect(ack.highWaterMark == 42)
    }

    /// Unknown fields from a newer writer are skipped, not an error.
    @Test func unknownFieldsAreTolerated() throws {
        var bytes: [UInt8] = try goldenBatch().serializedBytes()
        // Field 100, varint 1: a field this build does not know.
        bytes += [0xA0, 0x06, 0x01]
        let decoded = try Vigil_V1_Batch(serializedBytes: bytes)
        #expect(decoded.sequence == 42)
    }

    @Test func seriesRoundTripAndColumnChecks() throws {
        let bars = (0..<1000).map {
            Bar(
                symbol: "MSFT", timestamp: 1_600_000_000_000 + Int64($0) * 60_000, intervalSeconds: 60, open: 1, high: 2, low: 0.5, close: 1.5,
                volume: Double($0))
        }
        let series = Vigil_V1_Series(symbol: "MSFT", intervalSeconds: 60, feed: "f", bars: bars)
        #expect(try series.bars() == bars)
        let encoded: [UInt8] = try series.serializedBytes()
        // Five packed doubles per bar plus a three-byte delta (60 000 ms zigzag-encoded): 43 bytes per bar.
        #expect(encoded.count <= bars.count * 43 + 64)
        var broken = series
        broken.close.removeLast()
        #expect(throws: WireDecodingError.self) { try broken.validatedCount() }
    }

    @Test func truncatedAndRandomBytesNeverCrash() throws {
        let bytes: [UInt8] = try goldenBatch().serializedBytes()
        var generator = SystemRandomNumberGenerator()
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            _ = try? Vigil_V1_Batch(serializedBytes: Array(bytes.prefix(cut)))
        }
        for _ in 0..<2000 {
            var mutated = bytes
            for _ in 0..<4 { mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            if let batch = try? Vigil_V1_Batch(serializedBytes: mutated) {
                for series in batch.series { _ = try? series.validatedCount() }
            }
        }
    }

    /// Writes the golden files; run once when the contract gains a version: VIGIL_WRITE_GOLDEN=/path/to/Golden swift test --filter WireTests
    @Test(.enabled(if: ProcessInfo.processInfo.environment["VIGIL_WRITE_GOLDEN"] != nil))
    func writeGoldenFiles() throws {
        let directory = URL(fileURLWithPath: try #require(ProcessInfo.processInfo.environment["VIGIL_WRITE_GOLDEN"]))
        try Data(try goldenBatch().serializedBytes() as [UInt8]).write(to: directory.appendingPathComponent("batch-v1.bin"))
        var ack = Vigil_V1_Ack()
        ack.agentID = "agent-golden"
        ack.sequence = 42
        ack.status = .duplicate
        ack.highWaterMark = 42
        ack.message = "already applied"
        try Data(try ack.serializedBytes() as [UInt8]).write(to: directory.appendingPathComponent("ack-v1.bin"))
    }
}
