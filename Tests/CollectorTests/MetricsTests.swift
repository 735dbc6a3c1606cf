import Foundation
import Testing
import VigilHTTP
import VigilTestSupport
import VigilWire

@testable import VigilCollector

// Serialized: each test drives a collector with many requests, and the libcurl client blocks a Dispatch thread per
// request (Linux shares those with Swift's executor), so many such tests at once starve timing-sensitive suites.
/// `/metrics` after real traffic: the exposition passes `promtool check metrics`, and the collector's families are
/// there with HELP, the right type and the labels operators query by. The test process shares one registry across
/// suites, so values are checked as lower bounds.
@Suite(.serialized) struct MetricsTests {
    static let promtool = "/usr/bin/promtool"
    static var hasPromtool: Bool { FileManager.default.isExecutableFile(atPath: promtool) }

    /// Accepted batch (with spikes, so detections and alerts), its duplicate, a refused request, an ingest request, API
    /// queries (one answered twice from the cache), an unknown route; then the exposition.
    static func trafficThenScrape() async throws -> (text: String, posted: Vigil_V1_Batch) {
        let collector = try await CollectorHarness.start()
        defer { Task { await collector.stop() } }
        let batch = makeBatch(sequence: 1, spikeAt: 40)
        #expect(try await collector.post(batch, gzip: true).1?.status == .accepted)
        #expect(try await collector.post(batch).1?.status == .duplicate)
        let refused = try await collector.send(WireContract.batchesPath, body: [1, 2, 3], headers: [("Content-Type", "text/plain")])
        #expect(refused.status == 415)
        let bars = [
            #"{"symbol":"ING","time":"2024-03-01","open":10,"high":11,"low":9,"close":10,"volume":100}"#,
            #"{"symbol":"ING","time":"2024-03-04","open":10,"high":11,"low":9,"close":10.5,"volume":120}"#,
        ]
        let ingest = Array(#"{"producer":"metrics-test","sequence":1,"bars":[\#(bars.joined(separator: ","))]}"#.utf8)
        let ingested = try await collector.send(WireContract.ingestPath, body: ingest, headers: [("Content-Type", "application/json")])
        #expect(ingested.status == 200, "\(ingested.bodyText)")
        for _ in 0..<2 { _ = try await collector.json("/v1/events?symbol=AAA&limit=5") }
        _ = try await collector.json("/v1/alerts?limit=3")
        _ = try await collector.stats()
        #expect(try await collector.get("/v1/alerts/987654321").status == 404)
        _ = try await collector.get("/v1/nowhere?x=1")
        let scrape = try await collector.get("/metrics")
        #expect(scrape.status == 200)
        #expect(scrape.header("content-type")?.hasPrefix("text/plain") == true, "content type \(scrape.header("content-type") ?? "none")")
        return (scrape.bodyText, batch)
    }

    @Test(.enabled(if: hasPromtool, "needs /usr/bin/promtool (Debian package prometheus)"))
    func theExpositionPassesPromtool() async throws {
        let (text, _) = try await Self.trafficThenScrape()
        #expect(!text.isEmpty)
        let directory = TemporaryDirectory()
        let file = directory.path + "/metrics.txt"
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let result = try await runWithStdin(Self.promtool, ["check", "metrics"], stdin: file)
        #expect(result.status == 0, "promtool check metrics (exit \(result.status)):\n\(result.stdout)\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(result.stdout)")
        // A broken exposition is caught: the check is not vacuous.
        let broken = directory.path + "/broken.txt"
        try Data("# TYPE vigil_broken counter\nvigil_broken{a=\"1\" 1\n".utf8).write(to: URL(fileURLWithPath: broken))
        #expect(try await runWithStdin(Self.promtool, ["check", "metrics"], stdin: broken).status != 0)
    }

    @Test func theCollectorFamiliesAreExposedWithHelpTypeAndLabels() async throws {
        let (text, batch) = try await Self.trafficThenScrape()
        let exposition = Exposition(text)

        let expected: [(String, String)] = [
            ("vigil_collector_batches_total", "counter"), ("vigil_collector_bars_received_total", "counter"),
            ("vigil_collector_dedupe_hits_total", "counter"), ("vigil_collector_partition_queue_depth", "gauge"),
            ("vigil_collector_cache_hits_total", "counter"), ("vigil_collector_cache_misses_total", "counter"),
            ("vigil_collector_cache_evictions_total", "counter"), ("vigil_collector_store_apply_duration_seconds", "histogram"),
            ("vigil_collector_alerts_total", "counter"), ("vigil_collector_detections_total", "counter"),
            ("vigil_collector_ingest_lag_seconds", "histogram"), ("vigil_collector_http_requests_total", "counter"),
            ("vigil_collector_http_request_duration_seconds", "histogram"),
        ]
        for (family, type) in expected {
            #expect(!(exposition.help[family] ?? "").isEmpty, "\(family): no HELP line")
            #expect(exposition.type[family] == type, "\(family): TYPE \(exposition.type[family] ?? "none"), want \(type)")
            let sampled = type == "histogram" ? family + "_count" : family
            #expect(!exposition.samples(sampled).isEmpty, "\(family): no samples")
        }
        // Every family has HELP and TYPE (promtool wants both).
        for family in exposition.type.keys { #expect(!(exposition.help[family] ?? "").isEmpty, "\(family): no HELP") }
        // The standard process metrics, read from /proc at the scrape: this process has used CPU and memory.
        #expect(exposition.type["process_cpu_seconds_total"] == "counter" && exposition.value("process_cpu_seconds_total", [:]) > 0)
        #expect(exposition.value("process_resident_memory_bytes", [:]) > 1_000_000)
        #expect(exposition.value("process_open_fds", [:]) > 0)
        let started = exposition.value("process_start_time_seconds", [:])
        #expect(started > 1_600_000_000 && started <= Date().timeIntervalSince1970)

        // Ingest outcomes by endpoint.
        #expect(exposition.value("vigil_collector_batches_total", ["endpoint": "agent", "outcome": "accepted"]) >= 1)
        #expect(exposition.value("vigil_collector_batches_total", ["endpoint": "agent", "outcome": "duplicate"]) >= 1)
        #expect(exposition.value("vigil_collector_batches_total", ["endpoint": "agent", "outcome": "rejected"]) >= 1)
        #expect(exposition.value("vigil_collector_batches_total", ["endpoint": "ingest", "outcome": "accepted"]) >= 1)
        #expect(exposition.samples("vigil_collector_batches_total").allSatisfy { Set($0.labels.keys) == ["endpoint", "outcome"] })
        #expect(
            exposition.value("vigil_collector_bars_received_total", ["endpoint": "agent"]) >= Double(batch.series.reduce(0) { $0 + $1.close.count }))
        #expect(exposition.value("vigil_collector_bars_received_total", ["endpoint": "ingest"]) >= 2)
        #expect(exposition.value("vigil_collector_dedupe_hits_total", [:]) >= 1)
        // Partitions: one gauge per partition index, never negative.
        let depths = exposition.samples("vigil_collector_partition_queue_depth")
        #expect(depths.allSatisfy { $0.labels["partition"].flatMap(Int.init) != nil && $0.value >= 0 }, "\(depths)")
        // The hot-query cache: the repeated /v1/events was a hit, the first a miss; evictions are labelled by reason.
        #expect(exposition.value("vigil_collector_cache_hits_total", ["cache": "api_queries"]) >= 1)
        #expect(exposition.value("vigil_collector_cache_misses_total", ["cache": "api_queries"]) >= 1)
        let reasons = Set(exposition.samples("vigil_collector_cache_evictions_total").compactMap { $0.labels["reason"] })
        #expect(reasons.isSuperset(of: ["size", "ttl"]), "eviction reasons \(reasons)")
        // Store apply latency: a histogram per store and outcome, with cumulative buckets ending at +Inf == count.
        let applies = exposition.samples("vigil_collector_store_apply_duration_seconds_count").filter { $0.labels["store"] == "sqlite" }
        #expect(applies.reduce(0) { $0 + $1.value } >= 2, "accepted + duplicate were applied: \(applies)")
        expectWellFormedHistogram(exposition, "vigil_collector_store_apply_duration_seconds")
        expectWellFormedHistogram(exposition, "vigil_collector_ingest_lag_seconds")
        expectWellFormedHistogram(exposition, "vigil_collector_http_request_duration_seconds")
        #expect(exposition.value("vigil_collector_ingest_lag_seconds_count", [:]) >= 2)
        // Alerts and detections, with bounded labels.
        let alerts = exposition.samples("vigil_collector_alerts_total")
        #expect(alerts.reduce(0) { $0 + $1.value } >= 1)
        #expect(alerts.allSatisfy { Set($0.labels.keys) == ["tier", "kind", "severity"] })
        #expect(exposition.samples("vigil_collector_detections_total").reduce(0) { $0 + $1.value } >= Double(batch.detections.count))

        // HTTP RED metrics are labelled by route template, never by a raw path or query string.
        let requests = exposition.samples("vigil_collector_http_requests_total")
        let templates = Set(CollectorHTTP.routes.map(\.path))
        for sample in requests {
            let route = sample.labels["route"] ?? ""
            #expect(!route.contains("?") && !route.contains("="), "raw query in route label: \(route)")
            #expect(templates.contains(route) || route == "NotFound" || route == "unmatched", "route label \(route) is not a template")
            #expect(Set(sample.labels.keys) == ["route", "method", "status"])
        }
        #expect(exposition.value("vigil_collector_http_requests_total", ["route": "/v1/events", "method": "GET", "status": "200"]) >= 2)
        #expect(exposition.value("vigil_collector_http_requests_total", ["route": "/v1/alerts/{id}", "method": "GET", "status": "404"]) >= 1)
        #expect(exposition.value("vigil_collector_http_requests_total", ["route": "/v1/batches", "method": "POST", "status": "415"]) >= 1)
        #expect(!requests.contains { $0.labels["route"]?.hasPrefix("/v1/nowhere") == true })
    }
}

/// Cumulative buckets, `+Inf` equal to `_count`, per label set.
private func expectWellFormedHistogram(_ exposition: Exposition, _ family: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let counts = exposition.samples(family + "_count")
    #expect(!counts.isEmpty, "\(family): no _count", sourceLocation: sourceLocation)
    #expect(!exposition.samples(family + "_sum").isEmpty, "\(family): no _sum", sourceLocation: sourceLocation)
    for count in counts {
        let buckets = exposition.samples(family + "_bucket").filter { sample in
            count.labels.allSatisfy { sample.labels[$0.key] == $0.value } && sample.labels.count == count.labels.count + 1
        }
        let ordered = buckets.sorted { (Double($0.labels["le"] ?? "") ?? .infinity) < (Double($1.labels["le"] ?? "") ?? .infinity) }
        #expect(ordered.last?.labels["le"] == "+Inf", "\(family)\(count.labels): no +Inf bucket", sourceLocation: sourceLocation)
        #expect(
            zip(ordered, ordered.dropFirst()).allSatisfy { $0.value <= $1.value }, "\(family): buckets not cumulative", sourceLocation: sourceLocation
        )
        #expect(ordered.last?.value == count.value, "\(family)\(count.labels): +Inf != _count", sourceLocation: sourceLocation)
    }
}

