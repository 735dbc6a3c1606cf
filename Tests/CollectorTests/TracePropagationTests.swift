import Foundation
import Testing
import VigilHTTP
import VigilTelemetry
import VigilTestSupport
import VigilWire

@testable import VigilCollector

// Serialized: each test drives a collector with many requests, and the libcurl client blocks a Dispatch thread per
// request (Linux shares those with Swift's executor), so many such tests at once starve timing-sensitive suites.
/// W3C trace context through the collector: a batch's `traceparent` becomes the parent of the receive span, whose
/// children are the pipeline's stages, and the trace ids detections carry end up on the alerts they raise.
@Suite(.serialized) struct TracePropagationTests {
    static var stores: [Bool] { ProcessInfo.processInfo.environment["VIGIL_TEST_POSTGRES_URL"] == nil ? [false] : [false, true] }
    static let stages = ["collector.deduper.check", "collector.partition.process", "collector.store.apply", "collector.alerter.raise"]

    @Test func theTraceparentHeaderIsTheParentOfTheReceiveSpanAndItsStages() async throws {
        let collector = try await CollectorHarness.start()
        defer { Task { await collector.stop() } }
        let (trace, parent) = randomIDs()
        let header = "00-\(trace)-\(parent)-01"
        let (response, ack) = try await collector.post(makeBatch(sequence: 1, spikeAt: 40), headers: [("traceparent", header)])
        #expect(response.status == 200, "\(response.bodyText)")
        #expect(ack?.status == .accepted)

        let spans = await spans(in: trace, from: collector.recorder) { spans in
            spans.contains { $0.name == "collector.receiver.receive" } && Self.stages.allSatisfy { stage in spans.contains { $0.name == stage } }
        }
        let receive = try #require(spans.first { $0.name == "collector.receiver.receive" }, "no receive span in trace \(trace): \(names(spans))")
        #expect(receive.traceID == Data(hex: trace))
        #expect(receive.parentSpanID == Data(hex: parent), "the receive span's parent is the header's span id")
        #expect(receive.kind == .server)
        #expect(receive.spanID.count == 8 && receive.spanID != Data(hex: parent))
        #expect(attribute(receive, "vigil.outcome") == "accepted")
        #expect(attribute(receive, "http.route") == WireContract.batchesPath)
        for stage in Self.stages {
            let children = spans.filter { $0.name == stage }
            #expect(!children.isEmpty, "no \(stage) span in trace \(trace): \(names(spans))")
            for child in children {
                #expect(child.traceID == receive.traceID, "\(stage) is in another trace")
                #expect(child.parentSpanID == receive.spanID, "\(stage) is not a child of collector.receiver.receive")
                #expect(child.endTimeUnixNano >= child.startTimeUnixNano)
            }
        }
        // Exactly one receive span for one request; every span of this trace hangs off it (or off the header's span).
        #expect(spans.filter { $0.name == "collector.receiver.receive" }.count == 1)
        #expect(spans.allSatisfy { $0.parentSpanID == receive.spanID || $0.spanID == receive.spanID }, "\(names(spans))")
        // The Ack-free JSON path reports the trace too: the ingest answer names it.
        let ingestTrace = randomIDs()
        let ingest = try await collector.send(
            WireContract.ingestPath,
            body: Array(
                #"{"producer":"trace-test","sequence":1,"bars":[{"symbol":"TRC","time":"2024-03-01","open":1,"high":1.1,"low":0.9,"close":1}]}"#.utf8),
            headers: [("Content-Type", "application/json"), ("traceparent", "00-\(ingestTrace.0)-\(ingestTrace.1)-01")])
        #expect(ingest.status == 200, "\(ingest.bodyText)")
        let answer = (try? JSONSerialization.jsonObject(with: Data(ingest.body))) as? [String: Any]
        #expect(answer?["trace_id"] as? String == ingestTrace.0)
    }

    @Test func aDuplicateIsTracedWithoutPartitionOrAlerterStages() async throws {
        let collector = try await CollectorHarness.start()
        defer { Task { await collector.stop() } }
        let batch = makeBatch(sequence: 1, bars: 10)
        #expect(try await collector.post(batch).1?.status == .accepted)
        let (trace, parent) = randomIDs()
        #expect(try await collector.post(batch, headers: [("traceparent", "00-\(trace)-\(parent)-01")]).1?.status == .duplicate)
        let spans = await spans(in: trace, from: collector.recorder) { spans in
            ["collector.receiver.receive", "collector.deduper.check", "collector.store.apply"].allSatisfy { name in spans.contains { $0.name == name }
            }
        }
        let receive = try #require(spans.first { $0.name == "collector.receiver.receive" }, "\(names(spans))")
        #expect(receive.parentSpanID == Data(hex: parent))
        #expect(attribute(receive, "vigil.outcome") == "duplicate")
        for name in ["collector.deduper.check", "collector.store.apply"] {
            #expect(spans.first { $0.name == name }?.parentSpanID == receive.spanID, "\(name): \(names(spans))")
        }
        #expect(!spans.contains { $0.name == "collector.partition.process" || $0.name == "collector.alerter.raise" }, "\(names(spans))")
    }

    @Test func anInvalidTraceparentStartsANewTrace() async throws {
        let collector = try await CollectorHarness.start()
        defer { Task { await collector.stop() } }
        let zeros = String(repeating: "0", count: 32)
        let (_, parent) = randomIDs()
        #expect(
            try await collector.post(makeBatch(sequence: 1, bars: 10), headers: [("traceparent", "00-\(zeros)-\(parent)-01")]).1?.status == .accepted)
        var receive: Opentelemetry_Proto_Trace_V1_Span?
        _ = await eventually {
            receive = receive ?? collector.recorder.drain().first { $0.name == "collector.receiver.receive" }
            return receive != nil
        }
        let span = try #require(receive)
        #expect(span.traceID.count == 16 && span.traceID != Data(count: 16), "an all-zero trace id is invalid and replaced")
        #expect(span.parentSpanID.isEmpty, "a fresh trace has no parent")
    }

