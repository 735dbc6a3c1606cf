// Vigil collector store: a minimal, synchronous wrapper over libpq (CPostgres shim), plus a tiny connection pool.
import CPostgres
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A statement parameter: text (PostgreSQL parses it by the column type), binary bytes (for `bytea`) or NULL.
enum PGParam: Sendable, Hashable {
    case text(String)
    case bytes([UInt8])
    case null
}

/// One libpq connection.
///
/// `@unchecked Sendable` because ownership moves between tasks only through `PostgresPool`'s state (a `Mutex`) or a
/// lease handed to one waiter: a connection is used by exactly one task at a time, between `acquire` and `checkin`.
/// Closed (`PQfinish`) when the last reference goes, i.e. when the pool drops it.
final class PostgresConnection: @unchecked Sendable {
    private let conn: OpaquePointer

    init(url: String, schema: String?, applicationName: String) throws(StoreError) {
        guard let conn = PQconnectdb(url) else { throw StoreError(.connectionFailed, "libpq could not allocate a connection") }
        self.conn = conn
        guard PQstatus(conn) == CONNECTION_OK else {
            throw StoreError(.connectionFailed, "cannot connect to PostgreSQL: \(Self.trim(String(cString: PQerrorMessage(conn))))")
        }
        try exec("SET client_min_messages = warning")
        // An acknowledged batch must be on disk: COMMIT returns only after the WAL is flushed, whatever the server or
        // role default says (`synchronous_commit = off` could lose the last commits in a server crash).
        try exec("SET synchronous_commit = on")
        // Shows up in pg_stat_activity, so operators can tell the collector's connections apart.
        try exec("SET application_name = '\(applicationName)'")
        if let schema {
            try exec("CREATE SCHEMA IF NOT EXISTS \(schema)")
            try exec("SET search_path TO \(schema)")
        }
    }

    deinit { PQfinish(conn) }

    /// False once the connection broke; the pool then drops it instead of reusing it.
    var isHealthy: Bool { PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE }

    /// Runs SQL without parameters (may hold several statements).
    func exec(_ sql: String) throws(StoreError) {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        try check(result, sql: sql)
    }

    /// Runs one statement with `$n` parameters; returns the rows as text (NULL as nil).
    @discardableResult
    func query(_ sql: String, _ params: [PGParam] = []) throws(StoreError) -> [[String?]] {
        var values: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        defer { for value in values { free(value) } }
        for param in params {
            switch param {
            case .text(let string):
                values.append(strdup(string))
                lengths.append(0)
                formats.append(0)
            case .bytes(let bytes):
                let buffer = malloc(max(bytes.count, 1))?.assumingMemoryBound(to: CChar.self)
                bytes.withUnsafeBytes { raw in
                    if let base = raw.baseAddress, let buffer { memcpy(buffer, base, raw.count) }
                }
                values.append(buffer)
                lengths.append(Int32(clamping: bytes.count))
                formats.append(1)
            case .null:
                values.append(nil)
                lengths.append(0)
                formats.append(0)
            }
        }
        let result = values.withUnsafeBufferPointer { valuesPointer in
            valuesPointer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { rebound in
                PQexecParams(conn, sql, Int32(params.count), nil, rebound.baseAddress, lengths, formats, 0)
            }
        }
        defer { PQclear(result) }
        try check(result, sql: sql)
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var columns: [String?] = []
            columns.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) == 1 {
                    columns.append(nil)
                } else if let value = PQgetvalue(result, row, column) {
                    columns.append(String(cString: value))
                } else {
                    columns.append(nil)
                }
            }
            rows.append(columns)
        }
        return rows
    }

    /// Streams `data` (already in the COPY format named by `sql`) into `COPY … FROM STDIN`, in 1 MiB chunks.
    func copyIn(_ sql: String, _ data: [UInt8]) throws(StoreError) {
        let start = PQexec(conn, sql)
        let startStatus = PQresultStatus(start)
        if startStatus != PGRES_COPY_IN {
            defer { PQclear(start) }
            try check(start, sql: sql)
            throw StoreError(.queryFailed, "COPY did not enter COPY IN state")
        }
        PQclear(start)
        let chunk = 1 << 20
        var offset = 0
        var sendFailed = false
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else { return }
            while offset < raw.count {
                let length = min(chunk, raw.count - offset)
                if PQputCopyData(conn, base + offset, Int32(length)) != 1 {
                    sendFailed = true
                    return
                }
                offset += length
            }
        }
        if sendFailed {
            _ = PQputCopyEnd(conn, "vigil: send failed")
        } else if PQputCopyEnd(conn, nil) != 1 {
            sendFailed = true
        }
        // Drain every result: the COPY's own status comes first, errors (constraint violations) included.
        var firstError: StoreError?
        while let result = PQgetResult(conn) {
            do throws(StoreError) {
                try check(result, sql: sql)
            } catch {
                if firstError == nil { firstError = error }
            }
            PQclear(result)
        }
        if let firstError { throw firstError }
        if sendFailed {
            throw StoreError(.connectionFailed, "COPY failed: \(Self.trim(String(cString: PQerrorMessage(conn))))")
        }
    }

    // MARK: Errors

    private func check(_ result: OpaquePointer?, sql: String) throws(StoreError) {
        guard let result else {
            throw StoreError(.connectionFailed, "PostgreSQL returned no result: \(Self.trim(String(cString: PQerrorMessage(conn))))")
        }
        let status = PQresultStatus(result)
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY { return }
        let message = Self.trim(String(cString: PQresultErrorMessage(result)))
        let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        throw StoreError(Self.code(sqlState: sqlState, healthy: PQstatus(conn) == CONNECTION_OK), "[\(sqlState)] \(message)")
    }

    /// Maps SQLSTATE classes (PostgreSQL docs, Appendix A) to store error codes.
    private static func code(sqlState: String, healthy: Bool) -> StoreError.Code {
        if !healthy { return .connectionFailed }
        if sqlState == "40001" || sqlState == "40P01" || sqlState == "55P03" { return .busy }
        switch sqlState.prefix(2) {
        case "23", "22": return .constraintViolation
        case "08", "57": return .connectionFailed
        default: return .queryFailed
        }
    }

    private static func trim(_ message: String) -> String {
        String(message.reversed().drop(while: { $0 == "\n" || $0 == " " }).reversed())
    }
}

