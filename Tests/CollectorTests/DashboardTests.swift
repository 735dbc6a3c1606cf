import Foundation
import Testing
import VigilHTTP
import VigilTestSupport

/// The Grafana dashboards (`dashboards/*.json`) and the Prometheus alert rules (`dashboards/alerts/vigil.rules.yml`)
/// against a real Prometheus scraping a real `vigil-collector` and two real `vigil-agent`s: every panel query, every
/// template variable and every rule expression must be valid PromQL over the real metric names and return series.
@Suite(.serialized)
struct DashboardTests {
    static let collector = packageBinary("vigil-collector")
    static let agent = packageBinary("vigil-agent")

    /// Exposed only by the PostgreSQL store; this test runs the embedded one.
    static let postgresOnlyMetrics = ["vigil_collector_store_connections", "vigil_collector_store_pool_waits_total"]

    @Test(.enabled(if: collector != nil && agent != nil, "build vigil-collector and vigil-agent first (swift build)"))
    func everyPanelQueryAndAlertRuleReturnsSeriesOnARealPrometheus() async throws {
        let tools = try PrometheusTools.find()
        let world = try DashboardWorld(tools: tools)
        defer { world.stopAll() }

        // Static checks first: they need no processes.
        let rules = try await runProcess(tools.promtool, ["check", "rules", world.repo + "/dashboards/alerts/vigil.rules.yml"])
        #expect(rules.status == 0, "promtool check rules: \(rules.stdout) \(rules.stderr)")
        let config = try await runProcess(tools.promtool, ["check", "config", world.checkConfigPath])
        #expect(config.status == 0, "promtool check config: \(config.stdout) \(config.stderr)")
        // The copy points rule_files at the rules, so the config check also loaded them.
        #expect((config.stdout + config.stderr).contains("rules found"), "promtool did not load the rules: \(config.stdout) \(config.stderr)")

        try await world.drive()

        let client = PrometheusClient(base: "http://127.0.0.1:\(world.prometheusPort)")
        let queries = try DashboardQuery.load(world.repo + "/dashboards")
        #expect(Set(queries.map(\.dashboard)) == ["business.json", "collector.json", "detection.json", "fleet.json"])
        #expect(queries.count > 60, "only \(queries.count) queries found in the dashboards")

        // Series appear one scrape (1 s) after the traffic that creates them, and rate() needs two samples: poll until
        // every query answers with series, then report whatever still does not.
        var problems: [String] = []
        _ = await eventually(timeout: .seconds(90)) {
            problems = await Self.check(queries, client: client)
            return problems.isEmpty
        }
        #expect(problems.isEmpty, "dashboard queries failing on a real Prometheus:\n\(problems.joined(separator: "\n"))\n\(world.logs)")

        var ruleProblems: [String] = []
        _ = await eventually {
            ruleProblems = await Self.checkRules(world: world, client: client)
            return ruleProblems.isEmpty
        }
        #expect(ruleProblems.isEmpty, "alert rules failing on a real Prometheus:\n\(ruleProblems.joined(separator: "\n"))\n\(world.logs)")
    }

    /// Every query with match-all variables; the problems, each naming the dashboard and panel.
    static func check(_ queries: [DashboardQuery], client: PrometheusClient) async -> [String] {
        var problems: [String] = []
        for query in queries {
            let optional = postgresOnlyMetrics.contains { query.expression.contains($0) }
            switch await client.query(query.promQL) {
            case .failure(let error):
                problems.append("\(query.location): \(error)\n    \(query.promQL)")
            case .success(0) where !optional:
                problems.append("\(query.location): no series\n    \(query.promQL)")
            case .success:
                break
            }
        }
        return problems
    }