    @Test(arguments: stores)
    func alertsKeepTheTraceOfTheDetectionsThatRaisedThem(postgres: Bool) async throws {
        let collector = try await CollectorHarness.start(postgres: postgres)
        defer { Task { await collector.stop() } }
        // Detections carry their own (agent-side) trace; the request's traceparent is a different trace.
        let (detectionTrace, detectionSpan) = randomIDs()
        var batch = makeBatch(sequence: 1, symbols: ["TRA"], spikeAt: 40)
        try #require(!batch.detections.isEmpty, "the spike raised no detection")
        for index in batch.detections.indices {
            batch.detections[index].traceID = Data(hex: detectionTrace)
            batch.detections[index].spanID = Data(hex: detectionSpan)
        }
        let (requestTrace, requestSpan) = randomIDs()
        #expect(try await collector.post(batch, headers: [("traceparent", "00-\(requestTrace)-\(requestSpan)-01")]).1?.status == .accepted)

        let events = (try await collector.json("/v1/events?symbol=TRA&limit=10000"))["items"] as? [[String: Any]] ?? []
        #expect(events.count == batch.detections.count)
        #expect(events.allSatisfy { $0["trace_id"] as? String == detectionTrace && $0["span_id"] as? String == detectionSpan }, "\(events)")
        let alerts = (try await collector.json("/v1/alerts?symbol=TRA"))["items"] as? [[String: Any]] ?? []
        try #require(!alerts.isEmpty, "the spike raised no alert")
        for alert in alerts {
            #expect(alert["trace_id"] as? String == detectionTrace, "\(alert)")
            #expect(alert["span_id"] as? String == detectionSpan, "\(alert)")
            let id = (alert["id"] as? NSNumber)?.int64Value ?? -1
            let one = try await collector.json("/v1/alerts/\(id)")
            #expect(one["trace_id"] as? String == detectionTrace)
        }

        // Bars through /v1/ingest are scored at the collector: their detections and alerts carry the request's trace.
        let (ingestTrace, ingestSpan) = randomIDs()
        var bars: [String] = []
        var price = 50.0
        for day in 0..<60 {
            price *= day == 45 ? 1.4 : (day % 2 == 0 ? 1.004 : 0.996)
            bars.append(
                #"{"symbol":"TRI","timestamp_ms":\#(1_704_153_600_000 + Int64(day) * 86_400_000),"open":\#(price),"high":\#(price * 1.01),"low":\#(price * 0.99),"close":\#(price),"volume":\#(day == 45 ? 8_000_000 : 1_000_000)}"#
            )
        }
        let ingest = try await collector.send(
            WireContract.ingestPath, body: Array(#"{"producer":"trace","sequence":1,"bars":[\#(bars.joined(separator: ","))]}"#.utf8),
            headers: [("Content-Type", "application/json"), ("traceparent", "00-\(ingestTrace)-\(ingestSpan)-01")])
        #expect(ingest.status == 200, "\(ingest.bodyText)")
        let scored = (try await collector.json("/v1/events?symbol=TRI&limit=10000"))["items"] as? [[String: Any]] ?? []
        #expect(!scored.isEmpty, "the day-45 spike raised no Tier-1 detection")
        #expect(scored.allSatisfy { $0["trace_id"] as? String == ingestTrace }, "\(scored)")
        let ingestAlerts = (try await collector.json("/v1/alerts?symbol=TRI"))["items"] as? [[String: Any]] ?? []
        #expect(!ingestAlerts.isEmpty)
        #expect(ingestAlerts.allSatisfy { $0["trace_id"] as? String == ingestTrace }, "\(ingestAlerts)")
    }
}

/// A random, valid (non-zero) trace id (32 hex) and span id (16 hex).
private func randomIDs() -> (String, String) {
    func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
    return (hex(UInt64.random(in: 1...UInt64.max)) + hex(UInt64.random(in: 0...UInt64.max)), hex(UInt64.random(in: 1...UInt64.max)))
}

/// Drains `recorder` until the spans of `trace` satisfy `complete` (or a generous deadline passes), keeping only that
/// trace's spans: other suites run their own collectors in parallel, but filter anyway.
private func spans(
    in trace: String, from recorder: SpanRecorder, until complete: ([Opentelemetry_Proto_Trace_V1_Span]) -> Bool
) async -> [Opentelemetry_Proto_Trace_V1_Span] {
    let id = Data(hex: trace)
    var collected: [Opentelemetry_Proto_Trace_V1_Span] = []
    _ = await eventually {
        collected += recorder.drain().filter { $0.traceID == id }
        return complete(collected)
    }
    return collected
}

private func names(_ spans: [Opentelemetry_Proto_Trace_V1_Span]) -> [String] { spans.map(\.name).sorted() }

private func attribute(_ span: Opentelemetry_Proto_Trace_V1_Span, _ key: String) -> String? {
    guard let value = span.attributes.first(where: { $0.key == key })?.value else { return nil }
    switch value.value {
    case .stringValue(let text): return text
    case .intValue(let number): return "\(number)"
    case .boolValue(let flag): return "\(flag)"
    case .doubleValue(let number): return "\(number)"
    default: return nil
    }
}

extension Data {
    /// Bytes of a lowercase hex string (ids in tests); empty for odd lengths or non-hex digits.
    fileprivate init(hex: String) {
        var bytes: [UInt8] = []
        var iterator = hex.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let byte = UInt8(String([high, low]), radix: 16) else {
                self.init()
                return
            }
            bytes.append(byte)
        }
        self.init(bytes)
    }
}
