import Foundation
import Prometheus
import Synchronization

/// The standard Prometheus process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_start_time_seconds`, `process_open_fds`), read from /proc at every scrape. swift-prometheus has no process
/// collector; dashboards need CPU-seconds for "cost per million bars" and memory per process.
public final class ProcessMetrics: Sendable {
    private let cpu: Prometheus.Counter
    private let resident: Prometheus.Gauge
    private let start: Prometheus.Gauge
    private let openFDs: Prometheus.Gauge
    /// CPU seconds already added to the counter (it only moves by the difference).
    private let reported = Mutex(0.0)
    private static let clockTicks = Double(max(sysconf(Int32(_SC_CLK_TCK)), 1))
    private static let pageSize = Double(max(sysconf(Int32(_SC_PAGESIZE)), 1))

    private static let instances = Mutex<[ObjectIdentifier: ProcessMetrics]>([:])

    /// The one instance for `registry`: a process that serves several components from one registry (the pilot) must
    /// not add its CPU time twice.
    public static func shared(for registry: PrometheusCollectorRegistry) -> ProcessMetrics {
        instances.withLock { all in
            if let existing = all[ObjectIdentifier(registry)] { return existing }
            let made = ProcessMetrics(registry: registry)
            all[ObjectIdentifier(registry)] = made
            return made
        }
    }

    private init(registry: PrometheusCollectorRegistry) {
        cpu = registry.makeCounter(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
        resident = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        start = registry.makeGauge(name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.")
        openFDs = registry.makeGauge(name: "process_open_fds", help: "Number of open file descriptors.")
        start.set(Date().timeIntervalSince1970 - Self.uptimeSeconds())
        update()
    }

    /// Reads /proc/self; call before rendering the registry.
    public func update() {
        // /proc/self/stat: fields after the ")" that closes the command name; utime and stime are fields 14 and 15,
        // rss (pages) is field 24 (1-based, counting pid as field 1).
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // fields[0] is field 3 (state).
            if fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]), let rss = Double(fields[21]) {
                let seconds = (utime + stime) / Self.clockTicks
                let delta = reported.withLock { previous -> Double in
                    let delta = seconds - previous
                    if delta > 0 { previous = seconds }
                    return delta
                }
                if delta > 0 { cpu.increment(by: delta) }
                resident.set(rss * Self.pageSize)
            }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") { openFDs.set(Double(entries.count)) }
    }

    /// Seconds since this process started (field 22 of /proc/self/stat against the system uptime).
    private static func uptimeSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
            let uptime = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
            let systemUp = Double(uptime.split(separator: " ").first ?? "")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let startTicks = Double(fields[19]) else { return 0 }
        return max(0, systemUp - startTicks / clockTicks)
    }
}
