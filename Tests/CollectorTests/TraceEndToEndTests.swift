import Foundation
import Synchronization
import Testing
import VigilHTTP
import VigilTestSupport
import VigilWire

/// Real processes: `vigil-agent` replays a CSV with an obvious spike to `vigil-collector`, which exports its own spans
/// and forwards the agent's over OTLP/HTTP to a loopback receiver. The alert the spike raises names a trace; that one
/// trace must hold the agent's spans and the collector's, linked as the README's Telemetry section describes:
///
///     agent.feed.poll ─┬─ agent.normalizer.normalize
///                      └─ agent.detector.detect  (the alert's span id)
///                           └─ agent.batcher.seal ─┬─ agent.spool.append
///                                                  └─ agent.shipper.send (one per attempt)
///                                                       └─ collector.receiver.receive
///                                                            ├─ collector.deduper.check
///                                                            ├─ collector.partition.process
///                                                            ├─ collector.alerter.raise
///                                                            └─ collector.store.apply
///
/// The seal span hangs off the detect span because a batch joins the trace of its first detection
/// (`Batcher.leadTrace`); `collector.scorer.score` joins only when a Tier-2 champion exists, and none is trained here.
@Suite(.serialized)
struct TraceEndToEndTests {
    static let collector = packageBinary("vigil-collector")
    static let agent = packageBinary("vigil-agent")

    static let symbol = "TRCE"
    static let agentID = "trace-agent"
    static let collectorID = "trace-collector"

    static let agentSpans: Set = [
        "agent.feed.poll", "agent.normalizer.normalize", "agent.detector.detect", "agent.batcher.seal", "agent.spool.append", "agent.shipper.send",
    ]
    static let collectorStages = ["collector.deduper.check", "collector.partition.process", "collector.alerter.raise", "collector.store.apply"]

