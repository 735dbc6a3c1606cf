/// Little-endian writing and the checksum shared by the Tier-2 model file formats (VIF1, VGB1).
struct ModelFileWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func u16(_ v: UInt16) { for k in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }

    mutating func u32(_ v: UInt32) { for k in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }

    /// Counts and small configuration integers; callers keep them in range (validated configuration, Int32 indices).
    mutating func u32(_ v: Int) { u32(UInt32(truncatingIfNeeded: v)) }

    mutating func u64(_ v: UInt64) { for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }

    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }

    mutating func f64(_ v: Double) { u64(v.bitPattern) }
}

/// CRC-32 as in zlib and PNG (reflected polynomial 0xEDB88320): the last four bytes of every model file.
func modelFileCRC32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return crc ^ 0xFFFF_FFFF
}

private let crcTable: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}
