// Vigil agent spool: the persisted acknowledgement state.

/// What has been acknowledged, persisted in the spool directory's `ack` file so a restart does not resend records the
/// collector already has (it would dedupe them by sequence number, but resending a whole segment after every restart
/// wastes the uplink the agent was saving up for).
///
/// Format (little-endian), written to `ack.tmp` and renamed over `ack`, so a reader sees the old or the new file and
/// never a mix:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `VSAK` |
/// | 4 | 4 | version, 1 (u32) |
/// | 8 | 4 | flags (u32): bit 0 = watermark present |
/// | 12 | 8 | watermark (u64): every record id ≤ it is acknowledged |
/// | 20 | 4 | count `k` (u32) of acknowledged ids above the watermark |
/// | 24 | 8k | those ids, ascending (u64 each) |
/// | 24+8k | 4 | CRC-32C of all bytes before it |
///
/// A missing, short or corrupt file reads as "nothing acknowledged": records are sent again, which the collector's
/// dedupe absorbs. That fallback is why the ack file needs no fsync under `fsync: interval|never`.
struct AckState: Equatable {
    /// Every id ≤ watermark is done; nil when none is known.
    var watermark: UInt64?
    /// Ids above the watermark acknowledged out of order, ascending. Bounded by `maxSparseIDs` on disk.
    var sparse: [UInt64] = []

    /// At most this many out-of-order ids are persisted (32 KiB); beyond that the highest are forgotten and at worst
    /// resent after a restart. A shipper that acks in order never gets near it.
    static let maxSparseIDs = 4096
    static let fileName = "ack"
    static let temporaryFileName = "ack.tmp"
    private static let magic: [UInt8] = Array("VSAK".utf8)
    private static let version: UInt32 = 1

    func isAcknowledged(_ id: UInt64) -> Bool {
        if let watermark, id <= watermark { return true }
        return binarySearch(sparse, id)
    }

    /// The file's bytes.
    func encoded() -> [UInt8] {
        let ids = sparse.prefix(Self.maxSparseIDs)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(28 + 8 * ids.count)
        bytes.append(contentsOf: Self.magic)
        append(Self.version, to: &bytes)
        append(watermark == nil ? UInt32(0) : UInt32(1), to: &bytes)
        append(watermark ?? 0, to: &bytes)
        append(UInt32(ids.count), to: &bytes)
        for id in ids {
            append(id, to: &bytes)
        }
        append(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// Parses the file's bytes; nil for anything that is not an intact version-1 ack file.
    static func decode(_ bytes: [UInt8]) -> AckState? {
        bytes.withUnsafeBytes { raw -> AckState? in
            guard raw.count >= 28, Array(raw[0..<4]) == magic else { return nil }
            let count = Int(raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self).littleEndian)
            guard count <= maxSparseIDs, raw.count == 28 + 8 * count else { return nil }
            let crcOffset = 24 + 8 * count
            let stored = raw.loadUnaligned(fromByteOffset: crcOffset, as: UInt32.self).littleEndian
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<crcOffset])) == stored else { return nil }
            guard raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian == version else { return nil }
            let flags = raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
            var state = AckState()
            if flags & 1 == 1 {
                state.watermark = raw.loadUnaligned(fromByteOffset: 12, as: UInt64.self).littleEndian
            }
            var previous = state.watermark
            for index in 0..<count {
                let id = raw.loadUnaligned(fromByteOffset: 24 + 8 * index, as: UInt64.self).littleEndian
                // Ascending and above the watermark, or the file is not one we wrote.
                if let previous, id <= previous { return nil }
                state.sparse.append(id)
                previous = id
            }
            return state
        }
    }

    private func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Whether sorted `values` contains `value`.
func binarySearch(_ values: [UInt64], _ value: UInt64) -> Bool {
    let index = insertionIndex(values, value)
    return index < values.count && values[index] == value
}

/// Index at which `value` would be inserted into sorted `values` to keep them sorted (first index whose element is ≥).
func insertionIndex(_ values: [UInt64], _ value: UInt64) -> Int {
    var low = 0
    var high = values.count
    while low < high {
        let mid = (low + high) / 2
        if values[mid] < value {
            low = mid + 1
        } else {
            high = mid
        }
    }
    return low
}
