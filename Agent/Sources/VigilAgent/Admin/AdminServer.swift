import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import VigilHTTP
import VigilTelemetry

/// Readiness as the agent reports it on `/readyz`: ready once the spool is open and the pipeline runs, and while the
/// spool is not blocking the feeds (a full spool under `when_full: block` means the agent accepts no new data).
public final class AgentHealth: Sendable {
    private let state = Mutex<(ready: Bool, reason: String)>((false, "starting"))

    public init() {}

    public func setReady() { state.withLock { $0 = (true, "ok") } }
    public func setNotReady(_ reason: String) { state.withLock { $0 = (false, reason) } }
    public var status: (ready: Bool, reason: String) { state.withLock { $0 } }
}

/// The agent's admin port: `/metrics` (Prometheus text format), `/healthz` (the process serves requests) and
/// `/readyz` (see `AgentHealth`). A `Service`, so it starts and stops with the rest of the agent.
public final class AdminServer: Service, Sendable {
    public let server: SimpleHTTPServer
    private let logger: Logger

    public init(
        listen: String, registry: PrometheusCollectorRegistry, health: AgentHealth, beforeScrape: @escaping @Sendable () -> Void = {}, logger: Logger
    ) throws {
        let (host, port) = try Self.parse(listen)
        self.logger = logger
        let process = ProcessMetrics.shared(for: registry)
        server = try SimpleHTTPServer(host: host, port: port, maxBodyBytes: 1 << 16) { request in
            guard request.method == "GET" || request.method == "HEAD" else {
                return ServerResponse(status: 405, headers: [("Allow", "GET, HEAD")], body: Array("method not allowed\n".utf8))
            }
            switch request.path {
            case "/metrics":
                beforeScrape()
                return ServerResponse(
                    status: 200, headers: [("Content-Type", PrometheusExposition.contentType)],
                    body: PrometheusExposition.render(registry, process: process))
            case "/healthz":
                return ServerResponse(status: 200, contentType: "text/plain", text: "ok\n")
            case "/readyz":
                let status = health.status
                return ServerResponse(status: status.ready ? 200 : 503, contentType: "text/plain", text: status.reason + "\n")
            default:
                return ServerResponse(status: 404, contentType: "text/plain", text: "not found; try /metrics, /healthz or /readyz\n")
            }
        }
    }

    public var port: Int { server.port }

    public func run() async throws {
        server.start()
        logger.info("Admin server listening.", metadata: ["admin.address": "\(server.host):\(server.port)"])
        // Serve until the service group shuts down (or this task is cancelled).
        try? await gracefulShutdown()
        server.stop()
    }

    /// `host:port`, `:port` or `port`.
    static func parse(_ listen: String) throws -> (String, Int) {
        let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
        let hostPart = parts.count > 1 ? parts.dropLast().joined(separator: ":") : "127.0.0.1"
        guard let portText = parts.last, let port = Int(portText), (0...65535).contains(port) else {
            throw AgentError(code: .config, message: "admin.listen must be host:port, got \(listen)")
        }
        return (hostPart.isEmpty ? "0.0.0.0" : hostPart, port)
    }
}