    @Test(.enabled(if: collector != nil && agent != nil, "needs vigil-collector and vigil-agent (swift build)"))
    func theAlertsTraceRunsFromTheFeedPollThroughTheCollector() async throws {
        let receiver = try OTLPReceiver()
        let run = try TraceRun(otlpEndpoint: receiver.url)
        let collector = try run.launch(
            try #require(Self.collector), ["serve", "--config", run.directory.path + "/collector.yaml"], log: "collector.log")
        var agent: Process?
        do {
            let up = await eventually(timeout: .seconds(120)) { await httpGet("\(run.baseURL)/healthz")?.0 == 200 }
            try #require(up, "collector did not come up: \(run.log("collector.log").suffix(2000))")
            agent = try run.launch(
                try #require(Self.agent), ["run", "--config", run.directory.path + "/agent.yaml", "--exit-when-drained"], log: "agent.log")
            try await verify(run: run, receiver: receiver)
            try await verifyLastBatch(run: run, receiver: receiver, agent: try #require(agent))
        } catch {
            await run.stop(agent)
            await run.stop(collector)
            throw error
        }
        await run.stop(agent)
        await run.stop(collector)
    }

    private func verify(run: TraceRun, receiver: OTLPReceiver) async throws {
        // The spike's alert, with the trace and span id of the bar that raised it.
        var alerts: [APIAlertBody] = []
        let raised = await eventually(timeout: .seconds(180)) {
            alerts = (try? await run.get("/v1/alerts?symbol=\(Self.symbol)", as: AlertPage.self).items) ?? []
            return alerts.contains { $0.covers(run.spikeTimestamp) }
        }
        try #require(raised, "no alert for the spike: \(alerts)\nagent: \(run.log("agent.log").suffix(1500))")
        let alert = try #require(alerts.first { $0.covers(run.spikeTimestamp) })
        let traceID = try #require(alert.traceId, "the alert has no trace id: \(alert)")
        let spanID = try #require(alert.spanId, "the alert has no span id: \(alert)")
        #expect(traceID.count == 32 && spanID.count == 16)
        let single = try await run.get("/v1/alerts/\(alert.id)", as: APIAlertBody.self)
        #expect(single.traceId == traceID && single.spanId == spanID, "GET /v1/alerts/\(alert.id): \(single)")
        // The detections of the spike bar carry the same ids as the alert they raised.
        let events = try await run.get("/v1/events?symbol=\(Self.symbol)&limit=10000", as: EventPage.self).items
        let spikeEvents = events.filter { $0.timestampMs == run.spikeTimestamp }
        #expect(!spikeEvents.isEmpty, "no stored detection at the spike: \(events)")
        #expect(spikeEvents.allSatisfy { $0.traceId == traceID && $0.spanId == spanID }, "\(spikeEvents)")

        // The trace is complete once the collector has forwarded the agent's spans (the append and send spans ride in
        // a later batch than the one they describe) and exported its own.
        var spans: [OTLPReceiver.ReceivedSpan] = []
        let complete = await eventually(timeout: .seconds(180)) {
            spans = receiver.trace(traceID)
            let names = Set(spans.map(\.span.name))
            guard Self.agentSpans.isSubset(of: names) else { return false }
            // A retried send whose span is still on its way would leave a receive span without its parent.
            let sendIDs = Set(spans.filter { $0.span.name == "agent.shipper.send" }.map(\.span.spanID))
            let receives = spans.filter { $0.span.name == "collector.receiver.receive" }
            guard receives.allSatisfy({ sendIDs.contains($0.span.parentSpanID) }) else { return false }
            return spans.contains { received in
                received.span.name == "collector.receiver.receive" && received.attribute("vigil.outcome") == "accepted"
                    && Self.collectorStages.allSatisfy { stage in
                        spans.contains { $0.span.name == stage && $0.span.parentSpanID == received.span.spanID }
                    }
            }
        }
        #expect(receiver.problems.isEmpty, "the receiver refused exports: \(receiver.problems)")
        try #require(
            complete,
            "trace \(traceID) incomplete: \(spans.map(\.span.name).sorted())\ncollector: \(run.log("collector.log").suffix(1500))")
        checkStructure(spans, traceID: traceID, alertSpanID: spanID)
    }

    /// The last batch's spool-append and send spans have no later batch to ride in: after the agent drained and stopped
    /// they arrive in the batch of spans it seals at shutdown (`AgentPipeline.sealRecordedSpans`).
    private func verifyLastBatch(run: TraceRun, receiver: OTLPReceiver, agent: Process) async throws {
        let exited = await eventually(timeout: .seconds(180)) { !agent.isRunning }
        try #require(exited, "the agent did not exit when drained: \(run.log("agent.log").suffix(1500))")
        #expect(agent.terminationStatus == 0, "\(run.log("agent.log").suffix(1500))")
        let seals = receiver.spans(named: "agent.batcher.seal").filter { (Int($0.attribute("vigil.batch.bars") ?? "") ?? 0) > 0 }
        let last = try #require(
            seals.max { (Int($0.attribute("vigil.batch.sequence") ?? "") ?? 0) < (Int($1.attribute("vigil.batch.sequence") ?? "") ?? 0) })
        let sequence = try #require(last.attribute("vigil.batch.sequence"))
        #expect(seals.count == 90, "one batch per replayed bar: \(seals.count)")
        var appends: [OTLPReceiver.ReceivedSpan] = []
        var sends: [OTLPReceiver.ReceivedSpan] = []
        let arrived = await eventually(timeout: .seconds(60)) {
            appends = receiver.spans(named: "agent.spool.append").filter { $0.span.parentSpanID == last.span.spanID }
            sends = receiver.spans(named: "agent.shipper.send").filter { $0.attribute("vigil.batch.sequence") == sequence }
            return !appends.isEmpty && sends.contains { $0.attribute("http.response.status_code") == "200" }
        }
        #expect(
            arrived,
            "batch \(sequence): \(appends.count) append, sends \(sends.map { $0.attribute("http.response.status_code") ?? "-" })\nagent: \(run.log("agent.log").suffix(1500))"
        )
        #expect(sends.allSatisfy { $0.span.parentSpanID == last.span.spanID && $0.span.traceID == last.span.traceID })
        // The spans-only batch records no send span of its own: no send names a batch after the last one with bars.
        let sequences = receiver.spans(named: "agent.shipper.send").compactMap { Int($0.attribute("vigil.batch.sequence") ?? "") }
        #expect(sequences.allSatisfy { $0 <= Int(sequence) ?? 0 }, "\(sequences.sorted().suffix(5))")
        #expect(!run.log("agent.log").contains("wait in the spool"), "\(run.log("agent.log").suffix(1500))")
    }

