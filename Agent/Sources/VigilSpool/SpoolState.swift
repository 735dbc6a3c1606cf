// Vigil agent spool: the mutable state behind the spool's lock.

/// One segment file and the index of its records.
struct Segment {
    /// The id in the file name: the first record's id when the segment was created.
    let baseID: UInt64
    let path: String
    /// File size: where the next record goes, for the active segment.
    var bytes: Int
    var records: ContiguousArray<RecordSlot>
    var ackedCount: Int
    /// Index of the first record that is not acked (`records.count` when all are). Kept current by every method that
    /// acks, so readers need no mutation.
    var firstUnacked: Int

    init(baseID: UInt64, path: String, bytes: Int, records: ContiguousArray<RecordSlot>) {
        self.baseID = baseID
        self.path = path
        self.bytes = bytes
        self.records = records
        self.ackedCount = records.reduce(0) { $0 + ($1.acked ? 1 : 0) }
        self.firstUnacked = 0
        advanceFirstUnacked()
    }

    var isFullyAcked: Bool {
        ackedCount == records.count
    }

    var pendingCount: Int {
        records.count - ackedCount
    }

    /// Acks every record with an id ≤ `id`; returns how many changed.
    mutating func acknowledge(upTo id: UInt64) -> Int {
        var changed = 0
        var index = firstUnacked
        while index < records.count && records[index].id <= id {
            if !records[index].acked {
                records[index].acked = true
                changed += 1
            }
            index += 1
        }
        ackedCount += changed
        advanceFirstUnacked()
        return changed
    }

    /// Acks the record with exactly this id; returns whether it was pending.
    mutating func acknowledge(id: UInt64) -> Bool {
        guard let index = index(of: id), !records[index].acked else { return false }
        records[index].acked = true
        ackedCount += 1
        advanceFirstUnacked()
        return true
    }

    /// Position of the record with this id (records are sorted by id).
    func index(of id: UInt64) -> Int? {
        let index = firstIndex(notBelow: id)
        return index < records.count && records[index].id == id ? index : nil
    }

    /// First index whose id is ≥ `id`, `records.count` when none.
    func firstIndex(notBelow id: UInt64) -> Int {
        var low = 0
        var high = records.count
        while low < high {
            let mid = (low + high) / 2
            if records[mid].id < id {
                low = mid + 1
            } else {
                high = mid
            }
        }
        return low
    }

    private mutating func advanceFirstUnacked() {
        while firstUnacked < records.count && records[firstUnacked].acked {
            firstUnacked += 1
        }
    }
}

/// An append waiting for space under `whenFull: block`.
struct Waiter {
    let token: UInt64
    let recordBytes: Int
    let continuation: CheckedContinuation<Void, any Error>
}

/// Everything the lock protects.
struct SpoolState {
    /// Oldest first. When `activeFD >= 0`, the last one is the active segment, open for appending.
    var segments: [Segment] = []
    var activeFD: Int32 = -1
    var totalBytes = 0
    var pendingCount = 0
    var lastRecordID: UInt64?
    /// Ids acked (or found corrupt) above the first pending record, ascending: the out-of-order part of the ack file.
    var outOfOrderAcks: [UInt64] = []
    /// The ack state last written to disk, to skip writing an unchanged one.
    var persistedAcks: AckState?
    var ackPersistFailing = false

    /// FIFO of blocked appends; `headWoken` is set between waking the head and its retry, so newcomers queue behind it.
    var waiters: [Waiter] = []
    var headWoken = false
    var nextWaiterToken: UInt64 = 0

    var closed = false
    /// Appended bytes not yet `fdatasync`ed, and a created segment whose directory entry is not yet synced.
    var dataDirty = false
    var directoryDirty = false
    var lastSyncNanoseconds: UInt64 = 0

    var droppedFull = 0
    var droppedCorrupt = 0
    var truncatedBytes = 0

    var hasActiveSegment: Bool {
        activeFD >= 0
    }

    /// The slot of the oldest pending record, if any.
    var oldestPending: RecordSlot? {
        for segment in segments where segment.firstUnacked < segment.records.count {
            return segment.records[segment.firstUnacked]
        }
        return nil
    }

    /// Every id ≤ this is acked or gone: one below the oldest pending record, or the last id when nothing is pending.
    var ackWatermark: UInt64? {
        guard let oldest = oldestPending else { return lastRecordID }
        return oldest.id == 0 ? nil : oldest.id - 1
    }

    /// Index of the segment that would hold `id`: the last one whose first record's id is ≤ it. Looks at record ids,
    /// not file names, so a segment named ahead of its ids cannot hide them. Only the active (last) segment can be
    /// empty, so "has a first id ≤ `id`" holds for a prefix of the segments and binary search applies.
    func segmentIndex(for id: UInt64) -> Int? {
        var low = 0
        var high = segments.count
        while low < high {
            let mid = (low + high) / 2
            if let first = segments[mid].records.first?.id, first <= id {
                low = mid + 1
            } else {
                high = mid
            }
        }
        return low == 0 ? nil : low - 1
    }
}