    /// Every rule of the file is loaded and evaluated without error, and what it compares returns series.
    ///
    /// Most rules do not fire in a healthy run, so their expressions return nothing; the file's convention is that
    /// thresholds are written `<op> <number>`, and removing them leaves the quantity the rule compares, which must
    /// return series. Rules that turn "nothing" into 0 with `or vector(0)` would pass that trivially, so every metric
    /// a rule selects must also exist on its own.
    static func checkRules(world: DashboardWorld, client: PrometheusClient) async -> [String] {
        let expected = Set(world.ruleNames)
        guard let loaded = try? await client.rules() else { return ["GET /api/v1/rules failed"] }
        var problems: [String] = []
        if Set(loaded.map(\.name)) != expected {
            problems.append("rules loaded \(loaded.map(\.name).sorted()), file has \(expected.sorted())")
        }
        for rule in loaded {
            if rule.health != "ok" { problems.append("rule \(rule.name): health \(rule.health) \(rule.lastError ?? "")") }
            if rule.severity == nil || rule.summary == nil || rule.description == nil {
                problems.append("rule \(rule.name): needs a severity label and summary/description annotations")
            }
            let probe = RuleExpression.withoutThresholds(rule.query)
            switch await client.query(probe) {
            case .failure(let error): problems.append("rule \(rule.name): \(error)\n    \(probe)")
            case .success(0): problems.append("rule \(rule.name): no series for\n    \(probe)")
            case .success: break
            }
            for metric in RuleExpression.selectedMetrics(rule.query) {
                if case .success(let series) = await client.query("group(\(metric))"), series > 0 { continue }
                problems.append("rule \(rule.name): metric \(metric) has no series")
            }
        }
        return problems
    }
}

// MARK: - The processes

/// Where `prometheus` and `promtool` are installed.
struct PrometheusTools {
    var prometheus: String
    var promtool: String

    static func find() throws -> PrometheusTools {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/bin:/usr/local/bin"
        func which(_ name: String) -> String? {
            path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }
        guard let prometheus = which("prometheus"), let promtool = which("promtool") else {
            throw TestFailure("prometheus and promtool are not installed: scripts/install-deps.sh --test installs them")
        }
        return PrometheusTools(prometheus: prometheus, promtool: promtool)
    }
}

/// A collector (embedded store), two agents and Prometheus in a temporary directory, each on a free loopback port.
final class DashboardWorld {
    let directory = TemporaryDirectory()
    let repo: String
    let tools: PrometheusTools
    let collectorPort: Int
    let agentPorts: [Int]
    let prometheusPort: Int
    /// Nothing listens here: the Yahoo feed and the OTLP exporter fail against it, so error series exist.
    let deadPort: Int
    let ruleNames: [String]
    let checkConfigPath: String
    private var processes: [String: Process] = [:]
    private var expectedBars: [Int] = []

    init(tools: PrometheusTools) throws {
        self.tools = tools
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        repo = url.path
        collectorPort = try freePort()
        agentPorts = [try freePort(), try freePort()]
        prometheusPort = try freePort()
        deadPort = try freePort()
        let rules = try String(contentsOfFile: repo + "/dashboards/alerts/vigil.rules.yml", encoding: .utf8)
        ruleNames = rules.split(separator: "\n").compactMap { line in
            let text = line.trimmingCharacters(in: .whitespaces)
            return text.hasPrefix("- alert:") ? text.dropFirst("- alert:".count).trimmingCharacters(in: .whitespaces) : nil
        }
        // promtool resolves rule_files relative to the config file: check a copy whose rule_files names the rules.
        let rulesDirectory = directory.path + "/prometheus/rules"
        try FileManager.default.createDirectory(atPath: rulesDirectory, withIntermediateDirectories: true)
        try rules.write(toFile: rulesDirectory + "/vigil.rules.yml", atomically: true, encoding: .utf8)
        let deployed = try String(contentsOfFile: repo + "/deploy/prometheus/prometheus.yml", encoding: .utf8)
        let checked = try deployed.replacingRequired("/etc/prometheus/rules/*.yml", with: rulesDirectory + "/*.yml")
        checkConfigPath = directory.path + "/prometheus/check.yml"
        try checked.write(toFile: checkConfigPath, atomically: true, encoding: .utf8)
        // The deployment's own file, pointed at loopback and scraping every second.
        let running =
            try checked
            .replacingRequired("\"collector:8080\"", with: "\"127.0.0.1:\(collectorPort)\"")
            .replacingRequired("\"agent-1:9464\"", with: "\"127.0.0.1:\(agentPorts[0])\"")
            .replacingRequired("\"agent-2:9464\"", with: "\"127.0.0.1:\(agentPorts[1])\"")
            .replacingRequired("\"localhost:9090\"", with: "\"127.0.0.1:\(prometheusPort)\"")
            .replacingRequired("scrape_interval: 15s", with: "scrape_interval: 1s")
            .replacingRequired("evaluation_interval: 15s", with: "evaluation_interval: 1s")
        try running.write(toFile: directory.path + "/prometheus/prometheus.yml", atomically: true, encoding: .utf8)
    }