    private func checkStructure(_ spans: [OTLPReceiver.ReceivedSpan], traceID: String, alertSpanID: String) {
        func named(_ name: String) -> [OTLPReceiver.ReceivedSpan] { spans.filter { $0.span.name == name } }
        let listing = spans.map { "\($0.span.name) \(hex($0.span.spanID)) ← \(hex($0.span.parentSpanID))" }.sorted()
        #expect(spans.allSatisfy { hex($0.span.traceID) == traceID })
        #expect(Set(spans.map(\.span.spanID)).count == spans.count, "a span arrived twice: \(listing)")

        // Agent side: one poll of one bar, so one of each span but the send (one per delivery attempt).
        for name in Self.agentSpans where name != "agent.shipper.send" {
            #expect(named(name).count == 1, "\(name): \(listing)")
        }
        guard let poll = named("agent.feed.poll").first, let normalize = named("agent.normalizer.normalize").first,
            let detect = named("agent.detector.detect").first, let seal = named("agent.batcher.seal").first,
            let append = named("agent.spool.append").first
        else { return }
        let sends = named("agent.shipper.send")
        #expect(poll.span.parentSpanID.isEmpty, "the trace starts at the feed poll: \(listing)")
        #expect(poll.attribute("vigil.feed.name") == "replay")
        #expect(normalize.span.parentSpanID == poll.span.spanID, "\(listing)")
        #expect(detect.span.parentSpanID == poll.span.spanID, "\(listing)")
        #expect(hex(detect.span.spanID) == alertSpanID, "the alert's span id is the detect span: \(listing)")
        #expect((Int(detect.attribute("vigil.detections") ?? "") ?? 0) > 0)
        #expect(seal.span.parentSpanID == detect.span.spanID, "the batch joins its first detection's trace: \(listing)")
        #expect(seal.attribute("vigil.batch.bars") == "1")
        #expect(append.span.parentSpanID == seal.span.spanID, "\(listing)")
        #expect(!sends.isEmpty)
        for send in sends {
            #expect(send.span.parentSpanID == seal.span.spanID, "\(listing)")
            #expect(send.span.kind == .client)
            #expect(send.attribute("vigil.batch.sequence") == seal.attribute("vigil.batch.sequence"))
        }
        for received in spans where Self.agentSpans.contains(received.span.name) {
            #expect(received.resource["service.name"] == "vigil-agent", "\(received.span.name): \(received.resource)")
            #expect(received.resource["vigil.agent.id"] == Self.agentID, "\(received.span.name): \(received.resource)")
        }

        // Collector side: each delivery attempt that reached it is a receive span under that attempt's send span; the
        // accepted one has the pipeline's stages as children.
        let receives = named("collector.receiver.receive")
        let sendIDs = Set(sends.map(\.span.spanID))
        #expect(receives.allSatisfy { sendIDs.contains($0.span.parentSpanID) }, "receive spans continue the send's traceparent: \(listing)")
        #expect(receives.allSatisfy { $0.span.kind == .server && $0.attribute("http.route") == WireContract.batchesPath })
        let accepted = receives.filter { $0.attribute("vigil.outcome") == "accepted" }
        #expect(accepted.count == 1, "the batch is accepted exactly once: \(listing)")
        let receiveIDs = Set(receives.map(\.span.spanID))
        for stage in Self.collectorStages {
            #expect(named(stage).contains { $0.span.parentSpanID == accepted.first?.span.spanID }, "\(stage): \(listing)")
        }
        let collectorSpans = spans.filter { !Self.agentSpans.contains($0.span.name) }
        // A symbol's first request also reads its stored history (none here) for the state a restart would have lost.
        let designed = Set(Self.collectorStages + ["collector.receiver.receive", "collector.scorer.score", "collector.partition.warmup"])
        for received in collectorSpans {
            #expect(designed.contains(received.span.name), "unexpected span \(received.span.name): \(listing)")
            #expect(received.span.name == "collector.receiver.receive" || receiveIDs.contains(received.span.parentSpanID), "\(listing)")
            #expect(received.resource["service.name"] == "vigil-collector", "\(received.span.name): \(received.resource)")
            #expect(received.resource["service.instance.id"] == Self.collectorID, "\(received.span.name): \(received.resource)")
        }
        // No Tier-2 model is trained in this run, so nothing scores and no scorer span is designed to appear.
        #expect(named("collector.scorer.score").isEmpty, "\(listing)")
    }
}

