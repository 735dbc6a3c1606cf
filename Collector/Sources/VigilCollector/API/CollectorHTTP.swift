import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceContextModule
import Synchronization
import Tracing
import VigilDetection
import VigilStore
import VigilTelemetry
import VigilWire

/// The collector's HTTP surface: the receiver (`/v1/batches`, `/v1/ingest`), the query API, `/metrics`, `/healthz`,
/// `/readyz` and the OpenAPI document. Every route is listed in `openapi.yaml`; a test checks that they agree.
public final class CollectorHTTP: Sendable {
    let pipeline: IngestPipeline
    let store: any BatchStore
    let decoder: RequestDecoder
    let verifier: TokenVerifier
    let server: ServerSection
    let collectorID: String
    let registry: PrometheusCollectorRegistry
    let tracer: VigilTracer
    let logger: Logger
    let queryCache: ByteLRUCache<String, [UInt8]>
    let inflight = Atomic<Int>(0)
    let inflightGauge = Metrics.Gauge(label: MetricName.collectorInflight)
    let rejectedBytes = Counter(label: MetricName.collectorRejectedBytes)
    /// False until the store is migrated, and again once shutdown began: load balancers stop sending.
    let ready = Atomic<Bool>(false)
    let beforeScrape: @Sendable () -> Void

    init(
        pipeline: IngestPipeline, store: any BatchStore, verifier: TokenVerifier, server: ServerSection, cache: CacheSection,
        collectorID: String, registry: PrometheusCollectorRegistry, tracer: VigilTracer, logger: Logger,
        beforeScrape: @escaping @Sendable () -> Void = {}
    ) {
        self.pipeline = pipeline
        self.store = store
        self.decoder = RequestDecoder(maxDecompressedBytes: server.maxDecompressedBytes, maxBars: server.maxBarsPerRequest)
        self.verifier = verifier
        self.server = server
        self.collectorID = collectorID
        self.registry = registry
        self.tracer = tracer
        self.logger = logger
        self.queryCache = ByteLRUCache(name: "api_queries", maxBytes: cache.queryMaxBytes, ttl: .seconds(cache.queryTTLSeconds))
        self.beforeScrape = beforeScrape
    }

