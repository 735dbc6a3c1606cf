// Vigil spool crash writer: the deterministic payloads the crash test checks.
// Keep identical to Tests/SpoolTests/CrashPayload.swift: the test verifies what this process wrote.

/// The payload of record `id`: 10 B to 64 KiB (so records straddle pages and segment ends), bytes drawn from
/// SplitMix64 seeded by the id, so the test can recompute every payload without talking to the writer.
enum CrashPayload {
    static let minimumBytes = 10
    static let maximumBytes = 64 * 1024

    static func payload(for id: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: id)
        let size = minimumBytes + Int(generator.next() % UInt64(maximumBytes - minimumBytes + 1))
        var bytes = [UInt8]()
        bytes.reserveCapacity(size + 8)
        while bytes.count < size {
            withUnsafeBytes(of: generator.next().littleEndian) { bytes.append(contentsOf: $0) }
        }
        bytes.removeLast(bytes.count - size)
        return bytes
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, seedable, good enough for test data and test randomness.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