// MARK: - The run

/// A collector and an agent configured in a temporary directory, with the CSV they replay.
private final class TraceRun: Sendable {
    let directory = TemporaryDirectory()
    let port: Int
    /// Bar time of the spike in the replayed CSV.
    let spikeTimestamp: Int64

    var baseURL: String { "http://127.0.0.1:\(port)" }

    init(otlpEndpoint: String) throws {
        port = try freePort()
        let (csv, spike) = Self.spikeCSV(symbol: TraceEndToEndTests.symbol)
        spikeTimestamp = spike
        let csvPath = directory.path + "/\(TraceEndToEndTests.symbol).csv"
        try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
        try """
        collector: {id: \(TraceEndToEndTests.collectorID), data_dir: \(directory.path)/collector}
        server: {listen: "127.0.0.1:\(port)", retry_after_seconds: 0}
        partitions: {count: 2}
        store: {kind: sqlite}
        tracing: {otlp_endpoint: "\(otlpEndpoint)", forward_agent_spans: true, export_interval_milliseconds: 100, export_timeout_seconds: 30}
        logging: {level: info}
        """.write(toFile: directory.path + "/collector.yaml", atomically: true, encoding: .utf8)
        // One bar per poll (`batch_size: 1`) and per batch (`max_bars: 1`): the spike bar's batch leads with the spike's
        // detection, so its seal and send spans join the alert's trace. A batch's append and send spans travel in a
        // later batch; the last batch's in the spans-only batch the agent seals when it stops (`--exit-when-drained`).
        try """
        agent: {id: \(TraceEndToEndTests.agentID), data_dir: \(directory.path)/agent, detector_snapshot_seconds: 0}
        collector: {url: "\(baseURL)", initial_backoff_ms: 50, max_backoff_ms: 1000, timeout_seconds: 30}
        batch: {max_bars: 1, max_age_ms: 100}
        spool: {fsync: never}
        admin: {enabled: false}
        logging: {level: info}
        feeds:
          - {type: replay, name: replay, path: \(csvPath), speed: 0, batch_size: 1}
        """.write(toFile: directory.path + "/agent.yaml", atomically: true, encoding: .utf8)
    }