/// A snapshot of `PostgresPool`, for tests and diagnostics.
package struct PostgresPoolStatistics: Sendable, Hashable {
    package var idle: Int
    package var busy: Int
    package var waiting: Int
    /// The most slots ever busy at once.
    package var peakBusy: Int
    /// Callers that had to wait for a slot.
    package var waits: Int
}

/// A bounded pool of libpq connections: callers borrow one for a whole synchronous unit of work (one transaction).
///
/// At most `maxConnections` exist (idle + busy). Slots are taken with `acquire()` on the caller's task: when all are busy
/// the caller suspends (no thread is blocked) in a FIFO queue until a slot is returned; a returned slot is handed
/// straight to the first waiter, so later callers cannot barge ahead. A cancelled waiter leaves the queue and throws
/// `.cancelled` without ever holding a slot. The work itself (`run`) is synchronous libpq on the store's I/O threads and
/// always gives the slot back: a healthy connection goes back to the pool (or to the next waiter), a broken one (libpq
/// status bad, or a transaction left open by an error) is closed and only its slot is passed on.
final class PostgresPool: Sendable {
    /// What `acquire` grants: an idle connection, or the right to open a new one (the slot is already counted busy).
    enum Lease: Sendable {
        case idle(PostgresConnection)
        case open
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Result<Lease, StoreError>, Never>
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var busy = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var peakBusy = 0
        var waits = 0
        var closed = false
    }

    let url: String
    let schema: String?
    let applicationName: String
    let maxIdle: Int
    let maxConnections: Int
    private let metrics: StorePoolMetrics
    private let state = Mutex(State())

    init(url: String, schema: String?, applicationName: String, maxIdle: Int, maxConnections: Int, metrics: StorePoolMetrics) {
        self.url = url
        self.schema = schema
        self.applicationName = applicationName
        self.maxIdle = maxIdle
        self.maxConnections = maxConnections
        self.metrics = metrics
        metrics.idle.record(0)
        metrics.busy.record(0)
    }

    var statistics: PostgresPoolStatistics {
        state.withLock { s in
            PostgresPoolStatistics(idle: s.idle.count, busy: s.busy, waiting: s.waiters.count, peakBusy: s.peakBusy, waits: s.waits)
        }
    }

    // MARK: Acquire

