// Vigil collector store: a minimal, synchronous wrapper over the sqlite3 C API (CSQLite shim).
import CSQLite

/// A value bound to or read from a SQL statement.
enum SQLValue: Sendable, Hashable {
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
    case null
}

/// One SQLite connection with a cache of prepared statements.
///
/// Not thread-safe by itself: `SQLiteStore` owns it inside a `Mutex`, which is also what makes this process a single
/// writer. Other processes (or a second store on the same file) are serialised by `BEGIN IMMEDIATE` + `busy_timeout`.
final class SQLiteConnection {
    private let db: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    init(path: String, busyTimeoutMilliseconds: Int32) throws(StoreError) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let handle { sqlite3_close_v2(handle) }
            throw StoreError(.connectionFailed, "cannot open SQLite database at \(path): \(message)")
        }
        db = handle
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        // WAL lets readers run while the writer commits; synchronous=FULL fsyncs the WAL at every commit, so an
        // acknowledged batch survives kill -9 and power loss (NORMAL would only survive process crashes).
        // `journal_mode=WAL` does not fail when WAL is unavailable (some network file systems): it answers with the
        // mode it kept. Read both settings back so the store never runs with weaker guarantees than it documents.
        let mode = try query("PRAGMA journal_mode=WAL").first?.first?.string?.lowercased()
        guard mode == "wal" else { throw StoreError(.connectionFailed, "cannot enable WAL on \(path) (journal mode \(mode ?? "unknown"))") }
        try exec("PRAGMA synchronous=FULL")
        guard try query("PRAGMA synchronous").first?.first?.int64 == 2 else {
            throw StoreError(.connectionFailed, "cannot set synchronous=FULL on \(path)")
        }
        try exec("PRAGMA foreign_keys=ON")
        // 64 MiB page cache (the default is 2 MiB): the bars indexes otherwise get re-read for every batch once the
        // file outgrows the cache, and ingest slows as the store grows.
        try exec("PRAGMA cache_size=-65536")
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(db)
    }

    /// Runs one or more statements without results.
    func exec(_ sql: String) throws(StoreError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(errorMessage)
            throw Self.error(rc, message)
        }
    }

    /// Runs a cached prepared statement with `values` bound and returns every row.
    @discardableResult
    func query(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> [[SQLValue]] {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(statement, values)
        var rows: [[SQLValue]] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw Self.error(rc, String(cString: sqlite3_errmsg(db))) }
            let count = sqlite3_column_count(statement)
            var row: [SQLValue] = []
            row.reserveCapacity(Int(count))
            for column in 0..<count { row.append(Self.column(statement, column)) }
            rows.append(row)
        }
        return rows
    }

    /// Runs a cached prepared statement that returns no rows; the hot path for bulk inserts (no row array built).
    func run(_ sql: String, _ values: [SQLValue]) throws(StoreError) {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(statement, values)
        let rc = sqlite3_step(statement)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw Self.error(rc, String(cString: sqlite3_errmsg(db))) }
    }

    /// Rows changed by the last statement.
    var changes: Int64 { Int64(sqlite3_changes(db)) }

    // MARK: Internals

    private func prepared(_ sql: String) throws(StoreError) -> OpaquePointer {
        if let cached = statements[sql] { return cached }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw Self.error(rc, String(cString: sqlite3_errmsg(db))) }
        statements[sql] = statement
        return statement
    }

    private func bind(_ statement: OpaquePointer, _ values: [SQLValue]) throws(StoreError) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .int(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .double(let v): rc = sqlite3_bind_double(statement, index, v)
            case .text(let v): rc = sqlite3_bind_text(statement, index, v, -1, vigil_sqlite_transient())
            case .blob(let v):
                rc = v.withUnsafeBytes { raw in
                    // A zero-length blob must still be a blob, not NULL: bind zeroblob(0) for empty payloads.
                    guard let base = raw.baseAddress, !raw.isEmpty else { return sqlite3_bind_zeroblob(statement, index, 0) }
                    return sqlite3_bind_blob(statement, index, base, Int32(raw.count), vigil_sqlite_transient())
                }
            case .null: rc = sqlite3_bind_null(statement, index)
            }
            guard rc == SQLITE_OK else { throw Self.error(rc, String(cString: sqlite3_errmsg(db))) }
        }
    }

    private static func column(_ statement: OpaquePointer, _ index: Int32) -> SQLValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(statement, index) else { return .null }
            return .text(String(cString: text))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard count > 0, let bytes = sqlite3_column_blob(statement, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }

    private static func error(_ rc: Int32, _ message: String) -> StoreError {
        switch rc & 0xFF {
        case SQLITE_CONSTRAINT: StoreError(.constraintViolation, message)
        case SQLITE_BUSY, SQLITE_LOCKED: StoreError(.busy, message)
        case SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL: StoreError(.connectionFailed, message)
        default: StoreError(.queryFailed, message)
        }
    }
}

extension SQLValue {
    var int64: Int64? {
        switch self {
        case .int(let v): v
        case .double(let v): Int64(exactly: v)
        default: nil
        }
    }

    var double: Double? {
        switch self {
        case .double(let v): v
        case .int(let v): Double(v)
        default: nil
        }
    }

    var string: String? {
        if case .text(let v) = self { return v }
        return nil
    }
}
