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
/// `@unchecked Sendable` because ownership moves between tasks only through `PostgresPool.idle` (a `Mutex`): a
/// connection is used by exactly one task at a time, between `checkout` and `checkin`.
final class PostgresConnection: @unchecked Sendable {
    private let conn: OpaquePointer

    init(url: String, schema: String?, applicationName: String) throws(StoreError) {
        guard let conn = PQconnectdb(url) else { throw StoreError(.connectionFailed, "libpq could not allocate a connection") }
        self.conn = conn
        guard PQstatus(conn) == CONNECTION_OK else {
            throw StoreError(.connectionFailed, "cannot connect to PostgreSQL: \(Self.trim(String(cString: PQerrorMessage(conn))))")
        }
        try exec("SET client_min_messages = warning")
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

/// A small pool of libpq connections: callers borrow one for a whole synchronous unit of work (one transaction).
///
/// Connections are opened on demand (so concurrent appliers really run concurrently and exercise row locks) and at
/// most `maxIdle` are kept. All libpq calls are blocking and run on the caller's task; they never span an `await`.
final class PostgresPool: Sendable {
    let url: String
    let schema: String?
    let applicationName: String
    let maxIdle: Int
    private let idle = Mutex<[PostgresConnection]>([])
    private let closed = Atomic<Bool>(false)

    init(url: String, schema: String?, applicationName: String, maxIdle: Int) {
        self.url = url
        self.schema = schema
        self.applicationName = applicationName
        self.maxIdle = maxIdle
    }

    /// Runs `body` on a borrowed (or new) connection.
    ///
    /// If a *reused* connection turns out to be broken (the server restarted while it sat idle), `body` runs once
    /// more on a fresh connection. That is safe for every store operation: reads and `IF [NOT] EXISTS` DDL are
    /// idempotent, and a batch whose COMMIT did land before the break comes back as `.duplicate` through the dedupe.
    func withConnection<T>(_ body: (PostgresConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        guard !closed.load(ordering: .acquiring) else { throw StoreError(.closed, "store is closed") }
        if let borrowed = idle.withLock({ $0.popLast() }) {
            do throws(StoreError) {
                let result = try body(borrowed)
                checkin(borrowed)
                return result
            } catch  where error.code == .connectionFailed && !borrowed.isHealthy {
                // Fall through to a fresh connection.
            } catch {
                checkin(borrowed)
                throw error
            }
        }
        let fresh = try PostgresConnection(url: url, schema: schema, applicationName: applicationName)
        defer { checkin(fresh) }
        return try body(fresh)
    }

    private func checkin(_ connection: PostgresConnection) {
        guard connection.isHealthy, !closed.load(ordering: .acquiring) else { return }
        idle.withLock { pool in
            if pool.count < maxIdle { pool.append(connection) }
        }
    }

    func close() {
        closed.store(true, ordering: .releasing)
        idle.withLock { $0.removeAll() }
    }
}
