import Foundation
import Testing
import VigilTestSupport

@testable import VigilStore

/// The dashboard panels that read the collector's PostgreSQL store (datasource uid `vigil-postgres`, provisioned in
/// deploy/grafana/provisioning/datasources/vigil.yaml) against a real collector's real PostgreSQL store: every query,
/// with its Grafana variables and macros expanded the way Grafana expands them, runs without error and returns rows for
/// a time range covering the data with every tier; none for a range before the data or a tier without alerts; and the
/// trace ids a panel shows are the alerts' trace ids from `GET /v1/alerts`.
@Suite(.serialized)
struct DashboardSQLTests {
    static let postgresURL = ProcessInfo.processInfo.environment["VIGIL_TEST_POSTGRES_URL"]

    @Test(.enabled(if: postgresURL != nil, "VIGIL_TEST_POSTGRES_URL is unset (scripts/postgres.sh start)"))
    func everyPostgresPanelQueryReturnsRowsFromARealStore() async throws {
        let schema = "vigil_dsql_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let collector = try await CollectorHarness.start(postgres: true) { $0.store.postgresSchema = schema }
        defer { Task { await collector.stop() } }
        for batch in [
            makeBatch(agent: "agent-a", sequence: 1, symbols: ["AAA", "BBB"], bars: 50, spikeAt: 40),
            makeBatch(agent: "agent-b", sequence: 1, symbols: ["CCC"], bars: 60, spikeAt: 45),
        ] {
            let (response, ack) = try await collector.post(batch)
            try #require(response.status == 200 && ack?.status == .accepted, "\(response.bodyText)")
        }
        let alerts = try #require(try await collector.json("/v1/alerts?limit=10000")["items"] as? [[String: Any]])
        try #require(!alerts.isEmpty, "the spikes raised no alert")
        let traces = Dictionary(uniqueKeysWithValues: alerts.map { (($0["id"] as? NSNumber)?.int64Value ?? -1, $0["trace_id"] as? String) })

        let panels = try SQLPanel.load(repo + "/dashboards")
        #expect(Set(panels.map(\.title)).isSuperset(of: ["Top anomalous symbols", "Recent alerts"]), "\(panels.map(\.location))")
        for panel in panels where ["Top anomalous symbols", "Recent alerts"].contains(panel.title) {
            #expect(panel.usesVariable("tier"), "\(panel.location): not filtered by the tier variable")
        }

        // The bars run from 2024-01-02 for 60 days; Grafana hands the backend whole-second UTC times.
        let covering = GrafanaRange(from: iso("2024-01-01T00:00:00Z"), to: iso("2024-04-01T00:00:00Z"))
        let before = GrafanaRange(from: iso("2023-01-01T00:00:00Z"), to: iso("2023-12-31T00:00:00Z"))
        // The panels' read-only intent, enforced: any write would fail.
        let connection = try PostgresConnection(url: try #require(Self.postgresURL), schema: schema, applicationName: "vigil_dashboard_test")
        try connection.exec("SET default_transaction_read_only = on")

        var sawTraces = false
        for panel in panels {
            for (refID, sql) in panel.queries {
                let location = "\(panel.location) [\(refID)]"
                let rows = try Self.run(connection, panel.expand(sql, range: covering, tier: nil), location)
                #expect(!rows.isEmpty, "\(location): no rows for a range covering the data and tier = All")
                #expect(
                    try Self.run(connection, panel.expand(sql, range: before, tier: nil), location).isEmpty, "\(location): ignores the time range")
                if panel.usesVariable("tier") {
                    #expect(!(try Self.run(connection, panel.expand(sql, range: covering, tier: "1"), location)).isEmpty, "\(location): tier = 1")
                    #expect(try Self.run(connection, panel.expand(sql, range: covering, tier: "3"), location).isEmpty, "\(location): tier = 3")
                }
                for row in rows where row.keys.contains("Trace ID") {
                    sawTraces = true
                    let id = (row["ID"] as? NSNumber)?.int64Value ?? -1
                    #expect(traces.keys.contains(id), "\(location): alert \(id) is not in GET /v1/alerts")
                    #expect(row["Trace ID"] as? String == traces[id] ?? nil, "\(location): alert \(id) trace \(row["Trace ID"] ?? "nil")")
                }
            }
        }
        #expect(sawTraces, "no vigil-postgres panel has a \"Trace ID\" column")

        // Every trace id cell links to Grafana Explore with the Jaeger datasource and the cell's value as the query.
        let links = panels.flatMap(\.traceLinks)
        #expect(!links.isEmpty, "no data link on a \"Trace ID\" column")
        for link in links {
            // Grafana substitutes the cell's value before it opens the URL (`{` and `}` are not valid in one).
            let opened = link.replacingOccurrences(of: "${__value.raw}", with: "0102030405060708090a0b0c0d0e0f10")
            let panes = URLComponents(string: opened)?.queryItems?.first { $0.name == "panes" }?.value ?? ""
            let json = try JSONSerialization.jsonObject(with: Data(panes.utf8)) as? [String: [String: Any]] ?? [:]
            let queries = json.values.first?["queries"] as? [[String: Any]] ?? []
            #expect(link.hasPrefix("/explore?") && json.values.first?["datasource"] as? String == "jaeger", "\(link)")
            #expect(
                (queries.first?["datasource"] as? [String: String])?["uid"] == "jaeger"
                    && queries.first?["query"] as? String == "0102030405060708090a0b0c0d0e0f10",
                "\(link)")
        }
    }

    /// Runs `sql` as Grafana's table format would and returns each row by column name (`row_to_json` keeps the names).
    static func run(_ connection: PostgresConnection, _ sql: String, _ location: String) throws -> [[String: Any]] {
        do {
            return try connection.query("SELECT row_to_json(q)::text FROM (\n\(sql)\n) AS q").map {
                (try? JSONSerialization.jsonObject(with: Data(($0[0] ?? "{}").utf8))) as? [String: Any] ?? [:]
            }
        } catch {
            throw TestFailure("\(location): \(error)\n\(sql)")
        }
    }

    var repo: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    func iso(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
}