    var logs: String {
        ["collector", "agent-1", "agent-2", "prometheus"].map { name in
            let text = (try? String(contentsOfFile: "\(directory.path)/\(name).log", encoding: .utf8)) ?? ""
            return "--- \(name).log (tail)\n" + text.suffix(1500)
        }.joined(separator: "\n")
    }

    /// Starts everything and drives what the panels need: shipper retries (the agent starts before the collector), a
    /// dead-lettered row, an open breaker, two training runs with a manual promotion in between (so champions and
    /// challengers score the second agent's bars), feedback on an alert, refused requests, a 404, a cache hit and a
    /// config reload.
    func drive() async throws {
        try startPrometheus()
        try writeAgent(0)
        try writeAgent(1)
        try writeCollector()
        try start("agent-1", DashboardTests.agent, ["run", "--config", directory.path + "/agent-1.yaml"])
        #expect(
            await eventually { await self.agentSample(0, "vigil_agent_shipper_retries_total") > 0 },
            "agent-1 never retried against the absent collector")
        try start("collector", DashboardTests.collector, ["serve", "--config", directory.path + "/collector.yaml"])
        try await waitUntilDelivered(0)

        let first = try await post("/v1/models/train")
        #expect(first.status == 200, "train: \(first.bodyText)")
        for id in try Self.registeredModelIDs(first) {
            let promoted = try await post("/v1/models/\(id)/promote", json: #"{"by": "dashboard-test"}"#)
            #expect(promoted.status == 200, "promote \(id): \(promoted.bodyText)")
        }
        let second = try await post("/v1/models/train")
        #expect(second.status == 200, "second train: \(second.bodyText)")

        try start("agent-2", DashboardTests.agent, ["run", "--config", directory.path + "/agent-2.yaml"])
        try await waitUntilDelivered(1)
        #expect(await collectorSample("vigil_collector_tier2_scored_bars_total", containing: #"role="champion""#) > 0)
        #expect(await collectorSample("vigil_collector_tier2_scored_bars_total", containing: #"role="challenger""#) > 0)

        let alerts = try await get("/v1/alerts?limit=1")
        let items = (try JSONSerialization.jsonObject(with: Data(alerts.body)) as? [String: Any])?["items"] as? [[String: Any]]
        let alertID = try #require((items?.first?["id"] as? NSNumber)?.intValue, "no alert raised: \(alerts.bodyText)")
        let feedback = try await post("/v1/alerts/\(alertID)/feedback", json: #"{"label": "true_positive", "note": "dashboard test"}"#)
        #expect(feedback.status == 201, "feedback: \(feedback.bodyText)")
        let refused = try await post("/v1/batches", body: Array("not protobuf".utf8), contentType: "text/plain")
        #expect(refused.status == 415)
        let malformed = try await post("/v1/ingest", json: "{")
        #expect(malformed.status == 400)
        #expect(try await get("/v1/no-such-route").status == 404)
        for _ in 0..<2 { #expect(try await get("/v1/alerts?limit=5").status == 200) }  // the second is a cache hit
        kill(try #require(processes["agent-1"]).processIdentifier, SIGHUP)
        #expect(await eventually { await self.agentSample(0, "vigil_agent_config_reloads_total") > 0 })
    }

    /// SIGTERM to everything, SIGKILL to whatever has not exited 10 s later.
    func stopAll() {
        for process in processes.values where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(10)
        while processes.values.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
        for process in processes.values where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes.values { process.waitUntilExit() }
    }

    // MARK: Configuration

    private func startPrometheus() throws {
        try start(
            "prometheus", tools.prometheus,
            [
                "--config.file=\(directory.path)/prometheus/prometheus.yml", "--storage.tsdb.path=\(directory.path)/prometheus/data",
                "--web.listen-address=127.0.0.1:\(prometheusPort)",
            ])
    }

    private func writeCollector() throws {
        // Small models keep the two training runs short in a debug build.
        try """
        collector: {id: dashboards, data_dir: \(directory.path)/collector}
        server: {listen: "127.0.0.1:\(collectorPort)", retry_after_seconds: 0}
        store: {kind: sqlite}
        tier2: {forest_trees: 20, boosted_rounds: 20}
        tracing: {otlp_endpoint: "http://127.0.0.1:\(deadPort)/v1/traces", export_interval_milliseconds: 200, export_timeout_seconds: 1}
        logging: {level: info}
        """.write(toFile: directory.path + "/collector.yaml", atomically: true, encoding: .utf8)
    }

    /// Agent `index` replays its own 24 symbols of real daily bars (the synthetic market when ../shared/data is
    /// absent). Agent-1 also replays one file with a bad row (dead letter) and polls a Yahoo endpoint that is down.
    private func writeAgent(_ index: Int) throws {
        var feeds: [String] = []
        if let data = sharedData {
            let all = try FileManager.default.contentsOfDirectory(atPath: data + "/sp500-daily").filter { $0.hasSuffix(".csv") }.sorted()
            let files = Array(all.dropFirst(index * 24).prefix(24))
            let symbols = files.map { String($0.dropLast(4).split(separator: "_").first ?? "") }
            var rows = 0
            for file in files {
                let text = try String(contentsOfFile: "\(data)/sp500-daily/\(file)", encoding: .utf8)
                rows += text.split(whereSeparator: \.isNewline).dropFirst().count
            }
            expectedBars.append(rows)
            feeds.append(
                "  - {type: replay, name: replay, path: \(data)/sp500-daily, speed: 0, symbols: [\(symbols.joined(separator: ", "))]}")
        } else {
            // No real data: a seeded synthetic market of the same size (daily bars, labelled anomalies).
            expectedBars.append(24 * 1000)
            feeds.append(
                "  - {type: synthetic, name: synthetic, seed: \(index + 1), symbols: 24, tick_rate: 0, max_ticks: 1000, "
                    + "interval_seconds: 86400, start_timestamp: 1400000000000, anomaly_rate: 0.01}")
        }
        if index == 0 {
            let bad = directory.path + "/bad"
            try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
            // The third row's high is below its low: the normalizer rejects it into the dead-letter file.
            try """
            date,open,high,low,close,volume,Name
            2016-01-04,10.0,10.5,9.5,10.2,1000,ZZBAD
            2016-01-05,10.2,10.6,9.9,10.1,1100,ZZBAD
            2016-01-06,10.1,9.0,11.0,10.0,1200,ZZBAD
            """.write(toFile: bad + "/ZZBAD_data.csv", atomically: true, encoding: .utf8)
            expectedBars[index] += 3
            feeds.append("  - {type: replay, name: bad, path: \(bad), speed: 0}")
            feeds.append(
                "  - {type: yahoo, name: yahoo, symbols: [AAPL], base_url: \"http://127.0.0.1:\(deadPort)\", poll_interval_seconds: 1, "
                    + "retry: {max_attempts: 1}, circuit_breaker: {failure_threshold: 2, open_duration_seconds: 600}}")
        }
        try """
        agent: {id: agent-\(index + 1), data_dir: \(directory.path)/agent-\(index + 1)}
        collector: {url: "http://127.0.0.1:\(collectorPort)", initial_backoff_ms: 50, max_backoff_ms: 300, timeout_seconds: 10}
        batch: {max_bars: 500, max_age_ms: 100}
        spool: {fsync: never}
        admin: {listen: "127.0.0.1:\(agentPorts[index])"}
        logging: {level: info}
        feeds:
        \(feeds.joined(separator: "\n"))
        """.write(toFile: "\(directory.path)/agent-\(index + 1).yaml", atomically: true, encoding: .utf8)
    }

    private func start(_ name: String, _ binary: String?, _ arguments: [String]) throws {
        processes[name] = try launchLogged(try #require(binary), arguments, logPath: "\(directory.path)/\(name).log")
    }

    // MARK: Observing

    /// Every row the agent reads is either acknowledged by the collector or rejected by its normalizer.
    private func waitUntilDelivered(_ index: Int) async throws {
        let expected = Double(expectedBars[index])
        let delivered = await eventually(timeout: .seconds(60)) {
            let acked = await self.agentSample(index, "vigil_agent_shipper_bars_acked_total")
            let rejected = await self.agentSample(index, "vigil_agent_normalizer_rejects_total")
            return acked + rejected == expected && acked > 0
        }
        #expect(delivered, "agent-\(index + 1) did not deliver its \(Int(expected)) rows\n\(logs)")
    }

    private func agentSample(_ index: Int, _ name: String) async -> Double {
        guard let (status, text) = await httpGet("http://127.0.0.1:\(agentPorts[index])/metrics"), status == 200 else { return -1 }
        return ExpositionText.sum(text, name)
    }

    private func collectorSample(_ name: String, containing labels: String) async -> Double {
        guard let (status, text) = await httpGet("http://127.0.0.1:\(collectorPort)/metrics"), status == 200 else { return -1 }
        return ExpositionText.sum(text, name, containing: labels)
    }

    private func post(_ path: String, json: String = "", body: [UInt8]? = nil, contentType: String = "application/json") async throws -> HTTPResponse
    {
        try await HTTPClient().execute(
            HTTPRequest(
                method: "POST", url: "http://127.0.0.1:\(collectorPort)\(path)", headers: [("Content-Type", contentType)],
                body: body ?? Array(json.utf8), timeoutSeconds: 60))
    }

    private func get(_ path: String) async throws -> HTTPResponse {
        try await HTTPClient().execute(HTTPRequest(url: "http://127.0.0.1:\(collectorPort)\(path)", timeoutSeconds: 60))
    }

    static func registeredModelIDs(_ response: HTTPResponse) throws -> [Int] {
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        let registered = object?["registered"] as? [[String: Any]] ?? []
        let ids = registered.compactMap { ($0["id"] as? NSNumber)?.intValue }
        guard !ids.isEmpty else { throw TestFailure("training registered no model: \(response.bodyText)") }
        return ids
    }
}

// MARK: - Dashboards and rules

/// One Prometheus query of a dashboard: a panel target or a template variable.
struct DashboardQuery: Sendable {
    var dashboard: String
    var panel: String
    var expression: String

    var location: String { "\(dashboard) / \(panel)" }

    /// The query Grafana would send with every variable at its match-all value. `label_values(m, l)` variables become
    /// `group by (l) (m)`, which returns series exactly when the variable has values.
    var promQL: String {
        var text = expression
        if let match = text.wholeMatch(of: /label_values\((.+),\s*(\w+)\)/) {
            text = "group by (\(match.2)) (\(match.1))"
        }
        for (variable, value) in [("$__rate_interval", "1m"), ("$__interval", "15s"), ("$__range", "5m")] {
            text = text.replacingOccurrences(of: variable, with: value)
        }
        return text.replacing(/\$[A-Za-z_][A-Za-z0-9_]*/, with: ".*")
    }

    /// Every query of every dashboard in `directory`; panels must use the provisioned datasource uids.
    static func load(_ directory: String) throws -> [DashboardQuery] {
        var queries: [DashboardQuery] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory).filter({ $0.hasSuffix(".json") }).sorted() {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
            guard let board = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw TestFailure("\(file): not a JSON object") }
            #expect((board["uid"] as? String)?.hasPrefix("vigil-") == true, "\(file): uid")
            #expect((board["schemaVersion"] as? Int ?? 0) >= 39, "\(file): schemaVersion")
            let variables = (board["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
            for variable in variables {
                let query = (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String ?? ""
                #expect(!query.isEmpty, "\(file): variable \(variable["name"] ?? "?") has no query")
                queries.append(DashboardQuery(dashboard: file, panel: "variable $\(variable["name"] as? String ?? "?")", expression: query))
            }
            var panels = board["panels"] as? [[String: Any]] ?? []
            panels += panels.flatMap { $0["panels"] as? [[String: Any]] ?? [] }  // inside collapsed rows
            for panel in panels where panel["type"] as? String != "row" {
                let title = panel["title"] as? String ?? "?"
                let uid = (panel["datasource"] as? [String: Any])?["uid"] as? String
                // Panels on the PostgreSQL store (SQL, not PromQL) are proven by DashboardSQLTests.
                if uid == "vigil-postgres" { continue }
                #expect(uid == "prometheus", "\(file) / \(title): datasource \(uid ?? "none")")
                let targets = panel["targets"] as? [[String: Any]] ?? []
                #expect(!targets.isEmpty, "\(file) / \(title): no query")
                for target in targets {
                    let expression = target["expr"] as? String ?? ""
                    #expect(!expression.isEmpty, "\(file) / \(title): empty query")
                    queries.append(DashboardQuery(dashboard: file, panel: "\(title) [\(target["refId"] as? String ?? "?")]", expression: expression))
                }
            }
        }
        return queries
    }
}

enum RuleExpression {
    /// The expression without its `<op> <number>` thresholds: the quantity the rule compares.
    static func withoutThresholds(_ expression: String) -> String {
        expression.replacing(/\s*(==|!=|>=|<=|>|<)\s*[0-9][0-9.eE+\-]*/, with: "")
    }

    /// The metric names a rule selects (`name{…}`), histogram suffixes included.
    static func selectedMetrics(_ expression: String) -> [String] {
        Set(expression.matches(of: /([a-zA-Z_:][a-zA-Z0-9_:]*)\{/).map { String($0.1) }).sorted()
    }
}

/// Sums samples of one family in the Prometheus text format (`name` or `name{…}` lines).
enum ExpositionText {
    static func sum(_ text: String, _ name: String, containing labels: String = "") -> Double {
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            let rest = line.dropFirst(name.count)
            guard rest.first == "{" || rest.first == " ", labels.isEmpty || rest.contains(labels) else { continue }
            total += Double(rest.split(separator: " ").last ?? "") ?? 0
        }
        return total
    }
}

/// Prometheus' HTTP API (`/api/v1/query`, `/api/v1/rules`).
struct PrometheusClient: Sendable {
    var base: String

    struct QueryError: Error, CustomStringConvertible {
        var description: String
    }

    /// The number of series an instant query returns, or Prometheus' error.
    func query(_ promQL: String) async -> Result<Int, QueryError> {
        let encoded = promQL.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
        guard let response = try? await HTTPClient().execute(HTTPRequest(url: "\(base)/api/v1/query?query=\(encoded)", timeoutSeconds: 10)),
            let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        else { return .failure(QueryError(description: "Prometheus did not answer")) }
        guard object["status"] as? String == "success", let data = object["data"] as? [String: Any] else {
            return .failure(QueryError(description: "\(object["errorType"] ?? "error"): \(object["error"] ?? response.bodyText)"))
        }
        if data["resultType"] as? String == "scalar" { return .success(1) }
        return .success((data["result"] as? [Any])?.count ?? 0)
    }

    struct Rule: Sendable {
        var name: String
        var query: String
        var health: String
        var lastError: String?
        var severity: String?
        var summary: String?
        var description: String?
    }

    func rules() async throws -> [Rule] {
        let response = try await HTTPClient().execute(HTTPRequest(url: "\(base)/api/v1/rules", timeoutSeconds: 60))
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        let groups = (object?["data"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        return groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }.map { rule in
            let labels = rule["labels"] as? [String: String] ?? [:]
            let annotations = rule["annotations"] as? [String: String] ?? [:]
            return Rule(
                name: rule["name"] as? String ?? "", query: rule["query"] as? String ?? "", health: rule["health"] as? String ?? "",
                lastError: rule["lastError"] as? String, severity: labels["severity"], summary: annotations["summary"],
                description: annotations["description"])
        }
    }
}

extension String {
    /// `replacingOccurrences`, failing when `target` is absent (the deployment file changed shape).
    func replacingRequired(_ target: String, with replacement: String) throws -> String {
        guard contains(target) else { throw TestFailure("deploy/prometheus/prometheus.yml no longer contains \(target)") }
        return replacingOccurrences(of: target, with: replacement)
    }
}