    /// Route templates, as `METHOD path` (the OpenAPI agreement test compares these with `openapi.yaml`).
    public static let routes: [(method: String, path: String)] = [
        ("POST", "/v1/batches"), ("POST", "/v1/ingest"), ("GET", "/v1/events"), ("GET", "/v1/alerts"), ("GET", "/v1/alerts/{id}"),
        ("POST", "/v1/alerts/{id}/feedback"), ("GET", "/v1/bars"), ("GET", "/v1/stats"), ("GET", "/metrics"), ("GET", "/healthz"),
        ("GET", "/readyz"), ("GET", "/openapi.yaml"), ("GET", "/v1/models"), ("GET", "/v1/scores"), ("POST", "/v1/models/train"),
        ("POST", "/v1/models/{id}/promote"),
    ]

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware())
        router.post("/v1/batches") { request, context in await self.receive(request, context: context, source: .agent) }
        router.post("/v1/ingest") { request, context in await self.receive(request, context: context, source: .ingest) }
        router.get("/v1/events") { request, _ in await self.query("events", request) { try await self.events(request) } }
        router.get("/v1/alerts") { request, _ in await self.query("alerts", request) { try await self.alerts(request) } }
        router.get("/v1/alerts/{id}") { request, context in
            await self.query("alert", request, cached: false) { try await self.alert(context.parameters.get("id")) }
        }
        router.post("/v1/alerts/{id}/feedback") { request, context in await self.feedback(request, id: context.parameters.get("id")) }
        router.get("/v1/bars") { request, _ in await self.query("bars", request) { try await self.bars(request) } }
        router.get("/v1/stats") { request, _ in
            await self.query("stats", request) { try Self.json(APIStats(try await self.store.stats())) }
        }
        router.get("/metrics") { _, _ in
            self.beforeScrape()
            return Self.response(
                200, contentType: PrometheusExposition.contentType,
                PrometheusExposition.render(self.registry, process: ProcessMetrics.shared(for: self.registry)))
        }
        router.get("/healthz") { _, _ in
            Self.jsonResponse(200, APIHealth(status: "ok", version: CollectorVersion.string, collectorID: self.collectorID, store: self.store.kind))
        }
        router.get("/readyz") { _, _ in await self.readiness() }
        router.get("/v1/models") { request, _ in await self.query("models", request, cached: false) { try await self.models(request) } }
        router.get("/v1/scores") { request, _ in await self.query("scores", request, cached: false) { try self.scores(request) } }
        router.post("/v1/models/train") { request, _ in await self.train(request) }
        router.post("/v1/models/{id}/promote") { request, context in await self.promote(request, id: context.parameters.get("id")) }
        router.get("/openapi.yaml") { _, _ in Self.response(200, contentType: "application/yaml", Array(OpenAPIDocument.yaml.utf8)) }
        return router
    }

    // MARK: Receiver

    static let traceparentField = HTTPField.Name("traceparent")

    func receive(_ request: Request, context: BasicRequestContext, source: IngestRequest.Source) async -> Response {
        let receivedAt = Int64(Date().timeIntervalSince1970 * 1000)
        var parent = ServiceContext.topLevel
        if let name = Self.traceparentField, let header = request.headers[name], let remote = SpanContext(traceparent: header) {
            parent.spanContext = remote
        }
        let span = tracer.startSpan("collector.receiver.receive", context: parent, ofKind: .server)
        span.attributes["http.request.method"] = "POST"
        span.attributes["http.route"] = source == .agent ? WireContract.batchesPath : WireContract.ingestPath
        defer { span.end() }
        return await ServiceContext.withValue(span.context) {
            do throws(IngestError) {
                let outcome = try await self.receiveChecked(request, source: source, context: span.context, receivedAt: receivedAt)
                span.attributes["vigil.agent.id"] = outcome.agentID
                span.attributes["vigil.batch.sequence"] = Int(outcome.sequence)
                span.attributes["vigil.bars"] = outcome.barsAccepted
                span.attributes["vigil.outcome"] = outcome.status.rawValue
                span.attributes["http.response.status_code"] = 200
                return self.acknowledge(outcome, source: source)
            } catch {
                if [400, 401, 403, 413, 415].contains(error.status) {
                    self.rejectedBytes.increment(by: error.bodyBytes ?? 0)
                    await self.recordRejection(error, at: receivedAt)
                }
                span.attributes["http.response.status_code"] = error.status
                span.attributes["vigil.outcome"] = error.outcome
                span.setStatus(SpanStatus(code: .error, message: error.message))
                Counter(label: MetricName.collectorBatches, dimensions: [("endpoint", source.rawValue), ("outcome", error.outcome)]).increment()
                let level: Logger.Level = error.status >= 500 || error.status == 429 ? .warning : .info
                self.logger.log(
                    level: level, "Request refused.",
                    metadata: ["http.status": "\(error.status)", "error.code": "\(error.code.rawValue)", "error.message": "\(error.message)"])
                return Self.errorResponse(error)
            }
        }
    }

    private func receiveChecked(_ request: Request, source: IngestRequest.Source, context: ServiceContext, receivedAt: Int64)
        async throws(IngestError) -> IngestOutcome
    {
        // Bounded: beyond max_inflight_requests the agent retries later instead of the collector buffering without end.
        let running = inflight.add(1, ordering: .relaxed).newValue
        inflightGauge.record(running)
        defer { inflightGauge.record(inflight.subtract(1, ordering: .relaxed).newValue) }
        guard ready.load(ordering: .relaxed) else {
            throw IngestError(.unavailable, "collector is starting or shutting down", retryAfterSeconds: server.retryAfterSeconds)
        }
        guard running <= server.maxInflightRequests else {
            throw IngestError(.unavailable, "\(server.maxInflightRequests) requests in flight", retryAfterSeconds: server.retryAfterSeconds)
        }
        let contentType = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let accepted =
            source == .agent
            ? [WireContract.protobufContentType, "application/protobuf", "application/octet-stream"] : [WireContract.jsonContentType]
        guard let contentType, accepted.contains(contentType) else {
            throw IngestError(
                .unsupportedMediaType, "Content-Type must be \(accepted.joined(separator: " or ")), got \(contentType ?? "none")")
        }
        // Credentials before the body: an unauthenticated client costs no decoding.
        let authorization = request.headers[.authorization]
        if case .unauthorized(let reason) = verifier.verify(authorization: authorization, agentID: "*") {
            throw IngestError(.unauthorized, reason)
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > server.maxBodyBytes {
            throw IngestError(.tooLarge, "body of \(length) bytes exceeds \(server.maxBodyBytes)")
        }
        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: server.maxBodyBytes)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw IngestError(.tooLarge, "body exceeds \(server.maxBodyBytes) bytes")
        } catch {
            throw IngestError(.malformed, "could not read the body: \(error)")
        }
        var agentID: String?
        do throws(IngestError) {
            let bytes = try decoder.inflate(body, contentEncoding: request.headers[.contentEncoding])
            let traceparent = Self.traceparentField.flatMap { request.headers[$0] }
            let decoded =
                source == .agent
                ? try decoder.decodeBatch(bytes, traceparent: traceparent) : try decoder.decodeIngest(bytes, traceparent: traceparent)
            switch verifier.verify(authorization: authorization, agentID: decoded.agentID) {
            case .allowed: break
            case .unauthorized(let reason): throw IngestError(.unauthorized, reason)
            case .forbidden(let reason): throw IngestError(.forbidden, reason)
            }
            agentID = decoded.agentID
            return try await pipeline.handle(decoded, context: context, receivedAt: receivedAt)
        } catch {
            var error = error
            error.agentID = agentID
            error.bodyBytes = body.count
            throw error
        }
    }

    /// Rejections are counted in the store (`/v1/stats`); failing to record one must not change the answer.
    private func recordRejection(_ error: IngestError, at receivedAt: Int64) async {
        defer { pipeline.generation.add(1, ordering: .relaxed) }  // `rejected` in /v1/stats changed
        do {
            try await store.recordRejection(
                RejectedBatch(
                    agentID: error.agentID ?? "", receivedAt: receivedAt, code: error.code.rawValue, message: error.message,
                    bodyBytes: error.bodyBytes ?? 0))
        } catch {
            logger.warning("Could not record a rejected request.", metadata: ["error.message": "\(error)"])
        }
    }

    private func acknowledge(_ outcome: IngestOutcome, source: IngestRequest.Source) -> Response {
        switch source {
        case .agent:
            var ack = Vigil_V1_Ack()
            ack.agentID = outcome.agentID
            ack.sequence = UInt64(max(outcome.sequence, 0))
            ack.status = outcome.status == .accepted ? .accepted : .duplicate
            ack.highWaterMark = UInt64(max(outcome.highWaterMark, 0))
            ack.barsAccepted = UInt64(outcome.barsAccepted)
            let bytes: [UInt8] = (try? ack.serializedBytes()) ?? []
            return Self.response(200, contentType: WireContract.protobufContentType, bytes)
        case .ingest:
            return Self.jsonResponse(
                200,
                APIIngestAck(
                    status: outcome.status.rawValue, producer: String(outcome.agentID.dropFirst("ingest:".count)), sequence: outcome.sequence,
                    highWaterMark: outcome.highWaterMark, barsAccepted: outcome.barsAccepted, detections: outcome.detections,
                    alerts: outcome.alerts, traceID: outcome.traceID))
        }
    }

    // MARK: Query API

    /// Runs a read, answering from the hot-query cache when the same URI was answered since the last accepted batch.
    private func query(_ name: String, _ request: Request, cached: Bool = true, _ body: @Sendable () async throws -> [UInt8]) async
        -> Response
    {
        let key = "\(pipeline.generation.load(ordering: .relaxed))|\(request.uri.description)"
        if cached, let hit = queryCache.get(key) { return Self.response(200, contentType: WireContract.jsonContentType, hit) }
        return await tracer.withSpan("collector.api.\(name)", ofKind: .server) { span in
            span.attributes["http.route"] = request.uri.path
            do {
                let bytes = try await body()
                if cached { queryCache.put(key, bytes, cost: bytes.count + key.utf8.count) }
                return Self.response(200, contentType: WireContract.jsonContentType, bytes)
            } catch let error as IngestError {
                span.setStatus(SpanStatus(code: .error, message: error.message))
                return Self.errorResponse(error)
            } catch let error as StoreError {
                span.recordError(error)
                if error.code == .notFound { return Self.errorResponse(IngestError(.notFound, error.message)) }
                return Self.errorResponse(IngestError(.storeFailure, error.message, retryAfterSeconds: server.retryAfterSeconds))
            } catch {
                span.recordError(error)
                return Self.errorResponse(IngestError(.storeFailure, "\(error)", retryAfterSeconds: server.retryAfterSeconds))
            }
        }
    }

    static func limit(_ request: Request) throws(IngestError) -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return 100 }
        guard let value = Int(text), (1...10_000).contains(value) else { throw IngestError(.badRequest, "limit must be 1...10000") }
        return value
    }

    static func time(_ request: Request, _ name: String) throws(IngestError) -> Int64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = ISOTime.parse(text) else {
            throw IngestError(.badRequest, "\(name) must be an ISO 8601 time or milliseconds since the epoch, got \(text)")
        }
        return value
    }

    static func tier(_ request: Request) throws(IngestError) -> Int32? {
        guard let text = request.uri.queryParameters.get("tier") else { return nil }
        guard let value = Int32(text), (1...3).contains(value) else { throw IngestError(.badRequest, "tier must be 1, 2 or 3") }
        return value
    }

    static func cursor(_ request: Request) throws(IngestError) -> DetectionCursor? {
        guard let text = request.uri.queryParameters.get("cursor") else { return nil }
        guard let cursor = DetectionCursor(text) else { throw IngestError(.badRequest, "cursor is not one this API handed out") }
        return cursor
    }

    private func events(_ request: Request) async throws -> [UInt8] {
        let q = request.uri.queryParameters
        let query = DetectionQuery(
            symbol: q.get("symbol"), detector: q.get("detector"), tier: try Self.tier(request), from: try Self.time(request, "from"),
            to: try Self.time(request, "to"), after: try Self.cursor(request), limit: try Self.limit(request))
        let page = try await store.detections(query)
        return try Self.json(APIPage(items: page.items.map(APIEvent.init), nextCursor: page.nextCursor?.description))
    }

    private func alerts(_ request: Request) async throws -> [UInt8] {
        let q = request.uri.queryParameters
        let query = AlertQuery(
            symbol: q.get("symbol"), tier: try Self.tier(request), kind: q.get("kind"), severity: q.get("severity"),
            from: try Self.time(request, "from"), to: try Self.time(request, "to"), after: try Self.cursor(request), limit: try Self.limit(request))
        let page = try await store.alerts(query)
        return try Self.json(APIPage(items: page.items.map { APIAlert($0) }, nextCursor: page.nextCursor?.description))
    }

    private func alert(_ idText: String?) async throws -> [UInt8] {
        guard let idText, let id = Int64(idText) else { throw IngestError(.badRequest, "alert id must be an integer") }
        guard let alert = try await store.alert(id: id) else { throw IngestError(.notFound, "no alert \(id)") }
        return try Self.json(APIAlert(alert, feedback: try await store.feedback(alertID: id)))
    }

    private func bars(_ request: Request) async throws -> [UInt8] {
        guard let symbol = request.uri.queryParameters.get("symbol"), !symbol.isEmpty else {
            throw IngestError(.badRequest, "symbol is required")
        }
        let from = try Self.time(request, "from") ?? Int64.min / 2
        let to = try Self.time(request, "to") ?? Int64.max / 2
        guard from < to else { throw IngestError(.badRequest, "from must be before to") }
        let bars = try await store.bars(symbol: symbol, from: from, to: to, limit: try Self.limit(request))
        return try Self.json(APIBars(symbol: symbol, bars: bars.map(APIBar.init)))
    }

    private func feedback(_ request: Request, id idText: String?) async -> Response {
        await tracer.withSpan("collector.api.feedback", ofKind: .server) { span in
            guard let idText, let id = Int64(idText) else { return Self.errorResponse(IngestError(.badRequest, "alert id must be an integer")) }
            let mediaType = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard mediaType == WireContract.jsonContentType else {
                return Self.errorResponse(IngestError(.unsupportedMediaType, "Content-Type must be application/json"))
            }
            do {
                var buffer = try await request.body.collect(upTo: 64 * 1024)
                let body = buffer.readBytes(length: buffer.readableBytes) ?? []
                let parsed: FeedbackRequest
                do {
                    parsed = try JSONDecoder().decode(FeedbackRequest.self, from: Data(body))
                } catch {
                    return Self.errorResponse(
                        IngestError(.malformed, "body must be {\"label\": \"true_positive\"|\"false_positive\", \"note\": \"...\"}"))
                }
                guard let label = AlertFeedback.Label(rawValue: parsed.label) else {
                    return Self.errorResponse(IngestError(.badRequest, "label must be true_positive or false_positive"))
                }
                let note = parsed.note ?? ""
                guard note.utf8.count <= 4096, !note.utf8.contains(0) else {
                    return Self.errorResponse(IngestError(.badRequest, "note must be at most 4096 bytes without NUL"))
                }
                let stored = try await store.addFeedback(
                    AlertFeedback(alertID: id, label: label, note: note, createdAt: Int64(Date().timeIntervalSince1970 * 1000)))
                span.attributes["vigil.alert.id"] = Int(id)
                // By tier, so precision can be read per tier; time to acknowledge: from when this collector raised the
                // alert to its first feedback (known only for alerts raised since it started, still in its cache).
                let alert = try await store.alert(id: id)
                Counter(
                    label: MetricName.collectorFeedback, dimensions: [("label", label.rawValue), ("tier", alert.map { "\($0.tier)" } ?? "unknown")]
                ).increment()
                if let alert, let raised = pipeline.raisedAlerts.get(alert.key), try await store.feedback(alertID: id).count == 1 {
                    Metrics.Timer(label: MetricName.collectorAlertAcknowledge).recordMilliseconds(max(0, stored.createdAt - raised))
                }
                logger.info("Alert feedback stored.", metadata: ["alert.id": "\(id)", "feedback.label": "\(label.rawValue)"])
                return Self.jsonResponse(201, APIFeedback(stored))
            } catch is NIOTooManyBytesError {
                return Self.errorResponse(IngestError(.tooLarge, "feedback body exceeds 64 KiB"))
            } catch let error as StoreError where error.code == .notFound {
                return Self.errorResponse(IngestError(.notFound, "no alert \(id)"))
            } catch {
                span.recordError(error)
                return Self.errorResponse(IngestError(.storeFailure, "\(error)", retryAfterSeconds: server.retryAfterSeconds))
            }
        }
    }

    /// The feature store's rows with the champions' live scores (memory only: the newest `tier2.feature_store_rows`).
    private func scores(_ request: Request) throws -> [UInt8] {
        guard let tier2 = pipeline.tier2 else { throw IngestError(.conflict, "Tier-2 is disabled (tier2.enabled: false)") }
        let q = request.uri.queryParameters
        let from = try Self.time(request, "from") ?? Int64.min / 2
        let to = try Self.time(request, "to") ?? Int64.max / 2
        guard from < to else { throw IngestError(.badRequest, "from must be before to") }
        var cursor: (Int64, String)?
        if let text = q.get("cursor") {
            let parts = text.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let ms = Int64(parts[0]) else { throw IngestError(.badRequest, "cursor is not one this API handed out") }
            cursor = (ms, String(parts[1]))
        }
        let limit = try Self.limit(request)
        let rows = tier2.features.scored(symbol: q.get("symbol").map { String($0) }, from: from, to: to, after: cursor, limit: limit)
        let next = rows.count == limit ? rows.last.map { "\($0.timestamp):\($0.symbol)" } : nil
        return try Self.json(APIPage(items: rows.map { APIScore($0) }, nextCursor: next))
    }

    private func models(_ request: Request) async throws -> [UInt8] {
        let kind = request.uri.queryParameters["kind"].map(String.init)
        var status: ModelStatus?
        if let text = request.uri.queryParameters["status"] {
            guard let parsed = ModelStatus(rawValue: String(text)) else {
                throw IngestError(.badRequest, "status must be one of \(ModelStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        let models = try await store.models(kind: kind, status: status, limit: try Self.limit(request))
        return try Self.json(APIModelList(items: models.map(APIModel.init)))
    }

    /// The `by` of a models request body (optional JSON object), else `api`.
    private func actor(_ request: Request) async throws -> String {
        var buffer = try await request.body.collect(upTo: 64 * 1024)
        let body = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard !body.isEmpty else { return "api" }
        guard let parsed = try? JSONDecoder().decode(ModelActionRequest.self, from: Data(body)) else {
            throw IngestError(.malformed, "body must be empty or {\"by\": \"who\"}")
        }
        guard let by = parsed.by else { return "api" }
        guard (1...StoredModel.maxActorBytes).contains(by.utf8.count), !by.utf8.contains(0) else {
            throw IngestError(.badRequest, "by must be 1...\(StoredModel.maxActorBytes) bytes without NUL")
        }
        return by
    }

    private func train(_ request: Request) async -> Response {
        await tracer.withSpan("collector.api.train", ofKind: .server) { span in
            guard let tier2 = pipeline.tier2 else { return Self.errorResponse(IngestError(.conflict, "Tier-2 is disabled (tier2.enabled: false)")) }
            do {
                let actor = try await actor(request)
                let outcome = try await tier2.train(trigger: "api", actor: actor, context: span.context)
                return Self.jsonResponse(200, APITrainingRun(outcome))
            } catch let error as TrainingError {
                return Self.errorResponse(IngestError(.conflict, error.description))
            } catch let error as IngestError {
                return Self.errorResponse(error)
            } catch is NIOTooManyBytesError {
                return Self.errorResponse(IngestError(.tooLarge, "body exceeds 64 KiB"))
            } catch {
                span.recordError(error)
                return Self.errorResponse(IngestError(.storeFailure, "\(error)", retryAfterSeconds: server.retryAfterSeconds))
            }
        }
    }

    private func promote(_ request: Request, id idText: String?) async -> Response {
        await tracer.withSpan("collector.api.promote", ofKind: .server) { span in
            guard let idText, let id = Int64(idText) else { return Self.errorResponse(IngestError(.badRequest, "model id must be an integer")) }
            guard let tier2 = pipeline.tier2 else { return Self.errorResponse(IngestError(.conflict, "Tier-2 is disabled (tier2.enabled: false)")) }
            do {
                let actor = try await actor(request)
                guard let model = try await store.model(id: id) else { return Self.errorResponse(IngestError(.notFound, "no model \(id)")) }
                guard model.featureSetVersion == FeatureSet.version else {
                    return Self.errorResponse(
                        IngestError(
                            .conflict, "model \(id) uses feature set \(model.featureSetVersion); this collector computes \(FeatureSet.version)"))
                }
                let promoted = try await tier2.promote(id: id, by: actor)
                span.attributes["vigil.model.id"] = Int(id)
                return Self.jsonResponse(200, APIModel(promoted))
            } catch let error as IngestError {
                return Self.errorResponse(error)
            } catch let error as StoreError where error.code == .notFound {
                return Self.errorResponse(IngestError(.notFound, "no model \(id)"))
            } catch is NIOTooManyBytesError {
                return Self.errorResponse(IngestError(.tooLarge, "body exceeds 64 KiB"))
            } catch {
                span.recordError(error)
                return Self.errorResponse(IngestError(.storeFailure, "\(error)", retryAfterSeconds: server.retryAfterSeconds))
            }
        }
    }

    private func readiness() async -> Response {
        guard ready.load(ordering: .relaxed) else {
            return Self.jsonResponse(
                503,
                APIHealth(
                    status: "not_ready", version: CollectorVersion.string, collectorID: collectorID, store: store.kind, reason: "starting or draining"
                ))
        }
        do {
            _ = try await store.stats()
        } catch {
            return Self.jsonResponse(
                503,
                APIHealth(
                    status: "not_ready", version: CollectorVersion.string, collectorID: collectorID, store: store.kind, reason: "store: \(error)"))
        }
        return Self.jsonResponse(200, APIHealth(status: "ready", version: CollectorVersion.string, collectorID: collectorID, store: store.kind))
    }

    // MARK: Responses

    static func json(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    static func response(_ status: Int, contentType: String, _ body: [UInt8], headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = contentType
        return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func jsonResponse(_ status: Int, _ value: some Encodable) -> Response {
        response(status, contentType: WireContract.jsonContentType, (try? json(value)) ?? Array("{}".utf8))
    }

    static func errorResponse(_ error: IngestError) -> Response {
        var headers: HTTPFields = [:]
        if let seconds = error.retryAfterSeconds { headers[.retryAfter] = "\(seconds)" }
        return response(
            error.status, contentType: WireContract.jsonContentType,
            (try? json(APIError(code: error.code.rawValue, message: error.message))) ?? [], headers: headers)
    }
}

/// RED metrics per route template (bounded: unmatched paths share one label), and JSON bodies for the router's own
/// errors (404, 405), so every error the API returns has a code and a message.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    static var knownMethods: Set<String> { ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            let code = error.status.code == 404 ? "not_found" : error.status.code == 405 ? "method_not_allowed" : "http_\(error.status.code)"
            let message = error.status.code == 404 ? "no route \(request.method) \(request.uri.path)" : error.status.reasonPhrase
            response = CollectorHTTP.response(
                error.status.code, contentType: WireContract.jsonContentType,
                (try? CollectorHTTP.json(APIError(code: code, message: message))) ?? [])
        } catch {
            response = CollectorHTTP.response(
                500, contentType: WireContract.jsonContentType,
                (try? CollectorHTTP.json(APIError(code: "internal", message: "internal error"))) ?? [])
        }
        let route = context.endpointPath ?? "unmatched"
        // Clients choose the method token: anything unusual shares one label value so the series stay bounded.
        let method = Self.knownMethods.contains(request.method.rawValue) ? request.method.rawValue : "OTHER"
        Counter(label: MetricName.collectorRequests, dimensions: [("route", route), ("method", method), ("status", "\(response.status.code)")])
            .increment()
        Metrics.Timer(label: MetricName.collectorRequestDuration, dimensions: [("route", route), ("method", method)])
            .recordInterval(since: start)
        return response
    }
}

extension Metrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let (seconds, attoseconds) = start.duration(to: .now).components
        recordNanoseconds(seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000)
    }
}
