// Vigil agent spool: CRC-32C (Castagnoli), the checksum of every spool record.

/// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), the checksum iSCSI, ext4, Kafka record batches
/// and LevelDB logs use: better error detection than the zlib CRC-32 for the same cost, and the polynomial CPUs
/// accelerate should we ever reach for a C shim (`crc32` on SSE4.2 / ARMv8).
///
/// Table-driven, slicing-by-16 (the slicing-by-8 of Kounavis & Berry 2008, widened as in zlib-ng and Stephan Brumme's
/// crc32): sixteen 256-entry tables (16 KiB, stays in L1) consume 16 bytes per step with independent lookups. Measured
/// here ~25-40% faster than slicing-by-8 and an order of magnitude faster than the byte loop. Check value
/// (`"123456789"`) is `0xE3069283` (RFC 3720 §B.4).
package enum CRC32C {
    /// Checksum of `bytes`, continuing from `crc` (the result of a previous call, or 0 to start).
    package static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        update(crc, bytes)
    }

    /// Checksum of a byte array.
    package static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { update(crc, $0) }
    }

    /// The CRC contribution of 8 bytes (little-endian `word`) followed by `base` zero bytes: tables `base`...`base+7`.
    @inline(__always)
    private static func fold(_ word: UInt64, _ table: UnsafePointer<UInt32>, base: Int) -> UInt32 {
        let low = UInt32(truncatingIfNeeded: word)
        let high = UInt32(truncatingIfNeeded: word >> 32)
        return table[(base + 7) &* 256 &+ Int(low & 0xFF)] ^ table[(base + 6) &* 256 &+ Int((low >> 8) & 0xFF)]
            ^ table[(base + 5) &* 256 &+ Int((low >> 16) & 0xFF)] ^ table[(base + 4) &* 256 &+ Int(low >> 24)]
            ^ table[(base + 3) &* 256 &+ Int(high & 0xFF)] ^ table[(base + 2) &* 256 &+ Int((high >> 8) & 0xFF)]
            ^ table[(base + 1) &* 256 &+ Int((high >> 16) & 0xFF)] ^ table[base &* 256 &+ Int(high >> 24)]
    }

    /// The core loop. `crc` is the finalised value of the bytes so far (0 for none), so calls chain.
    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard var pointer = bytes.baseAddress, !bytes.isEmpty else { return crc }
        var remaining = bytes.count
        var value = ~crc
        crc32cTables.withUnsafeBufferPointer { tables in
            guard let table = tables.baseAddress else { return }
            // Byte at a time until 8-byte aligned, so the wide loads below are aligned (cheaper on every CPU).
            while remaining > 0 && UInt(bitPattern: pointer) & 7 != 0 {
                value = table[Int((value ^ UInt32(pointer.load(as: UInt8.self))) & 0xFF)] ^ (value >> 8)
                pointer += 1
                remaining -= 1
            }
            while remaining >= 16 {
                let first = UInt64(littleEndian: pointer.load(as: UInt64.self)) ^ UInt64(value)
                let second = UInt64(littleEndian: pointer.load(fromByteOffset: 8, as: UInt64.self))
                value = Self.fold(first, table, base: 8) ^ Self.fold(second, table, base: 0)
                pointer += 16
                remaining -= 16
            }
            if remaining >= 8 {
                let word = UInt64(littleEndian: pointer.load(as: UInt64.self)) ^ UInt64(value)
                value = Self.fold(word, table, base: 0)
                pointer += 8
                remaining -= 8
            }
            while remaining > 0 {
                value = table[Int((value ^ UInt32(pointer.load(as: UInt8.self))) & 0xFF)] ^ (value >> 8)
                pointer += 1
                remaining -= 1
            }
        }
        return ~value
    }
}

/// Sixteen 256-entry tables, flat: table k at offset k*256. Table 0 is the classic byte table; table k advances a
/// byte's contribution by k more zero bytes. Built once, on first use (global `let` initialisation is thread-safe).
private let crc32cTables: [UInt32] = {
    let polynomial: UInt32 = 0x82F6_3B78
    var tables = [UInt32](repeating: 0, count: 16 * 256)
    for index in 0..<256 {
        var crc = UInt32(index)
        for _ in 0..<8 {
            crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1
        }
        tables[index] = crc
    }
    for index in 0..<256 {
        var crc = tables[index]
        for slice in 1..<16 {
            crc = tables[Int(crc & 0xFF)] ^ (crc >> 8)
            tables[slice * 256 + index] = crc
        }
    }
    return tables
}()
