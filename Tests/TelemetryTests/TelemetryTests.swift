import Foundation
import Logging
import Metrics
import Prometheus
import ServiceContextModule
import Synchronization
import Testing
import Tracing

@testable import VigilTelemetry

@Suite("Telemetry")
struct TelemetryTests {
    @Test func traceparentRoundTrip() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let context = try #require(SpanContext(traceparent: header))
        #expect(context.traceIDHex == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.spanIDHex == "00f067aa0ba902b7")
        #expect(context.sampled)
        #expect(context.traceparent == header)
        #expect(SpanContext(traceID: context.traceIDBytes, spanID: context.spanIDBytes) == context)
    }

    @Test(arguments: [
        "", "garbage", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // all-zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // forbidden version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
        "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",  // short
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 has exactly four fields
    ])
    func malformedTraceparentIsIgnored(header: String) {
        #expect(SpanContext(traceparent: header) == nil)
    }

    @Test func tracerLinksChildrenToParentsAndRecordsOTLP() throws {
        let recorder = SpanRecorder(capacity: 16, component: "test")
        let tracer = VigilTracer(recorder: recorder)
        let parent = tracer.startSpan("agent.feed.poll", context: .topLevel)
        parent.attributes["vigil.feed"] = "synthetic"
        parent.attributes["vigil.bars"] = 42
        let child = tracer.startSpan("agent.detector.detect", context: parent.context)
        child.recordError(TestError())
        child.end()
        parent.end()
        parent.end()  // a second end is ignored
        let spans = recorder.drain()
        #expect(spans.count == 2)
        let (recordedChild, recordedParent) = (spans[0], spans[1])
        #expect(recordedChild.name == "agent.detector.detect")
        #expect(recordedChild.traceID == recordedParent.traceID)
        #expect(recordedChild.parentSpanID == recordedParent.spanID)
        #expect(recordedParent.parentSpanID.isEmpty)
        #expect(recordedChild.status.code == .error)
        #expect(recordedChild.events.first?.name == "exception")
        #expect(recordedParent.attributes.contains { $0.key == "vigil.bars" && $0.value.intValue == 42 })
        #expect(recordedParent.endTimeUnixNano >= recordedParent.startTimeUnixNano)
        #expect(recorder.count == 0)
    }

    @Test func tracerContinuesARemoteTrace() throws {
        let tracer = VigilTracer(recorder: SpanRecorder(component: "test"))
        var context = ServiceContext.topLevel
        tracer.extract(["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"], into: &context, using: DictionaryExtractor())
        let span = tracer.startSpan("collector.receiver.receive", context: context, ofKind: .server)
        #expect(span.spanContext.traceIDHex == "4bf92f3577b34da6a3ce929d0e0e4736")
        var headers: [String: String] = [:]
        tracer.inject(span.context, into: &headers, using: DictionaryInjector())
        #expect(headers["traceparent"] == span.spanContext.traceparent)
        span.end()
    }

    @Test func recorderIsBoundedAndCountsDrops() {
        let recorder = SpanRecorder(capacity: 3, component: "bounded")
        let tracer = VigilTracer(recorder: recorder)
        for index in 0..<5 { tracer.startSpan("s\(index)", context: .topLevel).end() }
        #expect(recorder.count == 3)
        #expect(recorder.drain(limit: 2).map(\.name) == ["s0", "s1"])
        #expect(recorder.drain().map(\.name) == ["s2"])
    }

    @Test func jsonLogsCarryTraceIDsAndEscape() throws {
        let lines = Mutex<[String]>([])
        let handler = JSONLogHandler(label: "vigil.test", level: .debug) { line in lines.withLock { $0.append(line) } }
        let logger = Logger(label: "vigil.test") { _ in handler }
        let tracer = VigilTracer(recorder: SpanRecorder(component: "test"))
        let span = tracer.startSpan("op", context: .topLevel)
        ServiceContext.withValue(span.context) {
            logger.info("Poll finished.", metadata: ["feed.name": "yahoo", "quote": "a\"b\nc"])
        }
        logger.warning("Outside any span.")
        // A call that names its own trace (an alert's) keeps it, once: no key twice in a line.
        ServiceContext.withValue(span.context) { logger.info("Alert raised.", metadata: ["trace_id": "abc"]) }
        let captured = lines.withLock { $0 }
        #expect(captured.count == 3)
        let third = try #require(JSONSerialization.jsonObject(with: Data(captured[2].utf8)) as? [String: Any])
        #expect(third["trace_id"] as? String == "abc" && third["span_id"] as? String == span.spanContext.spanIDHex)
        #expect(captured[2].components(separatedBy: "\"trace_id\"").count == 2)
        let first = try #require(JSONSerialization.jsonObject(with: Data(captured[0].utf8)) as? [String: Any])
        #expect(first["trace_id"] as? String == span.spanContext.traceIDHex)
        #expect(first["span_id"] as? String == span.spanContext.spanIDHex)
        #expect(first["msg"] as? String == "Poll finished.")
        #expect(first["quote"] as? String == "a\"b\nc")
        #expect(first["level"] as? String == "info")
        let second = try #require(JSONSerialization.jsonObject(with: Data(captured[1].utf8)) as? [String: Any])
        #expect(second["trace_id"] == nil)
    }

    @Test func catalogueNamesFollowPrometheusConventions() {
        let names = MetricCatalogue.all.map(\.name)
        #expect(Set(names).count == names.count, "duplicate metric names")
        for metric in MetricCatalogue.all {
            #expect(metric.name.hasPrefix("vigil_"), "\(metric.name)")
            #expect(metric.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "\(metric.name)")
            #expect(!metric.help.isEmpty)
            if metric.type == .counter { #expect(metric.name.hasSuffix("_total"), "\(metric.name)") }
            if metric.type != .counter { #expect(!metric.name.hasSuffix("_total"), "\(metric.name)") }
        }
    }

    @Test func factoryEmitsHelpAndTypes() {
        let registry = PrometheusCollectorRegistry()
        let factory = CataloguedPrometheusFactory(registry: registry)
        let counter = factory.makeCounter(label: MetricName.feedBars, dimensions: [("feed", "yahoo")])
        counter.increment(by: 3)
        let timer = factory.makeTimer(label: MetricName.shipperDuration, dimensions: [])
        timer.recordNanoseconds(2_000_000)
        let text = String(decoding: PrometheusExposition.render(registry), as: UTF8.self)
        #expect(text.contains("# HELP vigil_agent_feed_bars_total Raw bars produced"))
        #expect(text.contains("# TYPE vigil_agent_feed_bars_total counter"))
        #expect(text.contains("vigil_agent_feed_bars_total{feed=\"yahoo\"} 3"))
        #expect(text.contains("# TYPE vigil_agent_shipper_request_duration_seconds histogram"))
        #expect(text.contains("vigil_agent_shipper_request_duration_seconds_bucket{le=\"0.0025\"} 1"))
    }
}

struct TestError: Error {}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