/// The Prometheus text format, parsed enough to assert on: HELP and TYPE per family, samples with labels.
private struct Exposition {
    struct Sample: CustomStringConvertible {
        var name: String
        var labels: [String: String]
        var value: Double
        var description: String { "\(name)\(labels) \(value)" }
    }

    var help: [String: String] = [:]
    var type: [String: String] = [:]
    var all: [Sample] = []

    init(_ text: String) {
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let rest = line.dropFirst(7)
                let name = String(rest.prefix { $0 != " " })
                let value = rest.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("# HELP ") { help[name] = value } else { type[name] = value }
            } else if !line.hasPrefix("#"), let sample = Self.parse(line) {
                all.append(sample)
            }
        }
    }

    func samples(_ name: String) -> [Sample] { all.filter { $0.name == name } }

    /// Sum over samples of `name` whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String]) -> Double {
        samples(name).filter { sample in labels.allSatisfy { sample.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }

    static func parse(_ line: String) -> Sample? {
        let chars = Array(line)
        var index = 0
        while index < chars.count, chars[index] != "{", chars[index] != " " { index += 1 }
        let name = String(chars[0..<index])
        guard !name.isEmpty else { return nil }
        var labels: [String: String] = [:]
        if index < chars.count, chars[index] == "{" {
            index += 1
            while index < chars.count, chars[index] != "}" {
                var key = ""
                while index < chars.count, chars[index] != "=" {
                    key.append(chars[index])
                    index += 1
                }
                index += 2  // ="
                var value = ""
                while index < chars.count, chars[index] != "\"" {
                    if chars[index] == "\\", index + 1 < chars.count {
                        index += 1
                        value.append(chars[index] == "n" ? "\n" : chars[index])
                    } else {
                        value.append(chars[index])
                    }
                    index += 1
                }
                index += 1  // closing quote
                labels[key.trimmingCharacters(in: .whitespaces)] = value
                if index < chars.count, chars[index] == "," { index += 1 }
            }
            index += 1  // }
        }
        let rest = chars.count > index ? String(chars[index...]).trimmingCharacters(in: .whitespaces) : ""
        let text = rest.split(separator: " ").first.map(String.init) ?? ""
        let value: Double? =
            switch text {
            case "+Inf": .infinity
            case "-Inf": -.infinity
            case "NaN": .nan
            default: Double(text)
            }
        guard let value else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }
}

private struct PromtoolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `path` with a file on its standard input.
private func runWithStdin(_ path: String, _ arguments: [String], stdin file: String) async throws -> PromtoolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    guard let input = FileHandle(forReadingAtPath: file) else { throw TestFailure("cannot open \(file)") }
    defer { try? input.close() }
    process.standardInput = input
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }
    let errData = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }
    let stdout = String(decoding: await outData.value, as: UTF8.self)
    let stderr = String(decoding: await errData.value, as: UTF8.self)
    process.waitUntilExit()
    return PromtoolResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
}