    /// 90 daily bars of a calm random walk (seeded) with one 35 % jump on a tenfold volume at bar 60, undone the next day.
    static func spikeCSV(symbol: String) -> (String, Int64) {
        var state: UInt64 = 0x5EED
        func uniform() -> Double {
            // SplitMix64: deterministic noise, so the calm part never flags.
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        let start: Int64 = 1_704_067_200_000  // 2024-01-01
        let spikeIndex = 60
        var lines = ["date,open,high,low,close,volume,Name"]
        var close = 50.0
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        for day in 0..<90 {
            let open = close
            close = day == spikeIndex ? open * 1.35 : day == spikeIndex + 1 ? open / 1.35 : open * (1 + (uniform() - 0.5) * 0.016)
            let volume = day == spikeIndex ? 10_000_000 : Int(1_000_000 * (0.9 + 0.2 * uniform()))
            let date = Date(timeIntervalSince1970: Double(start / 1000 + Int64(day) * 86_400))
            let high = max(open, close) * 1.002
            let low = min(open, close) * 0.998
            lines.append(
                "\(formatter.string(from: date)),\(String(format: "%.4f", open)),\(String(format: "%.4f", high)),\(String(format: "%.4f", low)),\(String(format: "%.4f", close)),\(volume),\(symbol)"
            )
        }
        return (lines.joined(separator: "\n") + "\n", start + Int64(spikeIndex) * 86_400_000)
    }

    func log(_ name: String) -> String { (try? String(contentsOfFile: directory.path + "/" + name, encoding: .utf8)) ?? "" }

    func launch(_ binary: String, _ arguments: [String], log: String) throws -> Process {
        try launchLogged(binary, arguments, logPath: directory.path + "/" + log)
    }

    /// SIGTERM, then SIGKILL if the process has not exited after a generous grace period.
    func stop(_ process: Process?) async {
        guard let process else { return }
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        if !(await eventually(timeout: .seconds(60)) { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func get<T: Decodable>(_ path: String, as: T.Type) async throws -> T {
        let response = try await HTTPClient().execute(HTTPRequest(url: baseURL + path, timeoutSeconds: 30))
        guard response.status == 200 else { throw TestFailure("GET \(path): \(response.status) \(response.bodyText)") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(response.body))
    }
}

private struct APIAlertBody: Decodable, CustomStringConvertible {
    var id: Int64
    var symbol: String
    var firstTimestampMs: Int64
    var lastTimestampMs: Int64
    var traceId: String?
    var spanId: String?

    func covers(_ timestamp: Int64) -> Bool { firstTimestampMs <= timestamp && timestamp <= lastTimestampMs }
    var description: String { "alert \(id) \(symbol) [\(firstTimestampMs), \(lastTimestampMs)] trace \(traceId ?? "-") span \(spanId ?? "-")" }
}

private struct AlertPage: Decodable { var items: [APIAlertBody] }

private struct EventPage: Decodable {
    struct Event: Decodable {
        var timestampMs: Int64
        var traceId: String?
        var spanId: String?
    }
    var items: [Event]
}

// MARK: - OTLP receiver

/// A loopback OTLP/HTTP traces endpoint. Each export is decoded as it arrives (on the server's connection thread) and
/// its spans are indexed by trace id with their resource's attributes, so polling for a trace stays cheap.
private final class OTLPReceiver: Sendable {
    struct ReceivedSpan: Sendable {
        var span: Opentelemetry_Proto_Trace_V1_Span
        var resource: [String: String]

        func attribute(_ key: String) -> String? {
            guard let value = span.attributes.first(where: { $0.key == key })?.value.value else { return nil }
            switch value {
            case .stringValue(let text): return text
            case .intValue(let number): return "\(number)"
            case .boolValue(let flag): return "\(flag)"
            case .doubleValue(let number): return "\(number)"
            default: return nil
            }
        }
    }

    final class Store: Sendable {
        private struct State {
            var traces: [String: [ReceivedSpan]] = [:]
            var problems: [String] = []
        }
        private let state = Mutex(State())

        func receive(_ request: ServerRequest) -> ServerResponse {
            guard request.method == "POST", request.path == "/v1/traces" else {
                return refuse(404, "\(request.method) \(request.path)")
            }
            guard request.header("content-type") == "application/x-protobuf" else {
                return refuse(415, "content type \(request.header("content-type") ?? "none")")
            }
            do {
                var body = request.body
                if request.header("content-encoding") == "gzip" { body = try Gzip.decompress(body, maxOutputBytes: 64 << 20) }
                let export = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest(serializedBytes: body)
                var received: [ReceivedSpan] = []
                for resourceSpans in export.resourceSpans {
                    var resource: [String: String] = [:]
                    for attribute in resourceSpans.resource.attributes { resource[attribute.key] = attribute.value.stringValue }
                    for scope in resourceSpans.scopeSpans {
                        received += scope.spans.map { ReceivedSpan(span: $0, resource: resource) }
                    }
                }
                state.withLock { state in
                    for span in received { state.traces[hex(span.span.traceID), default: []].append(span) }
                }
                let answer: [UInt8] = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse().serializedBytes()
                return ServerResponse(status: 200, headers: [("Content-Type", "application/x-protobuf")], body: answer)
            } catch {
                return refuse(400, "undecodable export: \(error)")
            }
        }

        private func refuse(_ status: Int, _ problem: String) -> ServerResponse {
            state.withLock { $0.problems.append(problem) }
            return ServerResponse(status: status, contentType: "text/plain", text: problem)
        }

        func trace(_ id: String) -> [ReceivedSpan] { state.withLock { $0.traces[id] ?? [] } }
        func spans(named name: String) -> [ReceivedSpan] { state.withLock { $0.traces.values.flatMap { $0.filter { $0.span.name == name } } } }
        var problems: [String] { state.withLock { $0.problems } }
    }

    let store: Store
    let server: SimpleHTTPServer

    init() throws {
        let store = Store()
        self.store = store
        server = try SimpleHTTPServer { request in store.receive(request) }
        server.start()
    }

    deinit { server.stop() }

    var url: String { "http://127.0.0.1:\(server.port)/v1/traces" }
    func trace(_ id: String) -> [ReceivedSpan] { store.trace(id) }
    func spans(named name: String) -> [ReceivedSpan] { store.spans(named: name) }
    var problems: [String] { store.problems }
}

private func hex(_ bytes: Data) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
