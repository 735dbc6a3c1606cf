import Foundation
import Testing
import VigilCollector
import VigilTelemetry

/// The README's metric and span catalogue is the code's, and the code records no span or metric the catalogue lacks.
@Suite struct CatalogueTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every Swift source of the products (not tests, not generated code).
    static func sources() throws -> [(path: String, text: String)] {
        var files: [(String, String)] = []
        for directory in ["Agent", "Collector", "Common", "CLI"] {
            let base = root.appendingPathComponent(directory)
            guard let walker = FileManager.default.enumerator(atPath: base.path) else { continue }
            for case let relative as String in walker where relative.hasSuffix(".swift") && !relative.contains("Generated/") {
                let path = base.appendingPathComponent(relative).path
                files.append((path, try String(contentsOfFile: path, encoding: .utf8)))
            }
        }
        return files
    }

    static func matches(_ pattern: String, in text: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    @Test func theReadmeCatalogueIsTheCodes() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(TelemetryCatalogueDocument.section(in: readme), "README.md has no catalogue section")
        #expect(String(section) == TelemetryCatalogueDocument.markdown(), "README.md is stale: run `swift run vigil catalogue --write README.md`")
    }

    @Test func everyRecordedSpanIsCataloguedAndEveryCataloguedSpanIsRecorded() throws {
        var recorded: [String: String] = [:]
        for (path, text) in try Self.sources() where !path.hasSuffix("SpanCatalogue.swift") {
            for name in Self.matches(#"(?:startSpan|withSpan)\("([a-z0-9_.]+)""#, in: text) { recorded[name] = path }
            for name in Self.matches(#"static let \w+Span = "([a-z0-9_.]+)""#, in: text) { recorded[name] = path }
            // API reads are named after their query: `collector.api.<name>`.
            for name in Self.matches(#"self\.query\("([a-z]+)""#, in: text) { recorded["collector.api." + name] = path }
        }
        let catalogued = Set(SpanCatalogue.all.map(\.name))
        #expect(catalogued.count == SpanCatalogue.all.count, "a span is catalogued twice")
        for (name, path) in recorded.sorted(by: { $0.key < $1.key }) {
            #expect(catalogued.contains(name), "\(name) (recorded in \(path)) is not in SpanCatalogue")
        }
        for name in catalogued.subtracting(recorded.keys).sorted() { Issue.record("\(name) is catalogued but recorded nowhere") }
        for span in SpanCatalogue.all {
            if let parent = span.parent { #expect(catalogued.contains(parent), "\(span.name)'s parent \(parent) is not catalogued") }
        }
        #expect(recorded.count >= 20, "the source scan found only \(recorded.count) spans: is the pattern still right?")
    }

    @Test func everyMetricNameInTheCodeIsCatalogued() throws {
        let catalogued = Set(TelemetryCatalogueDocument.metrics.map(\.metric.name))
        var found = 0
        for (path, text) in try Self.sources() {
            // Whole family names only: prefixes the code tests names against ("vigil_agent_") are not families.
            for name in Self.matches(#""(vigil_[a-z0-9_]+_(?:total|seconds|bytes|info|[a-z]+))""#, in: text)
            where !catalogued.contains(where: { $0 != name && $0.hasPrefix(name) }) && name != "vigil_collector" {
                found += 1
                if !catalogued.contains(name) { Issue.record("\(name) (\(path)) has no catalogue entry (type, help)") }
            }
        }
        #expect(found >= catalogued.count, "the source scan found \(found) metric names for \(catalogued.count) entries")
    }
}
