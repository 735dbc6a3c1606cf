// Vigil agent spool: the on-disk format of segment files and records.

/// The on-disk format, version 1. All integers are little-endian.
///
/// **Directory.** `<20-digit zero-padded first record id>.seg` segment files (so a plain name sort is id order), the
/// `ack` file (see `AckFile`), a transient `ack.tmp`, and `lock` (held with `flock` while a `Spool` is open). Other
/// names are ignored and left alone.
///
/// **Segment.** Records back to back, nothing else: no file header, so a segment is valid at every record boundary and
/// appending is one `writev`. Only the newest segment is ever appended to; a segment is deleted whole once every record
/// in it is acknowledged (or, under `whenFull: dropOldest`, when it is the oldest and space is needed).
///
/// **Record** (28-byte header + payload):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 3 | magic `8E 56 53` |
/// | 3 | 1 | format version, `01` |
/// | 4 | 4 | payload length `n` (u32) |
/// | 8 | 4 | CRC-32C of bytes 4..<8 followed by bytes 12..<28+n (length, id, time, payload) |
/// | 12 | 8 | record id (u64): the agent's batch sequence number, strictly increasing across the spool |
/// | 20 | 8 | append time, milliseconds since the Unix epoch (u64), for the oldest-pending-age gauge after restarts |
/// | 28 | n | payload |
///
/// The CRC covers the length and the id, so a flipped length or id is caught like a flipped payload byte; it skips only
/// the magic (checked by value) and itself. The first magic byte is not ASCII, so text payloads rarely contain it,
/// which keeps the resync scan after a corrupt record cheap.
enum RecordFormat {
    static let magic0: UInt8 = 0x8E
    static let magic1: UInt8 = 0x56
    static let magic2: UInt8 = 0x53
    static let version: UInt8 = 1
    static let headerBytes = 28
    static let segmentSuffix = ".seg"
    static let segmentNameDigits = 20

    /// Writes the header for a record into `header` (at least `headerBytes` long) and returns nothing: the CRC is
    /// computed over the header fields and `payload` in place, without copying the payload.
    static func encodeHeader(
        into header: UnsafeMutableRawBufferPointer,
        id: UInt64,
        timestampMilliseconds: UInt64,
        payload: UnsafeRawBufferPointer
    ) {
        header[0] = magic0
        header[1] = magic1
        header[2] = magic2
        header[3] = version
        header.storeBytes(of: UInt32(truncatingIfNeeded: payload.count).littleEndian, toByteOffset: 4, as: UInt32.self)
        header.storeBytes(of: id.littleEndian, toByteOffset: 12, as: UInt64.self)
        header.storeBytes(of: timestampMilliseconds.littleEndian, toByteOffset: 20, as: UInt64.self)
        let crc = checksum(header: UnsafeRawBufferPointer(header), payload: payload)
        header.storeBytes(of: crc.littleEndian, toByteOffset: 8, as: UInt32.self)
    }

    /// The CRC a record with this header and payload must carry.
    static func checksum(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: header[4..<8]))
        crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: header[12..<28]), continuing: crc)
        return CRC32C.checksum(payload, continuing: crc)
    }

    /// A decoded header whose fields are plausible; the CRC is checked by the caller once the payload is at hand.
    struct Header {
        var length: Int
        var crc: UInt32
        var id: UInt64
        var timestampMilliseconds: UInt64
    }

    /// Decodes the header at the start of `bytes`, or nil when it is too short or the magic/version do not match.
    static func decodeHeader(_ bytes: UnsafeRawBufferPointer) -> Header? {
        guard bytes.count >= headerBytes, bytes[0] == magic0, bytes[1] == magic1, bytes[2] == magic2, bytes[3] == version
        else { return nil }
        return Header(
            length: Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))),
            crc: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
            id: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt64.self)),
            timestampMilliseconds: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt64.self))
        )
    }

    /// `00000000000000000042.seg` for 42: zero-padded to the 20 digits of `UInt64.max`, so names sort like ids.
    static func segmentFileName(baseID: UInt64) -> String {
        let digits = String(baseID)
        return String(repeating: "0", count: segmentNameDigits - digits.count) + digits + segmentSuffix
    }

    /// The base id of a segment file name, or nil for any other name (which the spool then ignores).
    static func parseSegmentFileName(_ name: String) -> UInt64? {
        let utf8 = name.utf8
        guard utf8.count == segmentNameDigits + segmentSuffix.utf8.count, name.hasSuffix(segmentSuffix) else { return nil }
        var value: UInt64 = 0
        for byte in utf8.prefix(segmentNameDigits) {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}
