import Foundation
import Metrics
import ServiceContextModule
import Synchronization
import Tracing
import VigilWire

/// A swift-distributed-tracing `Tracer` that records finished spans as OTLP protobuf messages in a bounded buffer.
///
/// The agent drains the buffer into each batch (its spans ride to the collector with the data, so an edge host needs
/// no connection to a trace backend); the collector drains it into its OTLP/HTTP exporter. Ids follow W3C trace
/// context, so a `traceparent` header continues a trace across processes.
public final class VigilTracer: Tracer, Sendable {
    public typealias Span = VigilSpan

    public let recorder: SpanRecorder

    public init(recorder: SpanRecorder) {
        self.recorder = recorder
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> VigilSpan {
        var spanContext = context()
        let parent = spanContext.spanContext
        var generator = SystemRandomNumberGenerator()
        let own = SpanContext(
            traceIDHigh: parent?.traceIDHigh ?? generator.next(),
            traceIDLow: parent?.traceIDLow ?? generator.next(),
            spanID: generator.next() | 1,  // never the all-zero (invalid) id
            sampled: parent?.sampled ?? true)
        spanContext.spanContext = own
        return VigilSpan(
            name: operationName, kind: kind, context: spanContext, own: own, parentSpanID: parent?.spanID,
            start: instant().nanosecondsSinceEpoch, recorder: recorder)
    }

    public func forceFlush() {}

    public func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Carrier == Inject.Carrier {
        guard let spanContext = context.spanContext else { return }
        injector.inject(spanContext.traceparent, forKey: "traceparent", into: &carrier)
    }

    public func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract: Extractor, Carrier == Extract.Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier), let parsed = SpanContext(traceparent: header) else {
            return
        }
        context.spanContext = parsed
    }
}

/// One span; thread-safe because instrumented code may touch it from several tasks.
public final class VigilSpan: Tracing.Span, Sendable {
    public let context: ServiceContext
    public let spanContext: SpanContext
    private let kind: SpanKind
    private let parentSpanID: UInt64?
    private let start: UInt64
    private let recorder: SpanRecorder
    private let state: Mutex<State>

    private struct State {
        var name: String
        var attributes: SpanAttributes = [:]
        var events: [SpanEvent] = []
        var links: [SpanLink] = []
        var status: SpanStatus?
        var ended = false
    }

    init(name: String, kind: SpanKind, context: ServiceContext, own: SpanContext, parentSpanID: UInt64?, start: UInt64, recorder: SpanRecorder) {
        self.context = context
        self.spanContext = own
        self.kind = kind
        self.parentSpanID = parentSpanID
        self.start = start
        self.recorder = recorder
        self.state = Mutex(State(name: name))
    }

    public var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { $0.name = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    public var isRecording: Bool { state.withLock { !$0.ended } }

    public func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status } }

    public func addEvent(_ event: SpanEvent) { state.withLock { $0.events.append(event) } }

    public func addLink(_ link: SpanLink) { state.withLock { $0.links.append(link) } }

    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        var eventAttributes = attributes
        eventAttributes["exception.type"] = "\(type(of: error))"
        eventAttributes["exception.message"] = "\(error)"
        let event = SpanEvent(name: "exception", at: instant(), attributes: eventAttributes)
        state.withLock {
            $0.events.append(event)
            if $0.status == nil { $0.status = SpanStatus(code: .error, message: "\(error)") }
        }
    }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let endTime = instant().nanosecondsSinceEpoch
        guard
            let finished = state.withLock({ state -> State? in
                guard !state.ended else { return nil }
                state.ended = true
                return state
            })
        else { return }
        var span = Opentelemetry_Proto_Trace_V1_Span()
        span.traceID = Data(spanContext.traceIDBytes)
        span.spanID = Data(spanContext.spanIDBytes)
        if let parentSpanID {
            span.parentSpanID = Data(SpanContext(traceIDHigh: 0, traceIDLow: 0, spanID: parentSpanID).spanIDBytes)
        }
        span.flags = 0x100  // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK: the "is remote" bit below is meaningful
        span.name = finished.name
        span.kind = kind.otlp
        span.startTimeUnixNano = start
        span.endTimeUnixNano = max(endTime, start)
        span.attributes = finished.attributes.otlp
        span.events = finished.events.map { event in
            var otlp = Opentelemetry_Proto_Trace_V1_Span.Event()
            otlp.name = event.name
            otlp.timeUnixNano = event.nanosecondsSinceEpoch
            otlp.attributes = event.attributes.otlp
            return otlp
        }
        span.links = finished.links.compactMap { link in
            guard let linked = link.context.spanContext else { return nil }
            var otlp = Opentelemetry_Proto_Trace_V1_Span.Link()
            otlp.traceID = Data(linked.traceIDBytes)
            otlp.spanID = Data(linked.spanIDBytes)
            otlp.attributes = link.attributes.otlp
            return otlp
        }
        if let status = finished.status {
            span.status.code = status.code == .ok ? .ok : .error
            span.status.message = status.message ?? ""
        }
        recorder.record(span)
    }
}