/// A dashboard time range as Grafana's backend receives it.
struct GrafanaRange {
    var from: Date
    var to: Date

    var fromSeconds: Int64 { Int64(from.timeIntervalSince1970.rounded(.down)) }
    var toSeconds: Int64 { Int64(to.timeIntervalSince1970.rounded(.down)) }

    /// Go's RFC3339Nano in UTC for whole seconds.
    static func rfc3339(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"
        return formatter.string(from: date)
    }
}

/// A panel of a dashboard whose datasource is the PostgreSQL store.
struct SQLPanel {
    var dashboard: String
    var title: String
    var queries: [(refID: String, sql: String)]
    /// The dashboard's template variables with their "All" value (`allValue`, or nil when Grafana would list values).
    var variables: [String: String?]
    var traceLinks: [String]

    var location: String { "\(dashboard) / \(title)" }

    static func load(_ directory: String) throws -> [SQLPanel] {
        var found: [SQLPanel] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory).filter({ $0.hasSuffix(".json") }).sorted() {
            let board =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))) as? [String: Any] ?? [:]
            var variables: [String: String?] = [:]
            for variable in (board["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] {
                variables[variable["name"] as? String ?? ""] = variable["allValue"] as? String
            }
            var panels = board["panels"] as? [[String: Any]] ?? []
            panels += panels.flatMap { $0["panels"] as? [[String: Any]] ?? [] }  // inside collapsed rows
            for panel in panels where (panel["datasource"] as? [String: Any])?["uid"] as? String == "vigil-postgres" {
                let title = panel["title"] as? String ?? "?"
                let targets = panel["targets"] as? [[String: Any]] ?? []
                #expect(!targets.isEmpty, "\(file) / \(title): no query")
                let queries = targets.map { ($0["refId"] as? String ?? "?", $0["rawSql"] as? String ?? "") }
                #expect(queries.allSatisfy { !$0.1.isEmpty }, "\(file) / \(title): empty rawSql")
                let overrides = (panel["fieldConfig"] as? [String: Any])?["overrides"] as? [[String: Any]] ?? []
                let links = overrides.filter { ($0["matcher"] as? [String: Any])?["options"] as? String == "Trace ID" }
                    .flatMap { $0["properties"] as? [[String: Any]] ?? [] }.filter { $0["id"] as? String == "links" }
                    .flatMap { $0["value"] as? [[String: Any]] ?? [] }.compactMap { $0["url"] as? String }
                found.append(SQLPanel(dashboard: file, title: title, queries: queries, variables: variables, traceLinks: links))
            }
        }
        return found
    }

    func usesVariable(_ name: String) -> Bool {
        queries.contains { $0.sql.contains("$\(name)") || $0.sql.contains("${\(name)") }
    }

    /// The SQL Grafana sends to PostgreSQL: template variables first (the frontend; `tier` nil means "All"), then the
    /// SQL datasources' global substitutions, then the PostgreSQL macro engine (pkg/tsdb/grafana-postgresql-datasource).
    func expand(_ sql: String, range: GrafanaRange, tier: String?) throws -> String {
        var text = sql
        for (name, allValue) in variables {
            text = try text.replacing(Regex("\\$\\{\(name)(?::(\\w+))?\\}|\\$\(name)\\b")) { match in
                let format = match.output[1].substring.map(String.init)
                guard name == "tier", let value = tier else {
                    // A custom all value is inserted as it is, whatever the format.
                    guard let allValue else { return "'__no_all_value_for_\(name)__'" }
                    return allValue
                }
                switch format {
                case "regex": return NSRegularExpression.escapedPattern(for: value)
                case "raw": return value
                default: return "'" + value.replacingOccurrences(of: "'", with: "''") + "'"  // multi / include-all: quoted
                }
            }
        }
        text = text.replacingOccurrences(of: "$__unixEpochFrom()", with: "\(range.fromSeconds)")
            .replacingOccurrences(of: "$__unixEpochTo()", with: "\(range.toSeconds)")
        let (from, to) = (GrafanaRange.rfc3339(range.from), GrafanaRange.rfc3339(range.to))
        var unknown: [String] = []
        text = text.replacing(/\$([_a-zA-Z0-9]+)\(([^\)]*)\)/) { match in
            let column = match.output.2.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            switch match.output.1 {
            case "__time": return "\(column) AS \"time\""
            case "__timeEpoch": return "extract(epoch from \(column)) as \"time\""
            case "__timeFilter": return "\(column) BETWEEN '\(from)' AND '\(to)'"
            case "__timeFrom": return "'\(from)'"
            case "__timeTo": return "'\(to)'"
            case "__unixEpochFilter": return "\(column) >= \(range.fromSeconds) AND \(column) <= \(range.toSeconds)"
            default:
                unknown.append(String(match.output.0))
                return "macro_error()"
            }
        }
        guard unknown.isEmpty else { throw TestFailure("\(location): macros this test does not expand: \(unknown)") }
        if let left = text.firstMatch(of: /\$\{?_*[A-Za-z]/) {
            throw TestFailure("\(location): unexpanded \(text[left.range.lowerBound...].prefix(30))")
        }
        return text
    }
}
