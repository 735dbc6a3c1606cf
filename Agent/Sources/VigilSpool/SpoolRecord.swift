// Vigil agent spool: what the spool hands back, and what it reports about itself.

/// One spooled batch, as `Spool.pending(after:limit:)` returns it.
public struct SpoolRecord: Sendable, Equatable {
    /// The id given to `Spool.append(id:payload:)`: the agent's batch sequence number.
    public var id: UInt64
    /// The bytes given to `append`, checked against the record's CRC when read.
    public var payload: [UInt8]
    /// When the record was appended, in milliseconds since the Unix epoch (from the record header, so it survives
    /// restarts).
    public var appendedAtMilliseconds: UInt64

    public init(id: UInt64, payload: [UInt8], appendedAtMilliseconds: UInt64) {
        self.id = id
        self.payload = payload
        self.appendedAtMilliseconds = appendedAtMilliseconds
    }
}

/// A snapshot of the spool, for `/healthz`, logs and tests. The same numbers feed the `vigil_agent_spool_*` metrics.
public struct SpoolStats: Sendable, Equatable {
    /// Bytes of all segment files, acknowledged records included until their segment is deleted.
    public var bytes: Int
    /// Segment files on disk.
    public var segments: Int
    /// Records appended and not yet acknowledged.
    public var pendingRecords: Int
    /// Seconds since the oldest pending record was appended; 0 when nothing is pending.
    public var oldestPendingAgeSeconds: Double
    /// Pending records deleted by `whenFull: dropOldest` since this `Spool` was opened.
    public var droppedFullRecords: Int
    /// Records lost to corruption since this `Spool` was opened: damaged stretches skipped by recovery (one per
    /// stretch) plus records that failed their CRC when read back.
    public var droppedCorruptRecords: Int
    /// Bytes cut from the tail of the newest segment by recovery (a torn last write).
    public var recoveredTruncatedBytes: Int
    /// Appends waiting for space under `whenFull: block`.
    public var waitingAppends: Int
    /// The highest record id the spool has seen, including acknowledged and deleted ones. See `Spool.lastRecordID`.
    public var lastRecordID: UInt64?

    /// All records lost, for whatever reason.
    public var droppedRecords: Int {
        droppedFullRecords + droppedCorruptRecords
    }
}
