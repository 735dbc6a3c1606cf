// Vigil agent spool: reading a segment back at startup, keeping every intact record.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where one record lives, kept in memory for every record on disk (32 bytes each: a 256 MiB spool of 4 KB batches
/// indexes in ~2 MB). `acked` means "no longer pending": acknowledged, or found corrupt when read back.
struct RecordSlot {
    var id: UInt64
    var timestampMilliseconds: UInt64
    var offset: Int
    var length: UInt32
    var acked: Bool
}

/// What `SegmentScanner.scan` found in one segment's bytes.
struct SegmentScan {
    /// Every record whose header and CRC check out and whose id is above all ids before it, in file order.
    var records: ContiguousArray<RecordSlot> = []
    /// Damaged stretches that were skipped because an intact record follows them (each one counted as one lost record:
    /// a bit flip damages one record; a longer stretch may have held more, which nothing can tell any more).
    var corruptRegions = 0
    var corruptBytes = 0
    /// Where a trailing stretch with no intact record after it starts, or nil when the file ends on a record boundary.
    /// In the newest segment this is a torn write and the file is truncated here; in older ones it counts as corrupt.
    var tailStart: Int?
}

/// Parses segment bytes. Pure (no I/O) so it is fuzzed directly by the tests.
///
/// Rules, in order, at each position: an intact record (magic, version, length within the file, CRC over length, id,
/// time and payload, id greater than every id accepted before, in this or earlier segments) is kept and the scan moves
/// past it. Anything else starts a damaged stretch: the scanner looks forward for the next position that holds an
/// intact record by the same rules ("resync", as Kafka's and LevelDB's log readers do). Found: the stretch is skipped
/// and counted. Not found: the stretch is the tail. Requiring a full CRC match (not just the magic) at a resync point
/// is what keeps a payload that happens to contain the magic bytes from being read as a record; requiring a growing
/// id keeps stale or duplicated records out.
enum SegmentScanner {
    static func scan(_ bytes: UnsafeRawBufferPointer, after previousID: UInt64?) -> SegmentScan {
        var result = SegmentScan()
        var lastID = previousID
        var position = 0
        while position < bytes.count {
            if let header = intactRecord(at: position, in: bytes, after: lastID) {
                result.records.append(
                    RecordSlot(
                        id: header.id,
                        timestampMilliseconds: header.timestampMilliseconds,
                        offset: position,
                        length: UInt32(header.length),
                        acked: false
                    )
                )
                lastID = header.id
                position += RecordFormat.headerBytes + header.length
                continue
            }
            guard let next = nextIntactRecord(after: position, in: bytes, after: lastID) else {
                result.tailStart = position
                break
            }
            result.corruptRegions += 1
            result.corruptBytes += next - position
            position = next
        }
        return result
    }

    /// The header of an intact record starting at `offset`, or nil.
    static func intactRecord(at offset: Int, in bytes: UnsafeRawBufferPointer, after previousID: UInt64?) -> RecordFormat.Header? {
        guard offset >= 0, bytes.count - offset >= RecordFormat.headerBytes else { return nil }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + RecordFormat.headerBytes)])
        guard let header = RecordFormat.decodeHeader(headerBytes) else { return nil }
        let payloadStart = offset + RecordFormat.headerBytes
        guard header.length <= bytes.count - payloadStart else { return nil }
        if let previousID, header.id <= previousID { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<(payloadStart + header.length)])
        guard RecordFormat.checksum(header: headerBytes, payload: payload) == header.crc else { return nil }
        return header
    }

    /// The first offset after `start` that holds an intact record, found by jumping between occurrences of the first
    /// magic byte with `memchr`.
    static func nextIntactRecord(after start: Int, in bytes: UnsafeRawBufferPointer, after previousID: UInt64?) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var candidate = start + 1
        while bytes.count - candidate >= RecordFormat.headerBytes {
            guard let found = memchr(base + candidate, Int32(RecordFormat.magic0), bytes.count - candidate) else { return nil }
            let offset = base.distance(to: UnsafeRawPointer(found))
            if intactRecord(at: offset, in: bytes, after: previousID) != nil {
                return offset
            }
            candidate = offset + 1
        }
        return nil
    }
}
