import Foundation
import Hummingbird
import Logging
import Testing
import VigilHTTP
import VigilStore
import VigilTelemetry
import VigilTestSupport
import Yams

@testable import VigilCollector

/// `openapi.yaml` is the contract: it is OpenAPI 3.1, it documents exactly the routes the collector registers (the
/// list in `CollectorHTTP.routes` and the Hummingbird router itself), every `$ref` resolves, the served document is the
/// file, and every documented route answers on a live collector.
@Suite struct OpenAPITests {
    /// `Collector/Sources/VigilCollector/Resources/openapi.yaml`, from this file's place in the repository.
    static let documentPath: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Collector/Sources/VigilCollector/Resources/openapi.yaml").path

    static let methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    static func document() throws -> [String: Any] {
        let text = try String(contentsOfFile: documentPath, encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any], "openapi.yaml is not a YAML mapping")
    }

    /// `METHOD path` of every operation in the document.
    static func documentedOperations(_ document: [String: Any]) -> [String] {
        let paths = document["paths"] as? [String: Any] ?? [:]
        return paths.flatMap { path, item in
            (item as? [String: Any] ?? [:]).keys.filter { methods.contains($0) }.map { "\($0.uppercased()) \(path)" }
        }.sorted()
    }

    static var catalogue: [String] { CollectorHTTP.routes.map { "\($0.method) \($0.path)" }.sorted() }

    @Test func theDocumentIsOpenAPI31AndListsExactlyTheCataloguedRoutes() throws {
        let document = try Self.document()
        let version = "\(document["openapi"] ?? "")"
        #expect(version.hasPrefix("3.1"), "openapi: \(version)")
        #expect((document["info"] as? [String: Any])?["title"] is String)
        #expect(Set(Self.catalogue).count == Self.catalogue.count, "CollectorHTTP.routes lists a route twice")
        let documented = Self.documentedOperations(document)
        #expect(!documented.isEmpty)
        let onlyDocumented = Set(documented).subtracting(Self.catalogue).sorted()
        let onlyCatalogued = Set(Self.catalogue).subtracting(documented).sorted()
        #expect(documented == Self.catalogue, "only documented: \(onlyDocumented); only in CollectorHTTP.routes: \(onlyCatalogued)")
        // operationIds are unique, and every `{param}` in a path is declared as a path parameter of its operations.
        let paths = document["paths"] as? [String: Any] ?? [:]
        var operationIDs: [String] = []
        for (path, item) in paths {
            let captures = Self.captures(in: path)
            for (method, value) in item as? [String: Any] ?? [:] where Self.methods.contains(method) {
                let operation = value as? [String: Any] ?? [:]
                operationIDs.append(operation["operationId"] as? String ?? "")
                let declared = (operation["parameters"] as? [Any] ?? []).compactMap { parameter -> String? in
                    let resolved = Self.resolve(parameter, in: document) as? [String: Any]
                    return resolved?["in"] as? String == "path" ? resolved?["name"] as? String : nil
                }
                #expect(Set(declared) == Set(captures), "\(method.uppercased()) \(path): path parameters \(declared) vs \(captures)")
                #expect(!((operation["responses"] as? [String: Any]) ?? [:]).isEmpty, "\(method.uppercased()) \(path) has no responses")
            }
        }
        #expect(!operationIDs.contains(""), "an operation has no operationId")
        #expect(Set(operationIDs).count == operationIDs.count, "operationIds repeat: \(operationIDs.sorted())")
    }

    @Test func everyRefResolvesToADefinedComponent() throws {
        let document = try Self.document()
        var refs: [String] = []
        Self.collectRefs(document, into: &refs)
        #expect(refs.count >= 10, "expected the document to use $ref, found \(refs.count)")
        for ref in Set(refs).sorted() {
            #expect(ref.hasPrefix("#/components/"), "\(ref) is not a local component reference")
            #expect(Self.pointer(ref, in: document) != nil, "\(ref) does not resolve")
        }
        // Every defined schema/parameter/response is used somewhere (no dead components).
        let components = document["components"] as? [String: Any] ?? [:]
        for section in ["schemas", "parameters", "responses"] {
            for name in (components[section] as? [String: Any] ?? [:]).keys {
                #expect(refs.contains("#/components/\(section)/\(name)"), "components.\(section).\(name) is never referenced")
            }
        }
    }

    @Test func theHummingbirdRouterRegistersExactlyTheCataloguedRoutes() async throws {
        _ = testRegistry
        let directory = TemporaryDirectory()
        var logger = Logger(label: "openapi-test")
        logger.logLevel = .critical
        let store = try SQLiteStore(path: directory.path + "/vigil.sqlite", logger: logger)
        let tracer = VigilTracer(recorder: SpanRecorder(capacity: 16, component: "openapi-test"))
        let config = CollectorConfig()
        let pipeline = IngestPipeline(
            store: store, partitions: [], market: MarketWatch(configuration: config.alerter), deduper: Deduper(highWaterMarks: [:]),
            tracer: tracer, spans: nil, queueLimit: 1, retryAfterSeconds: 1, logger: logger)
        let http = CollectorHTTP(
            pipeline: pipeline, store: store, verifier: TokenVerifier(required: false, entries: []), server: config.server, cache: config.cache,
            collectorID: "openapi-test", registry: testRegistry, tracer: tracer, logger: logger)
        let router = http.makeRouter()
        let registered = router.routes.map { "\($0.method.rawValue) \(Self.normalise($0.path.description))" }.sorted()
        await store.close()
        let onlyRegistered = Set(registered).subtracting(Self.catalogue).sorted()
        let onlyCatalogued = Set(Self.catalogue).subtracting(registered).sorted()
        #expect(registered == Self.catalogue, "only registered: \(onlyRegistered); only in CollectorHTTP.routes: \(onlyCatalogued)")
        #expect(throws: Never.self) { try router.validate() }
        #expect(registered == Self.documentedOperations(try Self.document()))
    }

    @Test func theServedDocumentIsTheFileAndEveryDocumentedRouteAnswers() async throws {
        let collector = try await CollectorHarness.start()
        defer { Task { await collector.stop() } }
        let served = try await collector.get("/openapi.yaml")
        #expect(served.status == 200)
        #expect(served.header("content-type")?.hasPrefix("application/yaml") == true)
        let file = try #require(FileManager.default.contents(atPath: Self.documentPath))
        #expect(served.body == Array(file), "GET /openapi.yaml does not serve Resources/openapi.yaml byte for byte")

        let document = try Self.document()
        for operation in Self.documentedOperations(document) {
            let parts = operation.split(separator: " ", maxSplits: 1).map(String.init)
            let (method, template) = (parts[0], parts[1])
            let path = template.replacingOccurrences(of: "{id}", with: "1")
            let response: VigilHTTP.HTTPResponse
            if method == "GET" {
                response = try await collector.get(path)
            } else {
                response = try await collector.send(
                    path, method: method, body: Array(#"{"label":"true_positive"}"#.utf8), headers: [("Content-Type", "application/json")])
            }
            #expect(response.status != 405, "\(operation): 405")
            let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
            let message = body?["message"] as? String ?? ""
            #expect(!message.hasPrefix("no route"), "\(operation): the router found no route (\(response.bodyText))")
            if template.contains("{") {
                // No alert 1 exists: the handler answers 404 `not_found` (or a 400/415 for the body), not the router.
                #expect([200, 201, 400, 404, 415].contains(response.status), "\(operation): \(response.status) \(response.bodyText)")
                if response.status == 404 { #expect(body?["code"] as? String == "not_found", "\(operation): \(response.bodyText)") }
            } else {
                #expect(response.status != 404, "\(operation): 404 \(response.bodyText)")
            }
            // Each status the route answers with is one the document lists for it.
            let documentedStatuses = Self.statuses(method: method, path: template, in: document)
            #expect(documentedStatuses.contains("\(response.status)"), "\(operation) answered \(response.status), documented: \(documentedStatuses)")
        }
        // The router's own 404 is JSON too, and names the route it did not find.
        let missing = try await collector.get("/v1/not-a-route")
        #expect(missing.status == 404)
        let body = (try? JSONSerialization.jsonObject(with: Data(missing.body))) as? [String: Any]
        #expect(body?["code"] as? String == "not_found")
        #expect((body?["message"] as? String)?.hasPrefix("no route") == true, "\(missing.bodyText)")
    }

    // MARK: Helpers

    /// `/v1/alerts/:id` → `/v1/alerts/{id}` (Hummingbird prints captures as `{id}`; older versions as `:id`).
    static func normalise(_ path: String) -> String {
        "/"
            + path.split(separator: "/", omittingEmptySubsequences: true).map { part in
                part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
            }.joined(separator: "/")
    }

    static func captures(in path: String) -> [String] {
        path.split(separator: "/").filter { $0.hasPrefix("{") && $0.hasSuffix("}") }.map { String($0.dropFirst().dropLast()) }
    }

    static func statuses(method: String, path: String, in document: [String: Any]) -> [String] {
        let item = (document["paths"] as? [String: Any])?[path] as? [String: Any]
        let operation = item?[method.lowercased()] as? [String: Any]
        return (operation?["responses"] as? [String: Any] ?? [:]).keys.sorted()
    }

    static func collectRefs(_ value: Any, into refs: inout [String]) {
        if let map = value as? [String: Any] {
            for (key, child) in map {
                if key == "$ref", let ref = child as? String { refs.append(ref) } else { collectRefs(child, into: &refs) }
            }
        } else if let list = value as? [Any] {
            for child in list { collectRefs(child, into: &refs) }
        }
    }

    /// JSON pointer (`#/a/b~1c`) into the document.
    static func pointer(_ ref: String, in document: [String: Any]) -> Any? {
        guard ref.hasPrefix("#/") else { return nil }
        var node: Any = document
        for token in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if let map = node as? [String: Any], let next = map[key] {
                node = next
            } else if let list = node as? [Any], let index = Int(key), list.indices.contains(index) {
                node = list[index]
            } else {
                return nil
            }
        }
        return node
    }

    static func resolve(_ value: Any, in document: [String: Any]) -> Any? {
        if let map = value as? [String: Any], let ref = map["$ref"] as? String { return pointer(ref, in: document) }
        return value
    }
}