    /// Takes a slot, waiting (FIFO) while all `maxConnections` are busy. Every successful call must be followed by
    /// exactly one `run(_:_:)` with the lease, which returns the slot.
    func acquire() async throws(StoreError) -> Lease {
        if let granted = state.withLock({ s in grantIfFree(&s) }) { return try granted.get() }
        let id = state.withLock { s in
            s.nextWaiterID &+= 1
            return s.nextWaiterID
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Lease, StoreError>, Never>) in
                let immediate: Result<Lease, StoreError>? = state.withLock { s in
                    // State may have changed since the fast path; and a task cancelled before it got here must not
                    // queue, because its cancellation handler has already run and found nothing to remove.
                    if let granted = grantIfFree(&s) { return granted }
                    if Task.isCancelled { return .failure(Self.cancelledError) }
                    s.waiters.append(Waiter(id: id, continuation: continuation))
                    s.waits += 1
                    metrics.waits.increment()
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            // Only a waiter still queued is failed; one already handed a slot keeps it and returns it through `run`.
            let removed = state.withLock { s -> Waiter? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index)
            }
            removed?.continuation.resume(returning: .failure(Self.cancelledError))
        }
        return try result.get()
    }

    private static let cancelledError = StoreError(.cancelled, "cancelled while waiting for a database connection")

    /// Grants a slot without waiting when one is free and nobody queued first; nil when the caller must wait.
    private func grantIfFree(_ s: inout State) -> Result<Lease, StoreError>? {
        if s.closed { return .failure(StoreError(.closed, "store is closed")) }
        guard s.waiters.isEmpty else { return nil }
        if let connection = s.idle.popLast() {
            s.busy += 1
            recordGauges(&s)
            return .success(.idle(connection))
        }
        guard s.busy < maxConnections else { return nil }
        s.busy += 1
        recordGauges(&s)
        return .success(.open)
    }

    private func recordGauges(_ s: inout State) {
        s.peakBusy = max(s.peakBusy, s.busy)
        metrics.idle.record(s.idle.count)
        metrics.busy.record(s.busy)
    }

    // MARK: Run

    /// Runs `body` on the leased connection (opening one for an `.open` lease), then returns the slot.
    ///
    /// If a *reused* connection turns out to be broken (the server restarted while it sat idle), `body` runs once
    /// more on a fresh connection in the same slot. That is safe for every store operation: reads and `IF [NOT] EXISTS`
    /// DDL are idempotent, and a batch whose COMMIT did land before the break comes back as `.duplicate` through the
    /// dedupe.
    func run<T>(_ lease: Lease, _ body: (PostgresConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        var current: PostgresConnection?
        defer { checkin(current) }
        if case .idle(let borrowed) = lease {
            current = borrowed
            do throws(StoreError) {
                return try body(borrowed)
            } catch  where error.code == .connectionFailed && !borrowed.isHealthy {
                current = nil  // dropped, hence closed; the slot stays ours for the fresh connection below
            }
        }
        let fresh = try PostgresConnection(url: url, schema: schema, applicationName: applicationName)
        current = fresh
        return try body(fresh)
    }

    /// Returns a slot: to the first waiter if any (with the connection if it is still healthy, else the right to open
    /// one), else to the pool. Broken connections, and any beyond `maxIdle`, are dropped, which closes them.
    private func checkin(_ connection: PostgresConnection?) {
        let reusable = connection.flatMap { $0.isHealthy ? $0 : nil }
        let handOff: (Waiter, Lease)? = state.withLock { s in
            if !s.closed, !s.waiters.isEmpty {
                let waiter = s.waiters.removeFirst()
                return (waiter, reusable.map { .idle($0) } ?? .open)
            }
            s.busy -= 1
            if !s.closed, let reusable, s.idle.count < maxIdle { s.idle.append(reusable) }
            recordGauges(&s)
            return nil
        }
        if let handOff { handOff.0.continuation.resume(returning: .success(handOff.1)) }
    }

    /// Refuses new work, closes idle connections and fails every waiter; busy connections close when returned.
    func close() {
        // The idle connections are moved out and released after the lock, since PQfinish may block on the network.
        let (_, waiters) = state.withLock { s in
            s.closed = true
            let moved = (s.idle, s.waiters)
            s.idle = []
            s.waiters = []
            recordGauges(&s)
            return moved
        }
        for waiter in waiters { waiter.continuation.resume(returning: .failure(StoreError(.closed, "store is closed"))) }
    }
}