extension SpanKind {
    var otlp: Opentelemetry_Proto_Trace_V1_Span.SpanKind {
        switch self {
        case .server: .server
        case .client: .client
        case .producer: .producer
        case .consumer: .consumer
        default: .internal
        }
    }
}

extension SpanAttributes {
    var otlp: [Opentelemetry_Proto_Common_V1_KeyValue] {
        var result: [Opentelemetry_Proto_Common_V1_KeyValue] = []
        result.reserveCapacity(count)
        forEach { key, attribute in
            var keyValue = Opentelemetry_Proto_Common_V1_KeyValue()
            keyValue.key = key
            keyValue.value = attribute.otlp
            result.append(keyValue)
        }
        return result.sorted { $0.key < $1.key }
    }
}

extension SpanAttribute {
    var otlp: Opentelemetry_Proto_Common_V1_AnyValue {
        var value = Opentelemetry_Proto_Common_V1_AnyValue()
        func array(_ values: [Opentelemetry_Proto_Common_V1_AnyValue]) -> Opentelemetry_Proto_Common_V1_AnyValue {
            var list = Opentelemetry_Proto_Common_V1_AnyValue()
            list.arrayValue.values = values
            return list
        }
        switch self {
        case .int32(let number): value.intValue = Int64(number)
        case .int64(let number): value.intValue = number
        case .double(let number): value.doubleValue = number
        case .bool(let flag): value.boolValue = flag
        case .string(let text): value.stringValue = text
        case .int32Array(let numbers): value = array(numbers.map { SpanAttribute.int32($0).otlp })
        case .int64Array(let numbers): value = array(numbers.map { SpanAttribute.int64($0).otlp })
        case .doubleArray(let numbers): value = array(numbers.map { SpanAttribute.double($0).otlp })
        case .boolArray(let flags): value = array(flags.map { SpanAttribute.bool($0).otlp })
        case .stringArray(let texts): value = array(texts.map { SpanAttribute.string($0).otlp })
        case .stringConvertible(let convertible): value.stringValue = convertible.description
        case .stringConvertibleArray(let items): value = array(items.map { SpanAttribute.string($0.description).otlp })
        default: value.stringValue = "\(self)"
        }
        return value
    }
}

/// Bounded buffer of finished spans. When it is full the newest span is dropped and counted
/// (`vigil_spans_dropped_total`): tracing must never hold back or slow the data path.
public final class SpanRecorder: Sendable {
    public let capacity: Int
    private let buffer = Mutex<[Opentelemetry_Proto_Trace_V1_Span]>([])
    private let dropped: Counter
    private let recorded: Counter

    public init(capacity: Int = 4096, component: String) {
        self.capacity = capacity
        self.dropped = Counter(label: MetricName.spansDropped, dimensions: [("component", component)])
        self.recorded = Counter(label: MetricName.spansRecorded, dimensions: [("component", component)])
    }

    public func record(_ span: Opentelemetry_Proto_Trace_V1_Span) {
        let accepted = buffer.withLock { spans -> Bool in
            guard spans.count < capacity else { return false }
            spans.append(span)
            return true
        }
        if accepted { recorded.increment() } else { dropped.increment() }
    }

    /// Removes and returns up to `limit` spans, oldest first.
    public func drain(limit: Int = .max) -> [Opentelemetry_Proto_Trace_V1_Span] {
        buffer.withLock { spans in
            let count = min(limit, spans.count)
            let taken = Array(spans.prefix(count))
            spans.removeFirst(count)
            return taken
        }
    }

    public var count: Int { buffer.withLock { $0.count } }
}

extension Opentelemetry_Proto_Trace_V1_ResourceSpans {
    /// Wraps spans with the resource that identifies their process (`service.name`, …) and the instrumentation scope.
    public init(spans: [Opentelemetry_Proto_Trace_V1_Span], resource attributes: [(String, String)], scope: String, version: String) {
        self.init()
        resource.attributes = attributes.map { key, text in
            var keyValue = Opentelemetry_Proto_Common_V1_KeyValue()
            keyValue.key = key
            keyValue.value.stringValue = text
            return keyValue
        }
        var scopeSpans = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        scopeSpans.scope.name = scope
        scopeSpans.scope.version = version
        scopeSpans.spans = spans
        self.scopeSpans = [scopeSpans]
    }
}
